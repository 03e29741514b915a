"""Governed data access (seed 002): datasets, grants, time-boxed sessions over them, and evidence of every access.

Owns
    datasets.py        the holder's side: datasets, uploads, grants, revocation, the access log
    sessions.py        the consumer's side: sessions, stream/filter/aggregate/transform/operations/close
    transforms.py      anonymize, mask, redact, generalize (on copies; stored records never change)
    tables.py          datasets, dataset_records, dataset_grants, access_sessions, dataset_accesses
    datasets_api.py    /datasets/...
    sessions_api.py    /sessions/...
    grants_api.py      /grants: the consumer lists and declines grants made to it

May import the shared layer (`ledger_service.config, db, errors, auth, tables,
web`), `ledger_service.query` (filters and pipelines), `xase`, and from the
evidence subsystem only its public names (`ledger_service.evidence`): every
access is recorded through `Ledger.record`.
"""

from __future__ import annotations

from flask import Flask

from ledger_service.access import datasets_api, grants_api, sessions_api
from ledger_service.access.datasets import overview
from ledger_service.access.sessions import EVIDENCE_POLICY, list_sessions

__all__ = ["EVIDENCE_POLICY", "install", "list_sessions", "overview"]


def install(app: Flask) -> None:
    """Serve this subsystem's routes from `app`."""
    app.register_blueprint(datasets_api.blueprint)
    app.register_blueprint(sessions_api.blueprint)
    app.register_blueprint(sessions_api.evidence_blueprint)
    app.register_blueprint(grants_api.blueprint)
