"""Work the ledger does after a checkpoint, off the append path: one thread, each job once when due, a failed job
again after a backoff that doubles up to a minute. A job asked for while it waits is done once. Started on first
use, and again in a forked child (a gunicorn worker), which does not inherit threads."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Hashable
from typing import Optional

__all__ = ["BackgroundJobs"]

log = logging.getLogger(__name__)
MAX_BACKOFF = 60.0


class BackgroundJobs:
    """`run(key)` for each key notified, in a thread of its own; a raising job is retried with backoff."""

    def __init__(self, name: str, run: Callable[[Hashable], object]) -> None:
        self._name, self._run_job = name, run
        self._wake = threading.Condition()
        self._due: dict[Hashable, float] = {}  # key -> monotonic time its next attempt may start
        self.failures: dict[Hashable, int] = {}  # key -> failures in a row
        self._thread: Optional[threading.Thread] = None
        self._pid = 0

    def notify(self, key: Hashable, delay: float = 0.0) -> None:
        """Do the job for `key` (after `delay` seconds at the earliest, or sooner if already due). Never blocks."""
        with self._wake:
            due = time.monotonic() + delay
            self._due[key] = min(self._due.get(key, due), due)
            if self._thread is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            self._wake.notify()

    def _next(self) -> Hashable:
        with self._wake:
            while True:
                now = time.monotonic()
                ready = [key for key, due in self._due.items() if due <= now]
                if ready:
                    del self._due[ready[0]]
                    return ready[0]
                self._wake.wait(min(self._due.values()) - now if self._due else None)

    def _loop(self) -> None:
        while True:
            key = self._next()
            try:
                self._run_job(key)
                self.failures.pop(key, None)
            except Exception as failure:  # never lose the wish: try again later
                count = self.failures[key] = self.failures.get(key, 0) + 1
                delay = min(MAX_BACKOFF, 0.5 * 2 ** min(count, 10))
                log.warning("%s for %s failed (%s); again in %.1f s", self._name, key, failure, delay)
                self.notify(key, delay)
