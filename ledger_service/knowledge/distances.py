"""Encrypted Hamming distances computed off the request threads, at low priority, one tenant's request at a time.

A distance is one multiply-mod per ciphertext, pure CPU under the GIL: computed on a request thread, a large
search stalls every other request its process serves. Above a few hundred chunks the answer is computed by a
pool of processes (one per core, spawned once per server process, never forked from a request thread, each at
the lowest scheduling priority), in batches submitted a few at a time, so that another request's batches take
their turn and the operating system serves light requests first. Each tenant has at most `MAX_SEARCHES_PER_TENANT`
searches running in a process; one more is a 429. Batches come back encoded (msgpack or JSON), in order.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any, Callable, Optional

import msgpack

from ledger_service.errors import RateLimited
from ledger_service.knowledge.homomorphic import PublicContext, distances, json_rows

__all__ = ["INLINE_ROWS", "MAX_SEARCHES_PER_TENANT", "answer", "one_search_at_a_time"]

INLINE_ROWS = 256  # fewer chunks than this are computed on the request thread: a pool round trip would cost more
MAX_SEARCHES_PER_TENANT = 2  # per server process
_BATCH_ROWS = 1000
_WINDOW = 2  # batches in flight per search and pool process

_lock = threading.Lock()
_pool: Optional[ProcessPoolExecutor] = None
_pool_pid = 0
_running: dict[str, int] = {}


def _lowest_priority() -> None:
    os.nice(19)


def _pool_of_this_process() -> ProcessPoolExecutor:
    global _pool, _pool_pid
    with _lock:
        if _pool is None or _pool_pid != os.getpid():  # a gunicorn worker forked after a pool existed gets its own
            _pool = ProcessPoolExecutor(os.cpu_count() or 1, mp_context=multiprocessing.get_context("spawn"), initializer=_lowest_priority)
            _pool_pid = os.getpid()
        return _pool


@contextmanager
def one_search_at_a_time(tenant_id: str) -> Iterator[None]:
    """Admit a tenant's search while it has fewer than MAX_SEARCHES_PER_TENANT running in this process; else 429."""
    with _lock:
        if _running.get(tenant_id, 0) >= MAX_SEARCHES_PER_TENANT:
            raise RateLimited(f"at most {MAX_SEARCHES_PER_TENANT} compute_hamming searches of an organisation run at once; retry shortly",
                              retry_after=1, details={"limit": MAX_SEARCHES_PER_TENANT})  # fmt: skip
        _running[tenant_id] = _running.get(tenant_id, 0) + 1
    try:
        yield
    finally:
        with _lock:
            _running[tenant_id] -= 1
            if not _running[tenant_id]:
                del _running[tenant_id]


def _encode(kind: str, numbers: Sequence[Any], rows: Sequence[tuple[int, bytes]], context: PublicContext, first: bool) -> bytes:
    """One batch of the answer, computed and encoded (in a pool process or on the calling thread)."""
    computed = distances(numbers, rows, context)
    if kind == "json":
        return json_rows(computed, first)
    packer = msgpack.Packer(use_bin_type=True)
    return b"".join(packer.pack([ciphertexts, chunk_id]) for ciphertexts, chunk_id in computed)


def _batches(rows: Sequence[tuple[int, bytes]]) -> list[Sequence[tuple[int, bytes]]]:
    return [rows[start : start + _BATCH_ROWS] for start in range(0, len(rows), _BATCH_ROWS)]


def _in_order(work: Sequence[Callable[[], Future[bytes]]], window: int) -> Iterator[bytes]:
    """Each future's bytes in submission order, at most `window` submitted and unanswered at once."""
    pending: deque[Future[bytes]] = deque()
    upcoming = iter(work)
    for submit in upcoming:
        pending.append(submit())
        if len(pending) >= window:
            break
    while pending:
        yield pending.popleft().result()
        following = next(upcoming, None)
        if following is not None:
            pending.append(following())


def answer(kind: str, numbers: Sequence[Any], rows: Sequence[tuple[int, bytes]], context: PublicContext) -> Iterator[bytes]:
    """The whole answer (`kind` "msgpack" or "json"), produced while it is sent. Widths are checked before: nothing fails."""
    yield msgpack.Packer().pack_array_header(len(rows)) if kind == "msgpack" else b"["
    batches = _batches(rows)
    if len(rows) < INLINE_ROWS:
        for index, batch in enumerate(batches):
            yield _encode(kind, numbers, batch, context, index == 0)
    else:
        pool = _pool_of_this_process()
        work = [partial(pool.submit, _encode, kind, list(numbers), list(batch), context, index == 0) for index, batch in enumerate(batches)]
        yield from _in_order(work, _WINDOW * (os.cpu_count() or 1))
    if kind == "json":
        yield b"]"
