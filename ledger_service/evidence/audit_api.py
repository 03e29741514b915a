"""Receipts, blocks, the checkpoint, public keys, full-chain verification, export and chain stats."""

from __future__ import annotations

import html
import json

from flask import Blueprint, Response, request, stream_with_context

from ledger_service.evidence import audit
from ledger_service.evidence.ledger import current_ledger
from ledger_service.web import PREFIX, json_response, principal, reading, state
from xase import evidence

blueprint = Blueprint("evidence", __name__, url_prefix=PREFIX)


def _receipt_page(receipt: dict[str, object], verdict: str) -> Response:
    pretty = html.escape(json.dumps(receipt, indent=2, ensure_ascii=False))
    page = (
        f"<!doctype html><meta charset=utf-8><title>Xase receipt</title><h1>Xase receipt</h1><p><strong>{html.escape(verdict)}</strong></p><pre>{pretty}</pre>"
    )
    return Response(page, mimetype="text/html")


@blueprint.get("/receipts/<transaction_id>")
def get_receipt(transaction_id: str) -> Response:
    caller = principal("records:read")
    with reading() as conn:
        receipt = audit.receipt(conn, caller.tenant_id, transaction_id)
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        try:
            evidence.verify_receipt(receipt, trusted_keys=[current_ledger().signer.public_pem, *_known_key_ids()])
            verdict = "Verified: record hash, inclusion proof, block hash and signature all check out."
        except evidence.VerificationError as failure:
            verdict = f"Verification FAILED at step {failure.step}: {failure}"
        return _receipt_page(receipt, verdict)
    return json_response(receipt)


def _known_key_ids() -> list[str]:
    with reading() as conn:
        return [key["key_id"] for key in audit.public_keys(conn)]


@blueprint.get("/blocks/<int(max=9223372036854775807):block_seq>")  # beyond 64 bits: 404, not an overflow
def get_block(block_seq: int) -> Response:
    caller = principal("records:read")
    with reading() as conn:
        return json_response(audit.get_block(conn, caller.tenant_id, block_seq))


@blueprint.get("/checkpoint")
def get_checkpoint() -> Response:
    caller = principal("records:read")
    with reading() as conn:
        return json_response(audit.checkpoint(conn, caller.tenant_id))


@blueprint.get("/keys")
def get_keys() -> Response:
    """Public: auditors fetch the keys without an account."""
    with reading() as conn:
        keys = audit.public_keys(conn)
    return json_response({"current_key_id": current_ledger().signer.key_id, "keys": keys})


@blueprint.get("/export")
def export() -> Response:
    caller = principal("records:read")
    lines = audit.export_lines(state().engine, caller.tenant_id)
    headers = {"Content-Disposition": f'attachment; filename="xase-export-{caller.tenant_id}.jsonl"'}
    return Response(stream_with_context(lines), mimetype="application/x-ndjson", headers=headers)


@blueprint.get("/stats")
def stats() -> Response:
    caller = principal("records:read")
    with reading() as conn:
        return json_response(audit.stats(conn, caller.tenant_id))
