"""GET /reports: the auditor's report on the organisation's evidence for a period (`xase.report`), attested by the
ledger's signing key, as JSON or as a page (`?format=html`, `report_page`).

The report covers the chain up to the newest checkpoint, signed for it unless one was signed within
XASE_CHECKPOINT_INTERVAL (records [0, N); `xase report` waits for a checkpoint of the whole chain before it asks).
`xase verify --report` re-derives
every verdict from an export bundle and checks the attestation, so neither the numbers nor the facts can be edited.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import Engine

from ledger_service import evidence
from ledger_service.db import read_connection
from ledger_service.errors import ValidationFailed
from ledger_service.web import PREFIX, json_body, json_response, principal, state
from xase.evidence import format_timestamp
from xase.report import Period, ReportBuilder, attestation_holds, attested_bytes

__all__ = ["blueprint", "build_report"]

MAX_GAP_SECONDS = 366 * 86_400


def build_report(engine: Engine, tenant_id: str, period: Period, gap_threshold_seconds: float) -> dict[str, Any]:
    ledger = evidence.current_ledger()
    checkpoint = ledger.checkpointer.sign(tenant_id)  # the chain as it stands, or the checkpoint signed within the interval
    signed, size, origin = checkpoint.note, checkpoint.size, checkpoint.origin
    facts = {"retention_days": state().settings.retention_days, "witnesses": [witness.verifier.vkey for witness in ledger.witnessing.witnesses],
             "witness_quorum": ledger.witness_quorum, "gap_threshold_seconds": gap_threshold_seconds,
             "log_vkeys": [verifier.vkey for verifier in ledger.checkpointer.keys.verifiers(origin)]}  # fmt: skip
    builder = ReportBuilder(period, facts)
    with read_connection(engine, snapshot=True) as conn:
        keys = evidence.bundle_keys(conn)
        for line in evidence.record_lines(conn, tenant_id, size):
            builder.add(line)
    report = {"organisation": tenant_id, "generated_at": format_timestamp(datetime.now(timezone.utc)), **builder.finish(signed, keys)}
    attested = attested_bytes(report)
    report["attestation"] = {"key_id": ledger.signer.key_id, "algorithm": ledger.signer.algorithm,
                             "signs": "SHA-256 of the RFC 8785 form of this report without its attestation",
                             "signature": ledger.signer.sign(attested, hashlib.sha256(attested).digest())}  # fmt: skip
    return report


def _period() -> Period:
    since, until = request.args.get("since"), request.args.get("until") or format_timestamp(datetime.now(timezone.utc))
    if not since:
        raise ValidationFailed("since: the period's start, ISO 8601 UTC (e.g. 2026-11-01T00:00:00Z)", {"field": "since"})
    for name, value in (("since", since), ("until", until)):
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationFailed(f"{name}: ISO 8601 UTC, e.g. 2026-11-01T00:00:00Z", {"field": name}) from None
    if not since < until:
        raise ValidationFailed("since must be before until", {"field": "since"})
    return Period(since, until)


blueprint = Blueprint("reports", __name__, url_prefix=PREFIX)


@blueprint.get("/reports")
def report() -> Response:
    """`?since=&until=[&gap_threshold_seconds=86400][&format=html]`: checks, statistics, inputs, attestation."""
    caller = principal("records:read")
    period = _period()
    raw_gap = request.args.get("gap_threshold_seconds", "86400")
    if not (raw_gap.isascii() and raw_gap.isdigit() and 0 < int(raw_gap) <= MAX_GAP_SECONDS):
        raise ValidationFailed(f"gap_threshold_seconds: 1..{MAX_GAP_SECONDS}", {"field": "gap_threshold_seconds"})
    built = build_report(state().engine, caller.tenant_id, period, float(raw_gap))
    return _page(built) if request.args.get("format") == "html" else json_response(built)


def _page(report: dict[str, Any]) -> Response:
    from ledger_service.report_page import render  # matplotlib loads only for a page

    return Response(render(report), content_type="text/html; charset=utf-8")


@blueprint.post("/reports/page")
def report_page() -> Response:
    """The page of a report this ledger attested for the caller's organisation (the JSON `GET /reports` gave):
    `xase report` keeps both, and they show the same report."""
    caller = principal("records:read")
    body = json_body()
    try:
        attestation, organisation = body["attestation"], body["organisation"]
        with read_connection(state().engine) as conn:
            pems = {key["key_id"]: key["pem"] for key in evidence.bundle_keys(conn)}
        signed = attestation_holds(body, pems[attestation["key_id"]])
    except (KeyError, TypeError, AttributeError, ValueError):
        signed = False
    if not signed or organisation != caller.tenant_id:
        raise ValidationFailed("not a report this ledger attested for your organisation (GET /reports gives one)")
    return _page(body)
