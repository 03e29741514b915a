"""Encrypted Hamming distances, produced while the answer is sent: past a few hundred chunks by `ledger_service.workers`.

A distance is one multiply-mod per ciphertext, pure CPU: computed on a request thread, a large search stalls every
other request its process serves. Above INLINE_ROWS chunks the answer is computed by the low-priority worker
processes, in batches submitted a few at a time, so that another request's batches take their turn. Batches come
back encoded (msgpack or JSON), in order.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future
from functools import partial
from typing import Any, Callable

import msgpack

from ledger_service import workers
from ledger_service.knowledge.homomorphic import PublicContext, distances, json_rows

__all__ = ["INLINE_ROWS", "answer"]

INLINE_ROWS = 256  # fewer chunks than this are computed on the request thread: a pool round trip would cost more
_BATCH_ROWS = 1000
# A batch crosses the serving interpreter twice (pickled to a worker, its answer unpickled), each a copy that holds
# the interpreter's lock: a megabyte keeps that under a millisecond, so other requests' threads are not held up.
_BATCH_BYTES = 1 << 20
_WINDOW = 2  # batches in flight per search and worker process


def _encode(kind: str, numbers: Sequence[Any], rows: Sequence[tuple[int, bytes]], context: PublicContext, first: bool) -> bytes:
    """One batch of the answer, computed and encoded (in a pool process or on the calling thread)."""
    computed = distances(numbers, rows, context)
    if kind == "json":
        return json_rows(computed, first)
    packer = msgpack.Packer(use_bin_type=True)
    return b"".join(packer.pack([ciphertexts, chunk_id]) for ciphertexts, chunk_id in computed)


def _batches(rows: Iterable[tuple[int, bytes]]) -> Iterator[list[tuple[int, bytes]]]:
    """Consecutive rows, at most _BATCH_ROWS and _BATCH_BYTES of stored vectors a batch (one row at least), drawn
    from `rows` only as batches are asked for."""
    batch: list[tuple[int, bytes]] = []
    size = 0
    for row in rows:
        if batch and (len(batch) >= _BATCH_ROWS or size + len(row[1]) > _BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(row)
        size += len(row[1])
    if batch:
        yield batch


def _in_order(work: Iterable[Callable[[], Future[bytes]]], window: int) -> Iterator[bytes]:
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


def answer(kind: str, numbers: Sequence[Any], rows: Iterable[tuple[int, bytes]], count: int, context: PublicContext) -> Iterator[bytes]:
    """The whole answer (`kind` "msgpack" or "json") over `count` rows, read from `rows` and computed while it is
    sent: at most a window of batches is in memory. Widths are checked before: nothing fails."""
    yield msgpack.Packer().pack_array_header(count) if kind == "msgpack" else b"["
    batches = enumerate(_batches(rows))
    if count < INLINE_ROWS:
        for index, batch in batches:
            yield _encode(kind, numbers, batch, context, index == 0)
    else:
        pool, numbers = workers.pool(), list(numbers)
        work = (partial(pool.submit, _encode, kind, numbers, batch, context, index == 0) for index, batch in batches)
        yield from _in_order(work, _WINDOW * (os.cpu_count() or 1))
    if kind == "json":
        yield b"]"
