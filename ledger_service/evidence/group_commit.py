"""Group commit: concurrent appends to one tenant share a transaction and a signed block.

An append that finds its tenant idle runs at once. Appends that arrive while
one is running wait; when it finishes, the first of them becomes the leader
and appends everything waiting, as one block. So under load the number of
signatures (KMS Sign calls) falls with the concurrency, a caller never waits
longer than one append ahead of its own, and an idle ledger adds no latency.
Every caller still gets its own outcomes, in its own order.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import Callable, Optional, Union

from sqlalchemy import Connection, Engine

from ledger_service.db import write_transaction
from ledger_service.errors import LedgerError
from ledger_service.evidence.chain import Outcome, append_within
from ledger_service.evidence.intake import RecordInput
from ledger_service.evidence.signing import Signer

__all__ = ["GroupCommitter", "AfterAppend"]

Item = Union[RecordInput, LedgerError]
AfterAppend = Callable[[Connection], None]  # more to write in the append's transaction


class _Waiter:
    __slots__ = ("after", "done", "error", "items", "leads", "outcomes")

    def __init__(self, items: Sequence[Item], after: Optional[AfterAppend]) -> None:
        self.items = items
        self.after = after
        self.done = threading.Event()
        self.leads = False
        self.outcomes: list[Outcome] = []
        self.error: Optional[BaseException] = None


class GroupCommitter:
    """Per-process coalescing of appends, per tenant. `max_items` bounds one group's block."""

    def __init__(self, engine: Engine, signer: Signer, max_items: int = 1000, observe_group: Optional[Callable[[int, int], None]] = None) -> None:
        """`observe_group(requests, records)` hears the size of every group appended (for metrics)."""
        self._engine, self._signer = engine, signer
        self._max_items = max_items
        self._observe_group = observe_group
        self._lock = threading.Lock()
        self._queues: dict[str, deque[_Waiter]] = {}
        self._busy: set[str] = set()
        self.groups = 0  # appends run (one block each, when they append anything)

    def append(self, tenant_id: str, items: Sequence[Item], after: Optional[AfterAppend] = None) -> list[Outcome]:
        """The outcomes of `items`, appended with whatever else is waiting; `after` writes in the same transaction."""
        waiter = _Waiter(items, after)
        with self._lock:
            self._queues.setdefault(tenant_id, deque()).append(waiter)
            if tenant_id not in self._busy:
                self._busy.add(tenant_id)
                waiter.leads = True
        if not waiter.leads:
            waiter.done.wait()
        if waiter.leads:
            self._lead(tenant_id)
        if waiter.error is not None:
            raise waiter.error
        return waiter.outcomes

    def _take_group(self, tenant_id: str) -> list[_Waiter]:
        queue = self._queues[tenant_id]
        group = [queue.popleft()]
        size = len(group[0].items)
        while queue and size + len(queue[0].items) <= self._max_items:
            size += len(queue[0].items)
            group.append(queue.popleft())
        return group

    def _lead(self, tenant_id: str) -> None:
        with self._lock:
            group = self._take_group(tenant_id)
        items = [item for waiter in group for item in waiter.items]
        if self._observe_group is not None:
            self._observe_group(len(group), len(items))
        try:
            with write_transaction(self._engine) as conn:
                outcomes = append_within(conn, self._signer, tenant_id, items)
                for waiter in group:
                    if waiter.after is not None:
                        waiter.after(conn)
            offset = 0
            for waiter in group:
                waiter.outcomes = outcomes[offset : offset + len(waiter.items)]
                offset += len(waiter.items)
        except BaseException as error:  # the whole group rolled back together; each caller hears why
            for waiter in group:
                waiter.error = error
        finally:
            self.groups += 1
            self._hand_over(tenant_id, group)

    def _hand_over(self, tenant_id: str, finished: list[_Waiter]) -> None:
        with self._lock:
            queue = self._queues[tenant_id]
            if queue:
                queue[0].leads = True
                queue[0].done.set()
            else:
                self._busy.discard(tenant_id)
                del self._queues[tenant_id]
        for waiter in finished:
            if not waiter.leads:
                waiter.done.set()
