"""CPU-heavy work off the request threads: a pool of low-priority processes, one per core, per server process.

Python runs one thread of a process at a time: a request that spends a second of CPU on one thread (an encrypted
search, rendering a page of large turns, encoding a batch of typed turns) makes every other request its process
serves wait for the interpreter. Such work runs here instead, in processes spawned once per server process (never
forked from a request thread) at the lowest scheduling priority, so that the operating system serves the light
requests of every other tenant first. A tenant has at most `MAX_HEAVY_PER_TENANT` such requests running in a
process; one more is a 429. A worker reaches the database through its own engine, made once from `Database`.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Optional, TypeVar

from sqlalchemy import Engine

from ledger_service.config import Settings
from ledger_service.db import make_engine
from ledger_service.errors import LedgerError, RateLimited

__all__ = ["MAX_HEAVY_PER_TENANT", "Database", "admitted", "engine_for", "pool", "run", "run_to_file"]

MAX_HEAVY_PER_TENANT = 2  # per server process
T = TypeVar("T")

_lock = threading.Lock()
_pool: Optional[ProcessPoolExecutor] = None
_pool_pid = 0
_running: dict[str, int] = {}
_engines: dict[Database, Engine] = {}


@dataclass(frozen=True)
class Database:
    """How a worker process opens the ledger's database (what `make_engine` needs)."""

    url: str
    sqlite_synchronous: str
    statement_timeout_ms: int

    @classmethod
    def of(cls, settings: Settings) -> Database:
        return cls(settings.database_url, settings.sqlite_synchronous, settings.statement_timeout_ms)


def _lowest_priority() -> None:
    """SCHED_IDLE where the OS has it (Linux): the worker runs only on a core no other process wants, and a request
    thread that wakes takes the core at once. Elsewhere the lowest nice value."""
    if hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    else:
        os.nice(19)


def pool() -> ProcessPoolExecutor:
    """This server process's pool (a gunicorn worker forked after a pool existed gets its own)."""
    global _pool, _pool_pid
    with _lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = ProcessPoolExecutor(os.cpu_count() or 1, mp_context=multiprocessing.get_context("spawn"), initializer=_lowest_priority)
            _pool_pid = os.getpid()
        return _pool


def _call(function: Callable[..., T], args: tuple[Any, ...]) -> tuple[bool, Any]:
    """Run in a worker; a LedgerError comes back as its parts (its subclasses' constructors differ, so it is not pickled)."""
    try:
        return True, function(*args)
    except LedgerError as error:
        return False, (type(error).__module__, type(error).__qualname__, error.message, error.details, getattr(error, "retry_after", None))


def run(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` in a worker process; what it raises as a LedgerError is raised here, as itself."""
    done, value = pool().submit(_call, function, args).result()
    if done:
        return value  # type: ignore[no-any-return]
    module, name, message, details, retry_after = value
    error = LedgerError.__new__(getattr(__import__(module, fromlist=[name]), name))
    LedgerError.__init__(error, message, details)
    if retry_after is not None:
        error.retry_after = retry_after
    raise error


def _to_file(function: Callable[..., bytes], args: tuple[Any, ...]) -> str:
    """In a worker: `function(*args)` written to a file of its own (0600) for the server to send; its path."""
    body = function(*args)
    descriptor, path = tempfile.mkstemp(prefix="xase-answer-")
    with os.fdopen(descriptor, "wb") as out:
        out.write(body)
    return path


def run_to_file(function: Callable[..., bytes], *args: Any) -> BinaryIO:
    """`run` for a large answer: the worker writes it to a file, handed back open and already unlinked. Its bytes
    never pass through this interpreter (a pickled answer is copied here holding the interpreter's lock, which
    every other request's thread then waits for); the server sends the file with sendfile."""
    path = run(_to_file, function, args)
    try:
        return open(path, "rb")
    finally:
        os.unlink(path)


def engine_for(database: Database) -> Engine:
    """The worker's engine for `database`, made on first use."""
    if database not in _engines:
        _engines[database] = make_engine(database.url, sqlite_synchronous=database.sqlite_synchronous, statement_timeout_ms=database.statement_timeout_ms)
    return _engines[database]


@contextmanager
def admitted(tenant_id: str, what: str) -> Iterator[None]:
    """Admit a tenant's heavy request while it has fewer than MAX_HEAVY_PER_TENANT running in this process; else 429."""
    with _lock:
        if _running.get(tenant_id, 0) >= MAX_HEAVY_PER_TENANT:
            raise RateLimited(f"at most {MAX_HEAVY_PER_TENANT} {what} of an organisation run at once; retry shortly", retry_after=1,
                              details={"limit": MAX_HEAVY_PER_TENANT})  # fmt: skip
        _running[tenant_id] = _running.get(tenant_id, 0) + 1
    try:
        yield
    finally:
        with _lock:
            _running[tenant_id] -= 1
            if not _running[tenant_id]:
                del _running[tenant_id]
