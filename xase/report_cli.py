"""`xase report` (fetch the auditor's report, its page and the evidence it rests on) and `xase verify BUNDLE
--report REPORT` (re-derive every verdict from the bundle and check the ledger's signatures).

    xase report --since 2026-11-01T00:00:00Z [--until ...] --out report/     # report.json, report.html, evidence.jsonl
    xase verify report/evidence.jsonl --report report/report.json --key ledger.pem
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

from xase import evidence, note
from xase.bundle import verify_bundle_file
from xase.report import ReportMismatch, attestation_holds, check_report, verdicts_of
from xase.wire import printable

__all__ = ["add_report_command", "verify_report_file"]


def _record_lines(path: str) -> Iterator[dict[str, Any]]:
    with open(path, "rb") as bundle:
        for line in bundle:
            parsed = json.loads(line)
            if parsed.get("type") == "record":
                yield parsed


def _header(path: str) -> dict[str, Any]:
    with open(path, "rb") as bundle:
        return dict(json.loads(bundle.readline()))


def verify_report_file(bundle_path: str, report_path: str, trusted_pems: list[str], jobs: Optional[int] = None) -> dict[str, Any]:
    """The report, once the bundle verifies, the report names the bundle's keys, the ledger's attestation and the
    checkpoint's signature hold, and every check and number is what the bundle gives. VerificationError or
    ReportMismatch otherwise."""
    report = json.loads(Path(report_path).read_text(encoding="utf-8"))
    verify_bundle_file(bundle_path, trusted_keys=trusted_pems or None, jobs=jobs)
    keys = _header(bundle_path)["public_keys"]
    if report["inputs"]["public_keys"] != keys:
        raise ReportMismatch(["the report names other signing keys than the bundle"])
    pems = {key["key_id"]: key["pem"] for key in keys}
    attestation = report.get("attestation") or {}
    pem = pems.get(attestation.get("key_id"))
    trusted = {evidence.key_fingerprint(key) for key in trusted_pems}
    if pem is None or (trusted and evidence.key_fingerprint(pem) not in trusted):
        raise ReportMismatch(["the report is not attested by a key of the ledger" + (" you trust" if trusted else "")])
    if not attestation_holds(report, pem):
        raise ReportMismatch(["the ledger's attestation does not verify: the report was changed after it was signed"])
    note.open_note(report["inputs"]["checkpoint"], [note.parse_vkey(vkey) for vkey in report["inputs"]["facts"]["log_vkeys"]])
    check_report(report, _record_lines(bundle_path))
    return dict(report)


def _report(args: argparse.Namespace) -> int:
    from xase.client import XaseClient
    from xase.errors import XaseError

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with XaseClient(api_key=args.api_key, base_url=args.base_url, fire_and_forget=False) as client:
            report = client.get_report(args.since, args.until, gap_threshold_seconds=args.gap_threshold_seconds)
            (out / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=True) + "\n", encoding="utf-8")
            (out / "report.html").write_text(client.report_page(report), encoding="utf-8")
            client.export_bundle(out / "evidence.jsonl")
    except XaseError as error:
        print(printable(f"error: {error.code}: {error.message}"), file=sys.stderr)
        return 1
    for check in report["checks"]:
        print(printable(f"{check['verdict']:<15} {check['id']:<22} {check['article']}"))
    print(printable(f"report.json, report.html and evidence.jsonl written to {out}"))
    return 0


def add_report_command(commands: Any) -> None:
    report = commands.add_parser("report", help="the auditor's report for a period: JSON, a page, and the evidence to check it")
    report.add_argument("--since", required=True, help="the period's start, ISO 8601 UTC")
    report.add_argument("--until", help="the period's end (default: now)")
    report.add_argument("--gap-threshold-seconds", type=int, default=86_400, help="the longest silence the continuity check allows")
    report.add_argument("--out", default=".", metavar="DIR", help="where report.json, report.html and evidence.jsonl go")
    report.add_argument("--api-key", help="an API key with records:read (default: XASE_API_KEY)")
    report.add_argument("--base-url", help="the ledger's API root (default: XASE_BASE_URL)")
    report.set_defaults(handler=_report)


def print_verdicts(report: dict[str, Any]) -> None:
    verdicts = verdicts_of(report)
    failing = sorted(check for check, verdict in verdicts.items() if verdict == "fail")
    print(printable(f"report re-derived from the evidence: {len(verdicts)} checks, {len(failing)} failing {failing if failing else ''}".rstrip()))
