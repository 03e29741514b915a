"""`xase verify` for the organisation's log (evidence format v2, docs/evidence-format.md section 8).

    xase verify record.tlog-proof --log-key VKEY            # a C2SP tlog-proof, offline
    xase verify receipt.json --checkpoint held.note --consistency proof.json
    xase verify receipt.json --checkpoint held.note --log LOG_URL   # the consistency proof fetched
    xase verify --log LOG_URL                                    # the log still extends what this machine saw
    xase monitor --log LOG_URL [--log ...] [--witness VKEY --quorum K] [--webhook URL] [--every 60]

`--log-key` takes a vkey (`GET /log/keys`) or a file of them; `--key PEM` also lets the checkpoint's ECDSA line
speak. LOG_URL is `<ledger>/api/xase/v1/log` (with XASE_API_KEY) or, for a log its organisation opened,
`<ledger>/api/xase/v1/logs/<organisation id>`. The last checkpoint seen of each log is kept in
XASE_CHECKPOINT_STORE (default ~/.xase/checkpoints.json).
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from xase import evidence, note, tlogproof
from xase.log_monitor import CheckpointStore, LogMonitor, LogUnavailable, LogView, check_consistent
from xase.monitor import Monitor, MonitorAlarm
from xase.wire import printable

__all__ = [
    "add_arguments",
    "add_monitor_command",
    "check_held_checkpoint",
    "check_log",
    "is_tlog_proof",
    "log_keys",
    "verify_tlog_proof_file",
    "witness_policy",
]


def add_arguments(verify: argparse.ArgumentParser) -> None:
    verify.add_argument("--log-key", action="append", default=[], metavar="VKEY", help="a log's note verifier key, or a file of them (repeatable)")
    verify.add_argument("--checkpoint", metavar="NOTE", help="a signed checkpoint you hold: the proof's must be of the same history")
    verify.add_argument("--consistency", metavar="JSON", help="the consistency proof between the two (GET /log/proof/consistency)")
    verify.add_argument("--log", metavar="URL", help="the log (…/api/xase/v1/log or …/logs/<org id>): fetch proofs; alone, check it against the last seen")
    verify.add_argument("--store", metavar="PATH", help="where the last checkpoint seen of each log is kept (default: XASE_CHECKPOINT_STORE)")
    verify.add_argument("--witness", action="append", default=[], metavar="VKEY", help="a witness's cosigner key, or a file of them (repeatable)")
    verify.add_argument("--quorum", type=int, default=None, metavar="K", help="cosignatures by the witnesses given that must be valid (default: all)")


def is_tlog_proof(path: str) -> bool:
    with open(path, "rb") as handle:
        return handle.read(len(tlogproof.HEADER)) == tlogproof.HEADER.encode()


def _vkeys(values: Sequence[str]) -> list[str]:
    """Each value a vkey, or a file of them (one a line)."""
    keys: list[str] = []
    for value in values:
        keys += Path(value).read_text(encoding="utf-8").split() if Path(value).is_file() else [value]
    return keys


def log_keys(args: argparse.Namespace) -> Optional[list[str]]:
    """The vkeys given with --log-key; None when none was."""
    return _vkeys(args.log_key) or None


def witness_policy(args: argparse.Namespace) -> tuple[list[str], int]:
    """The witnesses given with --witness and the quorum (--quorum, else every witness given)."""
    witnesses = _vkeys(args.witness)
    quorum = len(witnesses) if args.quorum is None else args.quorum
    if quorum > len(witnesses):
        raise ValueError(f"--quorum {quorum}: only {len(witnesses)} witnesses given (--witness VKEY)")
    return witnesses, quorum


def _verifiers(origin: str, vkeys: Optional[Sequence[str]], pems: Sequence[str]) -> list[note.Verifier]:
    return [*(note.parse_vkey(vkey) for vkey in vkeys or ()), *(note.ecdsa_verifier(origin, evidence.load_public_key(pem)) for pem in pems)]


def _origin(signed: str) -> str:
    return note.parse_checkpoint(note.split_note(signed)[0]).origin


def verify_tlog_proof_file(args: argparse.Namespace, pems: Sequence[str]) -> tuple[tlogproof.LogProof, list[note.Verifier]]:
    """Check a tlog-proof file: its record (the `extra`) at its index, in a checkpoint a given key signed."""
    proof = tlogproof.parse_tlog_proof(Path(args.file).read_text(encoding="utf-8"))
    if proof.extra is None:
        raise ValueError("the proof carries no record body (its extra line): the leaf cannot be computed")
    record = evidence.loads(proof.extra)
    evidence.check_record_body(record)
    seq = record["seq"]
    if proof.index != seq:
        raise evidence.VerificationError(f"record seq {seq}", "tlog", f"index: expected the record's seq {seq}, got {proof.index}", seq=seq)
    verifiers = _verifiers(_origin(proof.checkpoint), log_keys(args), pems)
    if not verifiers:
        raise ValueError("a tlog proof carries no keys: give --log-key VKEY (GET /log/keys) or --key PEM")
    try:
        checkpoint, signers = tlogproof.verify_log_inclusion(bytes.fromhex(evidence.record_hash(record)), proof, verifiers)
    except tlogproof.TlogProofError as problem:
        raise evidence.VerificationError(f"record seq {seq}", "tlog", str(problem), seq=seq) from None
    print(printable(f"transaction_id  {record['transaction_id']}"))
    print(printable(f"tenant          {record['tenant_id']}"))
    print(printable(f"log             {checkpoint.origin}: leaf {proof.index} of {checkpoint.size}"))
    print(printable(f"signed by       {', '.join(verifier.vkey.split('+')[1] for verifier in signers)}"))
    witnesses, quorum = witness_policy(args)
    if quorum:
        try:
            cosigners = tlogproof.verify_witnesses(proof.checkpoint, [note.parse_vkey(vkey) for vkey in witnesses], quorum)
        except tlogproof.TlogProofError as problem:
            raise evidence.VerificationError(f"record seq {seq}", "witnesses", str(problem), seq=seq) from None
        print(printable(f"witnessed by    {', '.join(cosigner.name for cosigner in cosigners)} ({len(cosigners)} of {quorum} required)"))
    return proof, signers


def _consistency_proof(args: argparse.Namespace, old: int, size: int) -> list[bytes]:
    if args.consistency:
        answer: Any = evidence.loads(Path(args.consistency).read_bytes())
        if not isinstance(answer, dict) or (answer.get("old"), answer.get("size")) != (old, size) or not isinstance(answer.get("proof"), list):
            raise ValueError(f"--consistency: expected the proof from {old} to {size} (GET /log/proof/consistency?old={old}&size={size})")
        return [base64.b64decode(str(node), validate=True) for node in answer["proof"]]
    if args.log:
        monitor = LogMonitor(args.log, os.environ.get("XASE_API_KEY"), CheckpointStore(args.store))
        try:
            return monitor.consistency_proof(old, size)
        finally:
            monitor.close()
    raise ValueError("--checkpoint of another size needs --consistency JSON or --log URL to prove both are one history")


def check_held_checkpoint(args: argparse.Namespace, shown: str, verifiers: list[note.Verifier]) -> None:
    """The checkpoint a proof rests on and the one the auditor holds are of one history; VerificationError if not."""
    held = Path(args.checkpoint).read_text(encoding="utf-8")
    try:
        mine = note.parse_checkpoint(note.open_note(held, verifiers)[0])
        theirs = note.parse_checkpoint(note.open_note(shown, verifiers)[0])
    except note.NoteError as problem:
        raise evidence.VerificationError("checkpoint", "checkpoint", str(problem)) from None
    proof = [] if mine.size == theirs.size else _consistency_proof(args, min(mine.size, theirs.size), max(mine.size, theirs.size))
    try:
        check_consistent(mine, theirs, proof)
    except ValueError as problem:  # MerkleError, or two logs
        raise evidence.VerificationError("checkpoint", "consistency", f"held {mine.size} and proven {theirs.size}: {problem}") from None
    print(printable(f"checkpoint      consistent with the one held ({mine.size} records)"))


def receipt_verifiers(receipt: dict[str, Any], vkeys: Optional[Sequence[str]], pems: Sequence[str]) -> list[note.Verifier]:
    """Who may sign a receipt's checkpoint: the keys given, else the receipt's own (integrity, not origin)."""
    signed = receipt["tlog"]["checkpoint"]
    if vkeys is None and not pems:
        return _verifiers(_origin(signed), receipt["tlog"].get("vkeys") or [], [receipt["public_key"]["pem"]])
    return _verifiers(_origin(signed), vkeys, pems)


def _show(view: LogView) -> None:
    checkpoint = view.checkpoint
    if view.previous is None:
        print(printable(f"log {checkpoint.origin}: first seen at {checkpoint.size} records; keys pinned"))
    else:
        print(printable(f"log {checkpoint.origin}: {checkpoint.size} records, consistent with the {view.previous.size} seen before"))


def check_log(args: argparse.Namespace, receipt_checkpoint: Optional[str] = None) -> None:
    """Check the log at --log against the last checkpoint seen (and a receipt's checkpoint against both)."""
    monitor = LogMonitor(args.log, os.environ.get("XASE_API_KEY"), CheckpointStore(args.store), log_keys(args) or ())
    try:
        if receipt_checkpoint is not None:
            monitor.observe(receipt_checkpoint)
        _show(monitor.check())
    finally:
        monitor.close()


def _progress(origin: str, done: int, size: int) -> None:
    filled = 40 * done // max(size, 1)
    end = "\n" if done >= size else ""
    print(printable(f"\r{origin}: [{'#' * filled}{'.' * (40 - filled)}] {done}/{size} entries"), end=end, file=sys.stderr, flush=True)


def _monitor(args: argparse.Namespace) -> int:
    witnesses, quorum = witness_policy(args)
    monitor = Monitor(args.state, witnesses, quorum, args.webhook, os.environ.get("XASE_API_KEY"), _progress)
    while True:
        for url in args.log:
            try:
                synced = monitor.check(url)
            except MonitorAlarm as alarm:
                print(printable(f"ALARM {alarm}"), file=sys.stderr)
                for signed in alarm.notes:
                    for line in signed.splitlines():
                        print(printable(line), file=sys.stderr)
                return 1
            except (LogUnavailable, note.NoteError, ValueError) as problem:
                print(printable(f"cannot check {url}: {problem}"), file=sys.stderr)
                return 2
            witnessed = f", cosigned by {', '.join(synced.cosigners)}" if synced.cosigners else ""
            print(printable(f"{synced.origin}: {synced.size} entries verified ({synced.new_entries} new){witnessed}"))
        if args.every is None:
            return 0
        time.sleep(args.every)


def add_monitor_command(commands: Any) -> None:
    monitor = commands.add_parser("monitor", help="follow logs: every entry, every consistency proof, the witnesses; exit 1 on an alarm")
    monitor.add_argument("--log", action="append", required=True, metavar="URL", help="a log to follow (repeatable; two addresses of one log share a view)")
    monitor.add_argument("--state", default=str(Path.home() / ".xase" / "monitor"), metavar="DIR", help="where the verified copy is kept")
    monitor.add_argument("--witness", action="append", default=[], metavar="VKEY", help="a witness's cosigner key, or a file of them")
    monitor.add_argument("--quorum", type=int, default=None, metavar="K", help="cosignatures required of the witnesses given (default: all)")
    monitor.add_argument("--webhook", metavar="URL", help="POST each alarm there as JSON")
    monitor.add_argument("--every", type=float, default=None, metavar="SECONDS", help="check again after this long, until an alarm")
    monitor.set_defaults(handler=_monitor)
