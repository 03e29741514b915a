"""The evidence ledger: every tenant's hash chain of decision records, sealed in signed blocks.

Owns
    intake.py         strict parsing of a client's record (seed 001 fields, commitments)
    chain.py          append to a chain and seal one signed block, in one transaction
    group_commit.py   coalesce concurrent appends of a tenant into one block
    ordering.py       a client's numbered batches chained in the order it sent them
    signing.py kms.py the Signer protocol: a local ECDSA key, or AWS KMS
    tree.py           the organisation's append-only Merkle tree, stored as hash tiles in the append's transaction
    checkpoints.py    signed checkpoints of that tree (C2SP signed notes), at most one per interval
    audit.py          reads: records, receipts, blocks, checkpoint, keys, verify, export, stats
    claims.py         the references decisions cite, resolved against the chain (claims, not integrity)
    erasure.py        erasing a stored payload (section 7) while the chain keeps verifying
    ledger.py         `Ledger`, the handle every other subsystem records its evidence through
    tables.py         chain_heads, records, blocks, signing_keys, payloads, batch_streams, log_tiles, log_checkpoints, log_keys
    records_api.py    POST/GET /records, POST /records/batch, POST /records/{id}/payload/erase
    audit_api.py      /receipts, /blocks, /checkpoint, /keys, /verify, /export, /stats
    log_api.py        /log/checkpoint, /log/tile, /log/proof/inclusion, /log/proof/consistency, /log/keys
    otlp.py otlp_api.py  POST /v1/traces: OTLP/HTTP spans in, a record per decision span (xase.otel.mapping)

May import the shared layer (`ledger_service.config, db, errors, auth, tables,
web`) and `xase`; no other subsystem.

Other subsystems use only the names below: `Ledger.record` to append their
evidence (within their own transaction for a change), `Ledger.recorded` to
replay a change under its idempotency key (`check_idempotency_key`), `receipt` to show it, `get_record` to read a
record (its body, context and payload; `find_records` to search them),
`record_lines` and `bundle_keys` to read the chain as an export bundle has it, `open_chain` when a tenant is created,
`contexts_naming` (and `latest_record_naming`) to find the records whose context names their objects, `build_trees` to build the
log trees of chains older than them (`xase-ledger db upgrade`), `log_history` and `current_ledger().witnessing.state` to show
the log's checkpoints and its witnesses.
Inside this package, modules import each other by module path, never from here.
"""

from __future__ import annotations

from flask import Flask

from ledger_service.evidence import audit_api, log_api, otlp_api, records_api
from ledger_service.evidence.audit import (
    RecordFilter,
    bundle_keys,
    contexts_naming,
    find_records,
    get_record,
    latest_record_naming,
    list_records,
    receipt,
    record_lines,
    verify_chain,
)
from ledger_service.evidence.chain import open_chain
from ledger_service.evidence.checkpoints import history as log_history
from ledger_service.evidence.claims import Claim, cited_record, unresolved_references
from ledger_service.evidence.intake import check_idempotency_key
from ledger_service.evidence.ledger import Ledger, current_ledger
from ledger_service.evidence.tree import backfill as build_trees

__all__ = [
    "Claim",
    "Ledger",
    "RecordFilter",
    "build_trees",
    "bundle_keys",
    "check_idempotency_key",
    "cited_record",
    "find_records",
    "contexts_naming",
    "current_ledger",
    "get_record",
    "install",
    "latest_record_naming",
    "list_records",
    "log_history",
    "open_chain",
    "receipt",
    "record_lines",
    "unresolved_references",
    "verify_chain",
]


def install(app: Flask, ledger: Ledger) -> None:
    """Serve this subsystem's routes from `app`, appending through `ledger`."""
    app.extensions["xase.evidence"] = ledger
    app.register_blueprint(records_api.blueprint)
    app.register_blueprint(audit_api.blueprint)
    app.register_blueprint(log_api.blueprint)
    app.register_blueprint(otlp_api.blueprint)
