"""`xase verify RECEIPT.json [--key PEM] [--context C.json [--turns T.json]]`: check a receipt or an export bundle
offline; with --turns, also the agent context history the decision was made on (xase.contexts.history).
`xase verify PROOF.tlog-proof`, `--checkpoint`, `--log URL`: the organisation's log (log_cli.py).
`xase datasets ...` and `xase grants ...`: governed data access from the shell (datasets_cli.py).

Everything printed from a receipt or bundle is escaped first: a field carrying
terminal escapes or line breaks cannot forge a line on an auditor's screen.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xase import datasets_cli, evidence, log_cli, note, report_cli
from xase.bundle import verify_bundle_file
from xase.contexts import history
from xase.log_monitor import LogInconsistency, LogUnavailable
from xase.report import ReportMismatch
from xase.segments import jobs_argument
from xase.wire import printable


def _load_receipt(path: str) -> Any:
    data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    return evidence.loads(data)


def _summary(receipt: dict[str, Any]) -> str:
    record, block = receipt["record"], receipt["block"]
    lines = [
        f"transaction_id  {record['transaction_id']}",
        f"tenant          {record['tenant_id']}",
        f"policy          {record['policy_id']} {record['policy_version'] or ''}".rstrip(),
        f"recorded_at     {record['recorded_at']}",
        f"seq             {record['seq']} ({receipt['chain_position']})",
        f"record_hash     {receipt['record_hash']}",
        f"block           {block['block_seq']} [{block['first_seq']}..{block['last_seq']}] sealed {block['sealed_at']}",
        f"signed by       {block['key_id']}",
    ]
    return "\n".join(printable(line) for line in lines)


def _trusted_pems(args: argparse.Namespace) -> list[str]:
    """The public keys given with --key."""
    return [Path(path).read_text() for path in args.key]


def _load_json(path: str) -> Any:
    return evidence.loads(Path(path).read_bytes())


def _verify_receipt_file(args: argparse.Namespace) -> int:
    receipt = _load_receipt(args.file)
    trusted = _trusted_pems(args) or None
    context = _load_json(args.context) if args.context else None
    vkeys = log_cli.log_keys(args)
    witnesses, quorum = log_cli.witness_policy(args)
    evidence.verify_receipt(receipt, trusted_keys=trusted, context=context, log_keys=vkeys, witnesses=witnesses, quorum=quorum)
    print(_summary(receipt))
    if quorum:
        print(printable(f"witnessed       by at least {quorum} of the {len(witnesses)} witnesses given"))
    if "tlog" in receipt:
        print(printable(f"log             leaf {receipt['tlog']['index']} of the signed checkpoint it carries"))
        if args.checkpoint:
            log_cli.check_held_checkpoint(args, receipt["tlog"]["checkpoint"], log_cli.receipt_verifiers(receipt, vkeys, trusted or []))
        if args.log:
            log_cli.check_log(args, receipt["tlog"]["checkpoint"])
    elif args.checkpoint or args.log:
        raise ValueError("the receipt carries no log proof (no checkpoint covered the record when it was fetched): fetch it again")
    if context is not None:
        print("context         matches the record's context_hash")
    if args.turns:
        if context is None:
            raise ValueError("--turns needs --context: the decision's context names the turn its history must reach")
        turns = _load_json(args.turns)
        head = history.verify_decision_context(context, turns["turns"] if isinstance(turns, dict) else turns)
        print(printable(f"agent context   turn {head['turn_id']} at depth {head['depth']}: its whole history verified"))
    if trusted is None:
        print("note: no --key given; the receipt's own public key was used (integrity, not origin)")
    print("receipt verified")
    return 0


def _is_bundle(path: str) -> bool:
    with open(path, "rb") as handle:
        return b'"xase-export"' in handle.readline(64 * 1024)


def _verify_tlog_proof(args: argparse.Namespace) -> int:
    pems = _trusted_pems(args)
    proof, signers = log_cli.verify_tlog_proof_file(args, pems)
    if args.checkpoint:
        log_cli.check_held_checkpoint(args, proof.checkpoint, signers)
    if args.log:
        log_cli.check_log(args, proof.checkpoint)
    print("tlog proof verified")
    return 0


def _verify(args: argparse.Namespace) -> int:
    try:
        if args.file is None:
            if not args.log:
                raise ValueError("give a receipt, bundle or tlog proof to verify, or --log URL to check a log")
            log_cli.check_log(args)
            print("log verified")
            return 0
        if args.file != "-" and log_cli.is_tlog_proof(args.file):
            return _verify_tlog_proof(args)
        if args.report:
            if args.file is None or args.file == "-" or not _is_bundle(args.file):
                raise ValueError("--report needs the export bundle it rests on: xase verify BUNDLE --report REPORT")
            report_cli.print_verdicts(report_cli.verify_report_file(args.file, args.report, _trusted_pems(args), args.jobs))
            print("report verified")
            return 0
        if args.file != "-" and _is_bundle(args.file):
            trusted = _trusted_pems(args) or None
            report = verify_bundle_file(args.file, trusted_keys=trusted, jobs=args.jobs)
            print(printable(f"tenant {report.tenant_id}: {report.records} records, {report.blocks} blocks"))
            print("bundle verified")
            return 0
        return _verify_receipt_file(args)
    except evidence.VerificationError as exc:
        where = f" (first broken seq {exc.seq})" if exc.seq is not None else ""
        print(printable(f"verification FAILED at step {exc.step}{where}: {exc}"), file=sys.stderr)
        return 1
    except LogInconsistency as exc:
        print(printable(f"LOG INCONSISTENT: {exc}"), file=sys.stderr)
        for line in ["checkpoint seen before:", *exc.seen.splitlines(), "checkpoint shown now:", *exc.shown.splitlines()]:
            print(printable(line), file=sys.stderr)
        return 1
    except note.NoteError as exc:
        print(printable(f"verification FAILED at step checkpoint: {exc}"), file=sys.stderr)
        return 1
    except ReportMismatch as exc:
        print(printable(f"report FAILED: {exc}"), file=sys.stderr)
        return 1
    except LogUnavailable as exc:
        print(printable(f"cannot read the log: {exc}"), file=sys.stderr)
        return 2
    except (OSError, evidence.InvalidJSONError, KeyError, TypeError, ValueError) as exc:
        print(printable(f"cannot read {args.file or args.log}: {exc}"), file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xase", description="Xase evidence tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="verify a receipt (JSON) or an export bundle (JSON Lines) offline")
    verify.add_argument("file", nargs="?", help="receipt.json, bundle.jsonl, a .tlog-proof, or - for a receipt on stdin")
    verify.add_argument("--key", action="append", default=[], metavar="PEM", help="trusted public key (repeatable)")
    verify.add_argument("--context", metavar="JSON", help="the decision's context as recorded: checked against the receipt's context_hash")
    verify.add_argument("--turns", metavar="JSON", help="the agent context history the context names (Client.history()): "
                                                        "every turn's bytes and hash, up to the committed turn hash")  # fmt: skip
    verify.add_argument("--jobs", type=jobs_argument, default=None, metavar="N",
                        help="processes for a bundle (default: one per core for bundles of 8 MiB or more)")  # fmt: skip
    verify.add_argument("--report", metavar="JSON", help="with a bundle: re-derive this report (xase report) from it and check its attestation")
    log_cli.add_arguments(verify)
    verify.set_defaults(handler=_verify)
    log_cli.add_monitor_command(commands)
    report_cli.add_report_command(commands)
    datasets_cli.add_commands(commands)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
