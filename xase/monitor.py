"""`xase monitor`: follow organisations' logs, keep a verified copy of every entry's leaf hash, and alarm.

For each log it checks, in order: the checkpoint's signature and its consistency with the last one seen
(`LogMonitor`: a rollback or a fork is an alarm); the log's level-0 tiles from where its copy stopped, whose
hashes must extend the copy unchanged and give exactly the checkpoint's root (every entry is then proven in the
tree the log signed); the witnesses' cosignatures against a policy (`quorum` of the `witnesses` given); and that
no witness cosigned two different roots of one size (an equivocating witness). Two addresses of one log (the
ledger and its S3 mirror) share one view: a split view between them is a fork.

The copy lives in `state_dir`: per log a file of 32-byte leaf hashes and a JSON file of what was verified.
An alarm raises `MonitorAlarm` (kind, message, the signed notes involved) and, with `webhook`, is POSTed there as
JSON (never following a redirect).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from xase import note, tlog
from xase.log_monitor import CheckpointStore, LogInconsistency, LogMonitor

__all__ = ["Monitor", "MonitorAlarm", "Synced"]

W = tlog.TILE_WIDTH
H = tlog.HASH_SIZE


class MonitorAlarm(Exception):
    """What a monitor must not stay silent about: `kind` is rollback, fork, tiles, quorum or equivocation."""

    def __init__(self, kind: str, origin: str, message: str, notes: Sequence[str] = ()) -> None:
        super().__init__(f"{kind}: {origin}: {message}")
        self.kind, self.origin, self.notes = kind, origin, list(notes)

    def as_json(self) -> dict[str, Any]:
        return {"alarm": self.kind, "origin": self.origin, "message": str(self), "notes": self.notes}


@dataclass(frozen=True)
class Synced:
    origin: str
    size: int
    new_entries: int
    cosigners: list[str]


class Monitor:
    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        witnesses: Sequence[str] = (),
        quorum: int = 0,
        webhook: Optional[str] = None,
        api_key: Optional[str] = None,
        progress: Optional[Callable[[str, int, int], None]] = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.witnesses = [note.parse_vkey(vkey) for vkey in witnesses]
        self.quorum, self.webhook, self.api_key, self.progress = quorum, webhook, api_key, progress
        self.store = CheckpointStore(self.state_dir / "checkpoints.json")

    def check(self, log_url: str) -> Synced:
        """One pass over one log; MonitorAlarm when something does not hold (after telling the webhook)."""
        try:
            return self._check(log_url)
        except LogInconsistency as inconsistency:
            origin = note.parse_checkpoint(note.split_note(inconsistency.shown)[0]).origin
            alarm = MonitorAlarm(inconsistency.kind, origin, str(inconsistency), [inconsistency.seen, inconsistency.shown])
        except MonitorAlarm as raised:
            alarm = raised
        self._tell(alarm)
        raise alarm

    def _check(self, log_url: str) -> Synced:
        log = LogMonitor(log_url, self.api_key, self.store)
        try:
            view = log.check()
            signed, checkpoint = view.signed, view.checkpoint
            paths = self._paths(checkpoint.origin)
            before = os.path.getsize(paths["leaves"]) // H if paths["leaves"].exists() else 0
            if checkpoint.size > before:
                self._sync(log, checkpoint, paths["leaves"], before)
            leaves = paths["leaves"].read_bytes()[: checkpoint.size * H]
            source = tlog.ListSource([leaves[offset : offset + H] for offset in range(0, len(leaves), H)])
            if len(leaves) // H < checkpoint.size or tlog.tree_hash(source, checkpoint.size) != checkpoint.root:
                raise MonitorAlarm("tiles", checkpoint.origin, f"the log's tiles do not give the root it signed at {checkpoint.size}", [signed])
            cosigners = self._witnessed(checkpoint, signed, paths["witnesses"])
            return Synced(checkpoint.origin, checkpoint.size, max(0, checkpoint.size - before), cosigners)
        finally:
            log.close()

    def _paths(self, origin: str) -> dict[str, Path]:
        name = hashlib.sha256(origin.encode()).hexdigest()[:16]
        return {"leaves": self.state_dir / f"{name}.leaves", "witnesses": self.state_dir / f"{name}.witnesses.json"}

    def _sync(self, log: LogMonitor, checkpoint: note.Checkpoint, path: Path, have: int) -> None:
        """Append the leaf hashes from `have` to the checkpoint's size, read from level-0 tiles; the part of a tile
        already held must come back unchanged."""
        held = b""
        if path.exists():
            with open(path, "rb") as copy:  # only the entries of the tile the copy stopped in
                copy.seek(have // W * W * H)
                held = copy.read()
        with open(path, "ab") as out:
            for index in range(have // W, (checkpoint.size + W - 1) // W):
                width = min(W, checkpoint.size - index * W)
                data = log.tile(0, index, width)
                if len(data) != width * H:
                    raise MonitorAlarm("tiles", checkpoint.origin, f"tile 0/{index} of width {width}: {len(data)} bytes")
                known = held if index == have // W else b""
                if known and data[: len(known)] != known:
                    raise MonitorAlarm("fork", checkpoint.origin, f"tile 0/{index} changed entries the monitor had verified")
                out.write(data[len(known) :])
                if self.progress is not None:
                    self.progress(checkpoint.origin, index * W + width, checkpoint.size)

    def _witnessed(self, checkpoint: note.Checkpoint, signed: str, path: Path) -> list[str]:
        """The witnesses that cosigned; MonitorAlarm below the quorum, or for a witness that cosigned another root
        of a size before."""
        try:
            _text, cosigners = note.verified_signers(signed, self.witnesses)
        except note.NoteError as problem:
            raise MonitorAlarm("quorum", checkpoint.origin, str(problem), [signed]) from None
        seen: dict[str, dict[str, str]] = json.loads(path.read_text()) if path.exists() else {}
        for cosigner in cosigners:
            roots = seen.setdefault(cosigner.vkey, {})
            root = roots.setdefault(str(checkpoint.size), checkpoint.root.hex())
            if root != checkpoint.root.hex():
                raise MonitorAlarm("equivocation", checkpoint.origin, f"{cosigner.name} cosigned two roots of size {checkpoint.size}", [signed])
        path.write_text(json.dumps(seen))
        if len(cosigners) < self.quorum:
            raise MonitorAlarm("quorum", checkpoint.origin, f"{len(cosigners)} of the {self.quorum} cosignatures required", [signed])
        return [cosigner.name for cosigner in cosigners]

    def _tell(self, alarm: MonitorAlarm) -> None:
        if not self.webhook:
            return
        import requests

        try:
            requests.post(self.webhook, json=alarm.as_json(), timeout=10, allow_redirects=False)
        except requests.RequestException as failure:
            print(f"xase monitor: the webhook could not be told: {failure}", file=sys.stderr)
