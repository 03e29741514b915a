"""The agent context store (seed 003, CXDB's HTTP API) with tamper-evident history, served under /cxdb.

Contexts are head pointers into a DAG of turns; a turn's payload is stored once per tenant as msgpack
(numeric tags from the type registry when it describes the type), zstd-compressed above a threshold and
addressed by BLAKE3. Each turn's hash commits to its parent's (xase.contexts.history), heads are sealed
into the tenant's evidence chain, and a decision record can commit to the exact history it was made on.

Owns
    tables.py     cxdb_counters, cxdb_contexts, cxdb_turns, cxdb_blobs, cxdb_registry_bundles/types/enums
    registry.py   type bundles: checks (422), evolution rules (409), descriptors and enums
    codec.py      JSON -> msgpack with tags, msgpack -> typed JSON with the seed's render options, zstd
    counters.py   the per-tenant row every write locks: ids, blob totals
    store.py      contexts, forks, appends, history walks, blobs, stats
    sealing.py    heads sealed into the chain; verify_tenant, the tamper check of `xase-ledger verify`
    api.py        /cxdb/health and /cxdb/v1/...

May import the shared layer, `xase`, and from the evidence subsystem only its public names.
"""

from __future__ import annotations

from flask import Flask

from ledger_service.contexts import api
from ledger_service.contexts.sealing import SEAL_POLICY, SEAL_PREFIX, IntegrityReport, seal_heads, seal_state, verify_tenant
from ledger_service.contexts.store import turn_reference_problem

__all__ = ["install", "seal_heads", "seal_state", "turn_reference_problem", "verify_tenant", "IntegrityReport", "SEAL_POLICY", "SEAL_PREFIX"]


def install(app: Flask) -> None:
    """Serve this subsystem's routes from `app`, with their own rate limit when one is configured."""
    settings = app.extensions["xase"].settings
    if settings.cxdb_rate_limit:
        app.extensions["xase_limiter"].limit(settings.cxdb_rate_limit)(api.blueprint)
    app.register_blueprint(api.blueprint)
