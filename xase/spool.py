"""A durable spool: records written to disk before record() returns, forgotten only once acknowledged.

One append-only log per spool directory, of framed entries:

    0xA5 | kind (b"R" record, b"A" acknowledgement) | length (4 bytes, big-endian) | CRC-32 (4 bytes) | body

A record's body is canonical JSON `{"k": idempotency_key, "p": payload}`; an
acknowledgement's body is a JSON list of keys. Opening the spool replays the
records no acknowledgement names, in the order they were written. Only their
keys and offsets stay in memory: a long outage fills the disk, not the heap. A torn or
corrupt tail (a crash mid-write, a bad disk block) is detected by its frame or
checksum, logged and cut off: everything before it is kept, nothing raises.
When most entries are acknowledged the log is rewritten (write, fsync, rename),
so it never grows without bound. An exclusive lock keeps two processes (or a
forked child) from sharing one spool.

`fsync`: "always" (every append is on disk before record() returns), "batch"
(the worker syncs once per delivered batch; a crash can lose what was written
since the last sync, never corrupt what came before), or "off" (the OS decides).
"""

from __future__ import annotations

import json
import logging
import os
import struct
import threading
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, Optional

from xase.errors import XaseError

__all__ = ["Spool", "FsyncPolicy"]

log = logging.getLogger("xase")

FsyncPolicy = Literal["always", "batch", "off"]
_MAGIC = 0xA5
_HEADER = struct.Struct(">BcII")  # magic, kind, length, crc32
_MAX_BODY = 64 * 1024 * 1024
LOG_NAME = "spool.log"


def _encode(entry: dict[str, Any]) -> bytes:
    # Exact, not canonical: the spool only has to give the payload back as it was.
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


class Spool:
    def __init__(self, directory: str | os.PathLike[str], fsync: FsyncPolicy = "batch", compact_after: int = 10_000) -> None:
        if fsync not in ("always", "batch", "off"):
            raise XaseError("VALIDATION_ERROR", f"spool fsync policy must be 'always', 'batch' or 'off', got {fsync!r}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._compact_after = compact_after
        self._lock = threading.Lock()
        self._lock_file = self._take_ownership()
        self._pending: dict[str, tuple[int, int]] = {}  # key -> (body offset, body length); insertion-ordered
        self._acknowledged = 0
        self.cut_bytes = self._recover()
        self._open_log()

    def _open_log(self) -> None:
        self._file = open(self.path, "ab")
        self._reader = open(self.path, "rb")
        self._size = self._file.tell()

    @property
    def path(self) -> Path:
        return self.directory / LOG_NAME

    def _take_ownership(self) -> Any:
        try:
            import fcntl
        except ImportError:  # not POSIX: no cross-process lock, so keep one spool_path per process
            log.warning("xase: cannot lock spool %s on this platform; use one spool_path per process", self.directory)
            return None
        handle = open(self.directory / "spool.lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise XaseError("VALIDATION_ERROR", f"spool {self.directory} is in use by another process; give each process its own spool_path") from None
        return handle

    # ---------------------------------------------------------------- reading back

    def _recover(self) -> int:
        """Replay the log; cut a torn or corrupt tail. Returns how many bytes were cut."""
        if not self.path.exists():
            return 0
        data = self.path.read_bytes()
        offset = 0
        while offset < len(data):
            entry = self._frame_at(data, offset)
            if entry is None:
                break
            kind, body_offset, offset = entry
            self._apply(kind, data[body_offset:offset], body_offset)
        cut = len(data) - offset
        if cut:
            log.warning("xase: spool %s: cut %d corrupt or torn bytes at offset %d; %d record(s) pending", self.path, cut, offset, len(self._pending))
            with open(self.path, "r+b") as handle:
                handle.truncate(offset)
                handle.flush()
                os.fsync(handle.fileno())
        return cut

    @staticmethod
    def _frame_at(data: bytes, offset: int) -> Optional[tuple[bytes, int, int]]:
        """(kind, body offset, next frame's offset) of a whole, intact frame at `offset`, else None."""
        end = offset + _HEADER.size
        if end > len(data):
            return None
        magic, kind, length, crc = _HEADER.unpack_from(data, offset)
        if magic != _MAGIC or kind not in (b"R", b"A") or length > _MAX_BODY or end + length > len(data):
            return None
        if zlib.crc32(data[end : end + length]) != crc:
            return None
        return kind, end, end + length

    def _apply(self, kind: bytes, body: bytes, body_offset: int) -> None:
        try:
            value = json.loads(body)
        except ValueError:
            return  # a checksummed but unreadable body: skip it, keep going
        if kind == b"R" and isinstance(value, dict) and isinstance(value.get("k"), str) and isinstance(value.get("p"), dict):
            self._pending[value["k"]] = (body_offset, len(body))
        elif kind == b"A" and isinstance(value, list):
            for key in value:
                if self._pending.pop(key, None) is not None:
                    self._acknowledged += 1

    def keys(self) -> list[str]:
        """Keys of the records written and not yet acknowledged, oldest first."""
        with self._lock:
            return list(self._pending)

    def read(self, key: str) -> Optional[dict[str, Any]]:
        """The payload spooled under `key`, or None once it is acknowledged."""
        with self._lock:
            place = self._pending.get(key)
            if place is None or self._reader.closed:
                return None
            self._reader.seek(place[0])
            body = self._reader.read(place[1])
        payload: dict[str, Any] = json.loads(body)["p"]
        return payload

    def pending(self) -> list[tuple[str, dict[str, Any]]]:
        """Records written and not yet acknowledged, oldest first, read back from disk."""
        return [(key, payload) for key in self.keys() if (payload := self.read(key)) is not None]

    def __len__(self) -> int:
        return len(self._pending)

    # ---------------------------------------------------------------- writing

    def _write(self, kind: bytes, body: bytes) -> int:
        """Append one frame; returns the offset of its body."""
        self._file.write(_HEADER.pack(_MAGIC, kind, len(body), zlib.crc32(body)) + body)
        self._file.flush()  # into the OS before record() returns, whatever the fsync policy
        if self.fsync == "always":
            os.fsync(self._file.fileno())
        body_offset = self._size + _HEADER.size
        self._size = body_offset + len(body)
        return body_offset

    def append(self, key: str, payload: dict[str, Any]) -> None:
        """Write one record; raises ValueError or TypeError for payloads JSON cannot carry."""
        body = _encode({"k": key, "p": payload})
        with self._lock:
            self._pending[key] = (self._write(b"R", body), len(body))

    def ack(self, keys: Iterable[str]) -> None:
        """Forget records the ledger acknowledged (or rejected for good)."""
        with self._lock:
            if self._file.closed:
                return
            known = [key for key in keys if key in self._pending]
            if not known:
                return
            self._write(b"A", json.dumps(known).encode("utf-8"))
            for key in known:
                del self._pending[key]
            self._acknowledged += len(known)
            if self._acknowledged >= self._compact_after and self._acknowledged > len(self._pending):
                self._compact()

    def sync(self) -> None:
        """fsync now (the worker calls this once per batch under the "batch" policy)."""
        if self.fsync != "off":
            with self._lock:
                descriptor = None if self._file.closed else os.dup(self._file.fileno())
            if descriptor is not None:  # outside the lock: appends go on while the disk catches up
                try:
                    os.fsync(descriptor)
                finally:
                    os.close(descriptor)

    def _compact(self) -> None:
        """Rewrite the log with only the pending records: write, fsync, then atomically replace."""
        temporary = self.directory / (LOG_NAME + ".compact")
        moved: dict[str, tuple[int, int]] = {}
        with open(temporary, "wb") as handle:
            for key, (offset, length) in self._pending.items():
                self._reader.seek(offset)
                body = self._reader.read(length)  # the frame is copied as written, checksum and all
                handle.write(_HEADER.pack(_MAGIC, b"R", length, zlib.crc32(body)))
                moved[key] = (handle.tell(), length)
                handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        self._file.close()
        self._reader.close()
        os.replace(temporary, self.path)
        self._pending = moved
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)  # make the rename itself durable
        finally:
            os.close(directory)
        self._open_log()
        self._acknowledged = 0

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.flush()
                if self.fsync != "off":
                    os.fsync(self._file.fileno())
                self._file.close()
                self._reader.close()
            if self._lock_file is not None and not self._lock_file.closed:
                self._lock_file.close()  # closing releases the flock
