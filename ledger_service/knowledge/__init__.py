"""Encrypted knowledge bases (seed 000): the server the published XTrace client works against, with evidence.

Documents arrive AES-encrypted and embeddings Paillier-encrypted by the client; the server stores
ciphertexts, answers metadata searches and computes encrypted Hamming distances without ever
decrypting, and appends a record of every retrieval and change to the organisation's chain.
Served under `/xtrace`: set both `api_url` and `admin_api_url` of `XTraceIntegration` to
`http://HOST:PORT/xtrace`.

Owns
    homomorphic.py   the server's half of encrypted Hamming distances (gmpy2), execution contexts' public part
    bases.py         knowledge bases, keys and per-base permissions, execution contexts, bindings
    chunks.py        chunks: writes, fetches, metadata searches (the shared filter compiler), distances
    retrievals.py    the evidence of each retrieval and change
    tables.py        knowledge_bases, knowledge_chunks, knowledge_contexts, knowledge_bindings,
                     knowledge_keys, knowledge_permissions
    api.py           the data plane, /xtrace/v1/chunk..., /compute_hamming, /exec_context
    admin_api.py     the admin plane, /xtrace/v1/kbs, /keys

May import the shared layer, `ledger_service.query`, `xase`, and from the evidence subsystem only
its public names (`ledger_service.evidence`): evidence is appended through `Ledger.record`.
"""

from __future__ import annotations

from flask import Flask

from ledger_service.knowledge import admin_api, api
from ledger_service.knowledge.bases import list_kbs
from ledger_service.knowledge.retrievals import CHANGE_POLICY, RETRIEVAL_POLICY

__all__ = ["ADMIN_PATHS", "CHANGE_POLICY", "RETRIEVAL_POLICY", "install", "list_kbs"]

ADMIN_PATHS = ("/xtrace/v1/kbs", "/xtrace/v1/keys")  # the admin plane: authenticated by X-Xtrace-Key


def install(app: Flask) -> None:
    """Serve this subsystem's routes from `app`."""
    app.register_blueprint(api.blueprint)
    app.register_blueprint(admin_api.blueprint)
