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
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from xase import note, tlog
from xase.log_monitor import CheckpointStore, LogInconsistency, LogMonitor

__all__ = ["Monitor", "MonitorAlarm", "Synced"]

W = tlog.TILE_WIDTH
H = tlog.HASH_SIZE
FETCHERS = 8  # tiles fetched at once on a first sync; they are checked and written in order


class _Copy:
    """A log's verified leaf hashes on disk (32 bytes each), and its frontier: the tree's right edge at the size
    verified, saved after the leaves. Leaves past the frontier's size (a pass that crashed or alarmed) are dropped
    when read; a copy without a frontier file (written by an older monitor) has it computed from its leaves."""

    def __init__(self, leaves: Path, frontier: Path) -> None:
        self.leaves, self._frontier_path = leaves, frontier
        held = os.path.getsize(leaves) // H if leaves.exists() else 0
        try:
            state = json.loads(frontier.read_text())
            self.frontier = tlog.Frontier(int(state["size"]), [bytes.fromhex(node) for node in state["hashes"]])
        except FileNotFoundError:
            self.frontier = self._computed(held)
        if held > self.frontier.size:
            self.truncate(self.frontier.size)
        elif held < self.frontier.size:
            raise ValueError(f"{leaves}: {held} leaves, fewer than the {self.frontier.size} its frontier says were verified")

    def _computed(self, size: int) -> tlog.Frontier:
        frontier = tlog.Frontier()
        if size:
            with open(self.leaves, "rb") as copy:
                for _ in range(size):
                    frontier.append(copy.read(H))
        return frontier

    def tail(self) -> bytes:
        """The held leaves of the tile the copy stops in."""
        if not self.leaves.exists():
            return b""
        with open(self.leaves, "rb") as copy:
            copy.seek(self.frontier.size // W * W * H)
            return copy.read((self.frontier.size % W) * H)

    def root(self, size: int) -> bytes:
        if size == self.frontier.size:
            return self.frontier.root()
        with open(self.leaves, "rb") as copy:  # a smaller size than the copy's: only when a log was reset, rare
            data = copy.read(size * H)
        return tlog.tree_hash(tlog.ListSource([data[at : at + H] for at in range(0, len(data), H)]), size)

    def truncate(self, size: int) -> None:
        if self.leaves.exists():
            with open(self.leaves, "r+b") as copy:
                copy.truncate(size * H)

    def save(self, frontier: tlog.Frontier) -> None:
        handle, temporary = tempfile.mkstemp(dir=self._frontier_path.parent, prefix=".frontier-")
        with os.fdopen(handle, "w") as out:
            json.dump({"size": frontier.size, "hashes": [node.hex() for node in frontier.hashes]}, out)
        os.replace(temporary, self._frontier_path)
        self.frontier = frontier


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
            copy = _Copy(paths["leaves"], paths["frontier"])
            before = copy.frontier.size
            if checkpoint.size > before:
                self._sync(log, checkpoint, copy, signed)
            elif copy.root(checkpoint.size) != checkpoint.root:
                raise MonitorAlarm("fork", checkpoint.origin, f"the log signed another root at {checkpoint.size} than its tiles gave before", [signed])
            cosigners = self._witnessed(checkpoint, signed, paths["witnesses"])
            return Synced(checkpoint.origin, checkpoint.size, max(0, checkpoint.size - before), cosigners)
        finally:
            log.close()

    def _paths(self, origin: str) -> dict[str, Path]:
        name = hashlib.sha256(origin.encode()).hexdigest()[:16]
        return {
            "leaves": self.state_dir / f"{name}.leaves",
            "frontier": self.state_dir / f"{name}.frontier.json",
            "witnesses": self.state_dir / f"{name}.witnesses.json",
        }

    def _sync(self, log: LogMonitor, checkpoint: note.Checkpoint, copy: _Copy, signed: str) -> None:
        """Extend the copy to the checkpoint's size from level-0 tiles, and keep it only if the leaves give the
        checkpoint's root; the part of a tile already held must come back unchanged."""
        have = copy.frontier.size
        frontier = tlog.Frontier(have, copy.frontier.hashes)
        held = copy.tail()
        first, last = have // W, (checkpoint.size + W - 1) // W
        out, fetchers = open(copy.leaves, "ab"), ThreadPoolExecutor(FETCHERS)
        try:
            tiles = fetchers.map(lambda index: log.tile(0, index, min(W, checkpoint.size - index * W)), range(first, last))
            for index, data in zip(range(first, last), tiles):
                width = min(W, checkpoint.size - index * W)
                if len(data) != width * H:
                    raise MonitorAlarm("tiles", checkpoint.origin, f"tile 0/{index} of width {width}: {len(data)} bytes", [signed])
                known = held if index == first else b""
                if data[: len(known)] != known:
                    raise MonitorAlarm("fork", checkpoint.origin, f"tile 0/{index} changed entries the monitor had verified", [signed])
                fresh = data[len(known) :]
                if len(fresh) == W * H:
                    frontier.append_subtree(tlog.perfect_root([fresh[at : at + H] for at in range(0, W * H, H)]), tlog.TILE_HEIGHT)
                else:
                    for at in range(0, len(fresh), H):
                        frontier.append(fresh[at : at + H])
                out.write(fresh)
                if self.progress is not None:
                    self.progress(checkpoint.origin, index * W + width, checkpoint.size)
            if frontier.root() != checkpoint.root:
                raise MonitorAlarm("tiles", checkpoint.origin, f"the log's tiles do not give the root it signed at {checkpoint.size}", [signed])
        except BaseException:
            out.close()  # flushed before the unverified part is cut off
            copy.truncate(have)
            raise
        finally:
            out.close()
            fetchers.shutdown(cancel_futures=True)  # after an alarm, fetch no more
        copy.save(frontier)

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
