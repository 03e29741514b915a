"""The Xase ledger service: one process serving each subsystem's routes over one database.

Layers, imports pointing down only:

    app.py cli.py serving.py    composition: build the app / CLI from the parts below
    health.py admin_api.py      service-wide routes: GET /health; /admin (tenants, API keys)
    tenants.py schema.py        provisioning a tenant in every subsystem; every table for Alembic

    evidence/                   the evidence ledger: chains, signed blocks, receipts (seed 001)
    access/                     governed data access: datasets, grants, sessions (seed 002)
    query/                      the MongoDB-style filter and pipeline engine (shared)

    config.py db.py errors.py   the shared layer every subsystem may import
    auth.py tables.py web.py metrics.py
    migrations/                 Alembic: one history for every subsystem's tables

A subsystem imports the shared layer, `ledger_service.query` and `xase`; it
reaches another subsystem only through that package's `__init__` (everything
records its evidence through `ledger_service.evidence.Ledger.record`).
"""

from xase import __version__

__all__ = ["__version__"]
