"""Hold a log to its word: remember the last checkpoint seen of each log, and check that every other one agrees.

A client that saw checkpoint (m, root_m) and now sees (n, root_n) asks the log for a consistency proof between
the two sizes and verifies it (RFC 9162 section 2.1.4.2). The log's current checkpoint being smaller than one
already seen is a rollback; the same size with another root, or a proof that does not hold, is a fork: the log
has shown two histories. Either raises `LogInconsistency`, which carries both signed notes: the evidence to
publish. Nothing is stored then, so the next check fails the same way.

    monitor = LogMonitor("https://ledger.example.com/api/xase/v1/log", api_key)
    seen = monitor.check()   # LogView(checkpoint=..., previous=..., signers=[...])

The store is one small JSON file (default `~/.xase/checkpoints.json`, or `XASE_CHECKPOINT_STORE`): per origin the
newest checkpoint seen and the verifier keys pinned the first time the log was seen (or those the caller gives).
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

from xase import note, tlog
from xase._version import __version__
from xase.capped_read import BodyTooLarge, read_at_most

__all__ = ["CheckpointStore", "LogInconsistency", "LogMonitor", "LogUnavailable", "LogView", "check_consistent", "default_store_path"]

Kind = Literal["rollback", "fork"]
MAX_ANSWER_BYTES = 64 * 1024  # a checkpoint, its keys, a proof: each a few KiB at most; a tile is width * 32 bytes


class LogUnavailable(Exception):
    """The log did not answer as a log does (network, status): nothing was learnt either way."""

    def __init__(self, status_code: Optional[int], message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


class LogInconsistency(Exception):
    """The log showed two histories that cannot both be true: `kind` is "rollback" or "fork"; `seen` and
    `shown` are the two signed notes (the one held before, the one served now)."""

    def __init__(self, kind: Kind, message: str, seen: str, shown: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind, self.seen, self.shown = kind, seen, shown


def check_consistent(first: note.Checkpoint, second: note.Checkpoint, proof: Sequence[bytes]) -> None:
    """That the smaller of two checkpoints of one log is a prefix of the larger, by `proof` (between their
    sizes, smaller first). Raises MerkleError when it does not hold, ValueError for two different logs."""
    if first.origin != second.origin:
        raise ValueError(f"origin: two different logs, {first.origin!r} and {second.origin!r}")
    older, newer = sorted((first, second), key=lambda checkpoint: checkpoint.size)
    tlog.verify_consistency(older.size, newer.size, older.root, newer.root, proof)


def default_store_path() -> Path:
    return Path(os.environ.get("XASE_CHECKPOINT_STORE") or Path.home() / ".xase" / "checkpoints.json")


class CheckpointStore:
    """The newest checkpoint seen per origin, and the keys pinned for it, in one JSON file written atomically."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_store_path()

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        if not isinstance(data, dict) or not isinstance(data.get("logs"), dict):
            raise ValueError(f"{self.path}: not a checkpoint store")
        return dict(data["logs"])

    def get(self, origin: str) -> tuple[Optional[str], list[str]]:
        """The stored signed note (or None) and the pinned vkeys of a log."""
        entry = self._load().get(origin) or {}
        return entry.get("checkpoint"), list(entry.get("vkeys") or [])

    def put(self, origin: str, checkpoint: str, vkeys: Sequence[str]) -> None:
        logs = self._load()
        logs[origin] = {"checkpoint": checkpoint, "vkeys": list(vkeys)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".checkpoints-")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump({"logs": logs}, out, indent=1, sort_keys=True)
        os.replace(temporary, self.path)


@dataclass(frozen=True)
class LogView:
    """What a check saw: the checkpoint now held, the one held before (None the first time), who signed."""

    checkpoint: note.Checkpoint
    previous: Optional[note.Checkpoint]
    signers: list[note.Verifier] = field(default_factory=list)
    pinned_now: bool = False  # the keys were fetched from the log and pinned by this check (trust on first use)
    signed: str = ""  # the signed note as served, with any cosignatures


class LogMonitor:
    """Checks one log against what this machine saw of it before.

    `log_url` is the log's address: `<ledger>/api/xase/v1/log` (an organisation's own, with its `api_key`) or
    `<ledger>/api/xase/v1/logs/<organisation id>` (a log its organisation opened to everyone; no key needed).
    Redirects are never followed: they would carry the key elsewhere.
    """

    def __init__(
        self, log_url: str, api_key: Optional[str] = None, store: Optional[CheckpointStore] = None, vkeys: Sequence[str] = (), timeout: float = 10.0
    ) -> None:
        """`vkeys` pin the log's keys (else those the store pinned, else the ones the log names when first seen)."""
        import requests  # the HTTP stack loads only for a monitor that talks to a log

        self._url, self._timeout = log_url.rstrip("/"), timeout
        self._session = requests.Session()
        self._session.headers["User-Agent"] = f"xase-python/{__version__}"
        if api_key:
            self._session.headers["X-API-Key"] = api_key
        self.store = store or CheckpointStore()
        self._vkeys = list(vkeys)

    def close(self) -> None:
        self._session.close()

    def _get(self, path: str, params: Optional[dict[str, int]] = None, limit: int = MAX_ANSWER_BYTES) -> bytes:
        """The body of a 200 answer, at most `limit` bytes; LogUnavailable for anything else."""
        import requests

        try:
            response = self._session.get(self._url + path, params=params, timeout=self._timeout, allow_redirects=False, stream=True)
            body = read_at_most(response, limit if response.status_code == 200 else 64 * 1024)
        except (requests.RequestException, BodyTooLarge) as failure:
            raise LogUnavailable(None, f"GET {self._url + path}: {failure}") from None
        if response.status_code != 200:
            raise LogUnavailable(response.status_code, f"GET {path}: {response.status_code} {body[:300].decode(errors='replace')}")
        return body

    def current_note(self) -> str:
        """The log's newest signed checkpoint, as served."""
        return self._get("/checkpoint").decode()

    def tile(self, level: int, index: int, width: int) -> bytes:
        """A C2SP tlog-tiles tile of the log (unverified: the caller proves it against a signed root)."""
        return self._get("/tile/" + tlog.tile_path(level, index, width), limit=width * tlog.HASH_SIZE)

    def consistency_proof(self, old: int, size: int) -> list[bytes]:
        answer = json.loads(self._get("/proof/consistency", {"old": old, "size": size}))
        return [base64.b64decode(entry, validate=True) for entry in answer["proof"]]

    def _verifiers(self, origin: str, pinned: list[str]) -> tuple[list[str], bool]:
        if self._vkeys:
            return self._vkeys, False
        if pinned:
            return pinned, False
        answer = json.loads(self._get("/keys"))
        if answer.get("origin") != origin:
            raise note.NoteError(f"log keys: name origin {answer.get('origin')!r}, the checkpoint {origin!r}")
        return [str(vkey) for vkey in answer["vkeys"]], True

    def check(self) -> LogView:
        """Fetch the current checkpoint and check it against the one held; hold it when it holds."""
        return self.observe(self.current_note(), current=True)

    def observe(self, signed: str, *, current: bool = False) -> LogView:
        """Check a checkpoint of this log (the current one, or one a receipt carries) against the one held.

        Raises NoteError when no trusted key signed it, LogInconsistency on a rollback (a current checkpoint
        smaller than one held) or a fork. A larger checkpoint replaces the one held.
        """
        origin = note.parse_checkpoint(note.split_note(signed)[0]).origin
        held, pinned = self.store.get(origin)
        vkeys, pinned_now = self._verifiers(origin, pinned)
        text, signers = note.open_note(signed, [note.parse_vkey(vkey) for vkey in vkeys])
        shown = note.parse_checkpoint(text)
        previous = note.parse_checkpoint(note.open_note(held, signers)[0]) if held is not None else None
        if previous is not None and held is not None:
            self._compare(previous, shown, held, signed, current)
        newest = held if held is not None and previous is not None and previous.size >= shown.size else signed
        if newest != held or pinned_now:
            self.store.put(origin, newest, vkeys)
        return LogView(shown, previous, signers, pinned_now, signed)

    def _compare(self, previous: note.Checkpoint, shown: note.Checkpoint, held: str, signed: str, current: bool) -> None:
        if current and shown.size < previous.size:
            raise LogInconsistency("rollback", f"the log's checkpoint is {shown.size} records, {previous.size} were seen before", held, signed)
        if shown.size == previous.size:
            proof: list[bytes] = []
        else:
            try:
                proof = self.consistency_proof(min(shown.size, previous.size), max(shown.size, previous.size))
            except LogUnavailable as failure:  # a log that cannot prove what it signed before has lost or rewritten it
                if failure.status_code == 400:
                    raise LogInconsistency("rollback", f"the log cannot prove {previous.size} records it signed before: {failure}", held, signed) from None
                raise
        try:
            check_consistent(previous, shown, proof)
        except tlog.MerkleError as failure:
            raise LogInconsistency("fork", f"checkpoints {previous.size} and {shown.size} are not of one history: {failure}", held, signed) from None
