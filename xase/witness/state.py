"""What a witness remembers: for each log (by origin), the size, root and note of the last checkpoint it cosigned.

`advance` reads that row, checks the new checkpoint against it and writes it in one SQLite transaction begun with
`BEGIN IMMEDIATE`, so that two requests can never both pass the check against the same old size (the race the
protocol warns of), and a crash leaves either the old row or the new one, never a cosignature for a size it did
not store: the row is committed before the cosignature leaves.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

__all__ = ["Conflict", "Seen", "WitnessState"]


@dataclass(frozen=True)
class Seen:
    """The last checkpoint a witness cosigned for a log."""

    size: int
    root: bytes
    note: str


class Conflict(Exception):
    """The request's old size is not the size last cosigned (`size`)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the last checkpoint cosigned has {size} leaves")
        self.size = size


class WitnessState:
    """One SQLite file; safe to share between the server's threads."""

    def __init__(self, path: str | Path) -> None:
        self._connection = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=FULL")  # a cosigned size must survive a power cut
        self._connection.execute("CREATE TABLE IF NOT EXISTS logs (origin TEXT PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL, note TEXT NOT NULL)")
        self._lock = threading.Lock()

    def close(self) -> None:
        self._connection.close()

    def seen(self, origin: str) -> Optional[Seen]:
        with self._lock:
            row = self._connection.execute("SELECT size, root, note FROM logs WHERE origin = ?", (origin,)).fetchone()
        return None if row is None else Seen(int(row[0]), bytes(row[1]), str(row[2]))

    def advance(self, origin: str, old: int, new: Seen, check: Callable[[Optional[Seen]], None]) -> None:
        """Store `new` for `origin` if the stored size is `old` (none stored: 0) and `check(stored)` passes; else
        raise Conflict, or what `check` raised. Atomic: check and write in one transaction."""
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                row = self._connection.execute("SELECT size, root, note FROM logs WHERE origin = ?", (origin,)).fetchone()
                stored = None if row is None else Seen(int(row[0]), bytes(row[1]), str(row[2]))
                if (stored.size if stored else 0) != old:
                    raise Conflict(stored.size if stored else 0)
                check(stored)
                self._connection.execute(
                    "INSERT INTO logs (origin, size, root, note) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, note = excluded.note",
                    (origin, new.size, new.root, new.note),
                )
                self._connection.execute("COMMIT")
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
