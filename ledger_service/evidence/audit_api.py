"""Receipts, blocks, the checkpoint, public keys, full-chain verification, export and chain stats."""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import math
from typing import Any, Optional

from flask import Blueprint, Response, request, stream_with_context

from ledger_service.errors import CheckpointPending, ValidationFailed
from ledger_service.evidence import audit, checkpoints, tree
from ledger_service.evidence.ledger import current_ledger
from ledger_service.web import PREFIX, json_response, principal, reading, state
from xase import evidence, tlog, tlogproof

blueprint = Blueprint("evidence", __name__, url_prefix=PREFIX)


def _receipt_page(receipt: dict[str, object], verdict: str) -> Response:
    pretty = html.escape(json.dumps(receipt, indent=2, ensure_ascii=False))
    page = (
        f"<!doctype html><meta charset=utf-8><title>Xase receipt</title><h1>Xase receipt</h1><p><strong>{html.escape(verdict)}</strong></p><pre>{pretty}</pre>"
    )
    return Response(page, mimetype="text/html")


def _log_proof(tenant_id: str, seq: int, witnessed: bool) -> Optional[tuple[tlogproof.LogProof, str]]:
    """The record's inclusion proof in the newest checkpoint (`witnessed`: the newest the witness quorum cosigned),
    and the log's origin, if such a checkpoint covers it yet."""
    ledger = current_ledger()
    if witnessed:
        with reading() as conn:
            found = checkpoints.witnessed(conn, tenant_id, ledger.witness_quorum, beyond=seq)
        if found is None:
            return None
        signed = found
    else:
        signed = ledger.checkpointer.current(tenant_id)
    if signed.size <= seq:
        return None
    with reading() as conn:
        reader = tree.TreeReader(conn, tenant_id, signed.size, ledger.tiles)
        return tlogproof.LogProof(seq, tlog.inclusion_proof(reader, seq, signed.size), signed.note), signed.origin


def _log_member(proof: tlogproof.LogProof, origin: str) -> dict[str, Any]:
    """A receipt's `tlog` member: index, inclusion proof, the checkpoint, and the vkeys that sign the log."""
    vkeys = [verifier.vkey for verifier in current_ledger().checkpointer.keys.verifiers(origin)]
    nodes = [base64.b64encode(node).decode() for node in proof.proof]
    return {"index": proof.index, "inclusion_proof": nodes, "checkpoint": proof.checkpoint, "vkeys": vkeys}


def _tlog_proof_text(receipt: dict[str, Any], proof: Optional[tuple[tlogproof.LogProof, str]]) -> Response:
    """C2SP tlog-proof@v1, the record's body (RFC 8785) as `extra`; a 503 until a checkpoint covers the record."""
    if proof is None:
        interval = current_ledger().checkpointer.interval
        raise CheckpointPending("no signed checkpoint covers this record yet; one is signed within the checkpoint interval",
                                math.ceil(interval), {"retry_after": math.ceil(interval)})  # fmt: skip
    text = tlogproof.format_tlog_proof(dataclasses.replace(proof[0], extra=evidence.canonicalize(receipt["record"])))
    return Response(text, mimetype="text/plain", headers={"Content-Disposition": f'inline; filename="{receipt["record"]["seq"]}.tlog-proof"'})


@blueprint.get("/receipts/<transaction_id>")
def get_receipt(transaction_id: str) -> Response:
    """The receipt as JSON (with the record's place in the organisation's log once a checkpoint covers it), as an
    HTML page verified on the server, or with `format=tlog-proof` as a C2SP tlog-proof."""
    caller = principal("records:read")
    wanted = request.args.get("format", "json")
    if wanted not in ("json", "tlog-proof"):
        raise ValidationFailed(f"format: expected json or tlog-proof, got {wanted[:40]!r}", {"field": "format"})
    asked = request.args.get("witnessed", "false")
    if asked not in ("true", "false"):
        raise ValidationFailed(f"witnessed: expected true or false, got {asked[:40]!r}", {"field": "witnessed"})
    witnessed = asked == "true"
    if witnessed and not current_ledger().witness_quorum:
        raise ValidationFailed("witnessed: this ledger has no witnesses (XASE_WITNESSES)", {"field": "witnessed"})
    with reading() as conn:
        receipt = audit.receipt(conn, caller.tenant_id, transaction_id)
    proof = _log_proof(caller.tenant_id, receipt["record"]["seq"], witnessed)
    if proof is None and witnessed:
        raise CheckpointPending("no checkpoint the witnesses cosigned covers this record yet", 1, {"retry_after": 1})
    if wanted == "tlog-proof":
        return _tlog_proof_text(receipt, proof)
    if proof is not None:
        receipt["tlog"] = _log_member(*proof)
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        try:
            log_keys = receipt["tlog"]["vkeys"] if "tlog" in receipt else None
            evidence.verify_receipt(receipt, trusted_keys=[current_ledger().signer.public_pem, *_known_key_ids()], log_keys=log_keys)
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
