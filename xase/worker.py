"""The delivery engine: a bounded queue drained in batches by one background thread.

The worker takes up to `batch_size` records (or what arrived within
`flush_interval`) and puts them in wire form (commitments computed here, off the
caller's thread). Sender threads send them while the worker collects and
prepares the next batch; at most `max_in_flight` batches are in flight, and the
worker settles them oldest first. With the default of one, batches reach the
ledger in order. When the worker reaches a flush marker, everything queued
before it is final. Callbacks run on the worker thread; nothing they raise can stop it.

A batch the ledger could not take after every retry (down, restarting,
overloaded) is not failed but deferred: it goes back to the head of the queue
and the worker pauses (doubling, at least the ledger's Retry-After) before it
tries again. Without a spool a record is deferred until `retry_deadline` seconds
after the ledger first could not take it, then fails; with a spool it waits on
disk for as long as the outage lasts. There, records that do not fit in memory
wait too: `backlog` holds their keys (and any flush marker queued behind them),
and the worker moves them into the queue, oldest first, as room frees up.
"""

from __future__ import annotations

import logging
import os
import queue as queues
import secrets
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol, Union

from xase import evidence
from xase._payload import QueuedRecord, wire_item
from xase.config import XaseClientConfig
from xase.errors import ValidationError, XaseError
from xase.spool import Spool
from xase.transport import Outcome, RetriesExhausted, RetryableError

__all__ = ["FlushMarker", "Worker"]

log = logging.getLogger("xase")

_IDLE_WAIT = 1.0  # seconds between checks of the stop flag while nothing is queued
_FIRST_PAUSE = 0.5  # seconds before a deferred batch is tried again; doubles up to retry_backoff_max


class FlushMarker:
    """Queued by flush(); set once everything queued before it is delivered or failed."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class BatchSender(Protocol):
    retries: int

    def send_batch(self, items: Sequence[dict[str, Any]], place: Optional[str] = None) -> list[Outcome]: ...


QueueItem = Union[QueuedRecord, FlushMarker]


@dataclass
class _Delivery:
    """A prepared batch: its records, their wire form, and the flush markers released once they are final."""

    records: list[QueuedRecord]
    items: list[dict[str, Any]]
    markers: list[FlushMarker]
    place: Optional[str] = None  # "<stream>/<number>": where the ledger chains it among this client's batches
    outcomes: Optional[list[Outcome]] = None
    error: Optional[Exception] = None  # a bug in sending: it costs this batch
    done: threading.Event = field(default_factory=threading.Event)


class _Senders:
    """Threads that send deliveries for the worker, which meanwhile prepares the next; each wakes it when done."""

    def __init__(self, sender: BatchSender, wake: threading.Event, threads: int) -> None:
        self.sender, self._wake, self._count = sender, wake, threads
        self._jobs: queues.SimpleQueue[Optional[_Delivery]] = queues.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def submit(self, delivery: _Delivery) -> None:
        self._threads = [thread for thread in self._threads if thread.is_alive()]
        while len(self._threads) < self._count:
            thread = threading.Thread(target=self._run, name="xase-sender", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._jobs.put(delivery)

    def close(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)

    def _run(self) -> None:
        while (delivery := self._jobs.get()) is not None:
            send(self.sender, delivery)
            self._wake.set()


def send(sender: BatchSender, delivery: _Delivery) -> None:
    try:
        delivery.outcomes = sender.send_batch(delivery.items, delivery.place)
    except Exception as exc:  # a bug must cost this batch, never a thread
        delivery.error = exc
    finally:
        delivery.done.set()


def _settled(outcome: Outcome) -> bool:
    """Final for the spool: recorded, or refused for a reason a retry cannot change."""
    return not isinstance(outcome, XaseError) or outcome.code in ("VALIDATION_ERROR", "IDEMPOTENCY_CONFLICT")


def _transient(outcome: Outcome) -> bool:
    """The ledger could not take it now (unreachable, overloaded, timing out): later it may."""
    return isinstance(outcome, (RetryableError, RetriesExhausted))


class Worker:
    """Owns the delivery counters; drains `queue` through `sender` on a daemon thread."""

    def __init__(
        self,
        queue: deque[QueueItem],
        wake: threading.Event,
        stop: threading.Event,
        sender: BatchSender,
        config: XaseClientConfig,
        runtime: Optional[dict[str, Any]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queue, self.wake, self.stop = queue, wake, stop
        self.sender = sender
        self.config = config
        self.runtime = runtime
        self.clock = clock
        self.spool: Optional[Spool] = None  # set by the client when records are spooled
        self.backlog: deque[Union[str, FlushMarker]] = deque()  # spooled keys not yet in the queue
        self.backlog_lock = threading.Lock()
        self.sent = self.failed = self.batches = 0
        self.holding = 0  # records taken off the queue and not yet handed to a sender (a batch being collected)
        self.pause = 0.0  # > 0 while deliveries are deferred
        self.dropped = 0
        self._drops_reported = 0
        self._drop_lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._senders: Optional[_Senders] = None  # the worker thread's; None: send on the calling thread
        self._flying: deque[_Delivery] = deque()  # handed to the senders, not yet settled; oldest first
        self._stream, self._stream_pid, self._numbered = "", 0, 0  # this process's batches, numbered for the ledger

    # ---------------------------------------------------------------- thread

    def ensure_started(self) -> None:
        """Start the thread, or start it again should it ever have died (callers hold a lock)."""
        if self._thread is None or (not self._thread.is_alive() and not self.stop.is_set()):
            thread = threading.Thread(target=self.run, name="xase-worker", daemon=True)
            self._thread = thread
            thread.start()

    @property
    def in_flight(self) -> int:
        """Records taken off the queue and not yet final: the batch being collected and those sent, unanswered."""
        return self.holding + sum(len(delivery.records) for delivery in list(self._flying))

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        self._senders = _Senders(self.sender, self.wake, self.config.max_in_flight)
        try:
            while not self.stop.is_set():
                if self.pause and not self._flying:  # deferred: wait before trying again, never after an answer came
                    self.stop.wait(self.pause)
                self.step(overlap=True)
        finally:
            self._put_back(self._land(keep=0))
            self._senders.close()

    def step(self, wait: bool = True, overlap: bool = False) -> None:
        """Collect one batch, deliver it, release the flush markers that followed it.

        With `overlap` (the worker thread), the batch is handed to the sender threads and this returns once
        fewer than `max_in_flight` batches are in flight: the next step prepares the next batch meanwhile.
        """
        batch, markers = self._collect(wait)
        delivery = self._prepare(batch, markers)
        senders = self._senders if overlap and delivery.records else None
        # Settle the oldest deliveries until this one may fly; all of them when it carries only markers,
        # which wait for every record before them.
        held = self._land(keep=self.config.max_in_flight - 1 if senders is not None else 0)
        if held:  # a delivery was deferred: this batch waits behind it
            self._put_back([*held, *delivery.records, *delivery.markers])
        elif not delivery.records:
            self._release(delivery.markers)
        elif senders is not None:
            self._flying.append(delivery)
            senders.submit(delivery)
        else:
            send(self.sender, delivery)
            self._flying.append(delivery)
            self.holding = 0
            self._put_back(self._land(keep=0))
        self.holding = 0
        self._report_drops()

    def _land(self, keep: int) -> list[QueueItem]:
        """Wait for and settle deliveries, oldest first, until at most `keep` are in flight. Once one is deferred,
        every later one is settled too, and what must wait for it (the deferred records and, from there on,
        every flush marker) is returned, in order, for the head of the queue."""
        held: list[QueueItem] = []
        while len(self._flying) > keep or (held and self._flying):
            delivery = self._flying[0]  # still counted in flight while it is settled
            delivery.done.wait()
            try:
                deferred = self._settle(delivery)
            except Exception as exc:  # a bug must cost this batch, never the thread
                delivery.error, delivery.outcomes = exc, None
                deferred = self._settle(delivery)
            self.holding += len(deferred)
            self._flying.popleft()
            if deferred and not held:
                self._rewind(delivery)
            if deferred or held:
                held += [*deferred, *delivery.markers]
            else:
                self._release(delivery.markers)
        return held

    def _put_back(self, items: list[QueueItem]) -> None:
        """At the head of the queue, in order: what must go again before anything queued since."""
        self.queue.extendleft(reversed(items))
        self.holding = 0

    @staticmethod
    def _release(markers: list[FlushMarker]) -> None:
        for marker in markers:
            marker.done.set()

    def _collect(self, wait: bool = True) -> tuple[list[QueuedRecord], list[FlushMarker]]:
        batch: list[QueuedRecord] = []
        deadline: Optional[float] = None
        self.refill()
        while len(batch) < self.config.batch_size:
            try:
                item = self.queue.popleft()
            except IndexError:
                if self.backlog:
                    self.refill()
                    continue
                if self.stop.is_set() or not wait or (not batch and self._flying and self._flying[0].done.is_set()):
                    break  # stopping, asked not to wait, or idle with an answer to settle
                if deadline is None:
                    self.wake.wait(_IDLE_WAIT)
                else:
                    remaining = deadline - self.clock()
                    if remaining <= 0:
                        break
                    self.wake.wait(remaining)
                self.wake.clear()
                continue
            if type(item) is FlushMarker:
                return batch, [item]
            batch.append(item)  # type: ignore[arg-type]
            self.holding = len(batch)
            if deadline is None:
                deadline = self.clock() + self.config.flush_interval
        return batch, []

    def refill(self) -> None:
        """Move up to a batch of spilled records from the spool back into the queue, oldest first."""
        if not self.backlog or self.spool is None:
            return
        with self.backlog_lock:
            room = min(self.config.batch_size, self.config.queue_max_size - len(self.queue))
            while self.backlog and room > 0:
                item = self.backlog.popleft()
                if type(item) is FlushMarker:
                    self.queue.append(item)
                    continue
                payload = self.spool.read(item)  # type: ignore[arg-type]
                if payload is not None:  # None: acknowledged meanwhile (a replay raced a delivery)
                    self.queue.append(QueuedRecord(payload, item))  # type: ignore[arg-type]
                    room -= 1

    @property
    def spilled(self) -> int:
        return sum(1 for item in list(self.backlog) if type(item) is str)

    # ---------------------------------------------------------------- delivery

    def _place(self) -> Optional[str]:
        """The next batch's place among this client's batches, when more than one is sent at once (one at a time
        arrives in order anyway). A forked process is a stream of its own."""
        if self.config.max_in_flight == 1:
            return None
        if self._stream_pid != os.getpid():
            self._stream, self._stream_pid, self._numbered = secrets.token_hex(8), os.getpid(), 0
        self._numbered += 1
        return f"{self._stream}/{self._numbered}"

    def _rewind(self, deferred: _Delivery) -> None:
        """Number again from the first deferred batch: its records go again under its number, so that the ledger,
        which chains a batch after the one numbered before it, never waits for a number that will not come."""
        if deferred.place is not None and self._stream_pid == os.getpid():
            self._numbered = min(self._numbered, int(deferred.place.rsplit("/", 1)[1]) - 1)

    def _prepare(self, batch: list[QueuedRecord], markers: list[FlushMarker]) -> _Delivery:
        """The batch in wire form; a record JSON cannot carry fails here, alone."""
        delivery = _Delivery([], [], markers, self._place() if batch else None)
        for record in batch:
            try:
                delivery.items.append(wire_item(record, self.runtime, self.config.hmac_key))
                delivery.records.append(record)
            except (evidence.CanonicalizationError, TypeError, ValueError) as exc:
                self.holding -= 1
                self._fail(record, ValidationError(f"payload cannot be recorded as JSON evidence: {exc}"))
        return delivery

    def _settle(self, delivery: _Delivery) -> list[QueuedRecord]:
        """Count, call back and acknowledge what the ledger answered; the records deferred for later (with a spool)."""
        if delivery.error is not None or delivery.outcomes is None:
            log.error("xase: unexpected error delivering a batch of %d records", len(delivery.records), exc_info=delivery.error)
            for record in delivery.records:
                self._fail(record, XaseError("SERVER_ERROR", "internal SDK error while delivering; see the xase log"))
            return []
        outcomes = delivery.outcomes
        settled = [record.idempotency_key for record, outcome in zip(delivery.records, outcomes) if _settled(outcome)]
        deferred: list[QueuedRecord] = []
        now = self.clock()
        for record, outcome in zip(delivery.records, outcomes):
            if not isinstance(outcome, XaseError):
                self.sent += 1
                self._call(self.config.on_success, outcome)
            elif _transient(outcome) and self._may_defer(record, now):
                deferred.append(record)
            else:
                self._fail(record, outcome)
        if self.spool is not None:
            self.spool.ack(key for key in settled if key)
            self.spool.sync()
        self.batches += 1
        self._pace(deferred, outcomes)
        return deferred

    def _may_defer(self, record: QueuedRecord, now: float) -> bool:
        """On disk a record waits out any outage; in memory, until retry_deadline after the ledger first could not take it."""
        if self.spool is not None:
            return True
        if record.deferred_since is None:
            record.deferred_since = now
        return now - record.deferred_since < self.config.retry_deadline

    def _pace(self, deferred: list[QueuedRecord], outcomes: list[Outcome]) -> None:
        """After a deferral, pause (doubling up to retry_backoff_max, never below the ledger's Retry-After). One warning
        per outage; on_error hears only of records that failed, never of one that will be tried again."""
        if not deferred:
            if self.pause:
                log.warning("xase: the ledger takes records again; deferred records are being delivered")
            self.pause = 0.0
            return
        first = not self.pause  # one warning per outage, the rest at DEBUG
        cause = next(outcome for outcome in outcomes if isinstance(outcome, XaseError) and _transient(outcome))
        doubled = min(self.config.retry_backoff_max, max(_FIRST_PAUSE, 2 * self.pause)) or _FIRST_PAUSE
        self.pause = max(doubled, getattr(cause, "retry_after", None) or 0.0)
        where = "in the spool" if self.spool is not None else "in memory"
        log.log(logging.WARNING if first else logging.DEBUG, "xase: ledger unavailable (%s); %d record(s) kept %s, next attempt in %.1fs",
                cause.message, len(deferred), where, self.pause)  # fmt: skip

    def _fail(self, record: QueuedRecord, error: XaseError) -> None:
        if self.spool is not None and error.code == "VALIDATION_ERROR" and record.idempotency_key:
            self.spool.ack([record.idempotency_key])  # it can never be recorded; replaying it would not help
        self.failed += 1
        error.details.setdefault("idempotency_key", record.idempotency_key)
        error.details.setdefault("transaction_id", record.payload.get("transaction_id"))
        self._call(self.config.on_error, error)

    def _call(self, callback: Optional[Callable[[Any], None]], argument: Any) -> None:
        if callback is None:
            return
        try:
            callback(argument)
        except Exception:
            log.exception("xase: the %s callback raised; the worker carries on", getattr(callback, "__name__", "user"))

    # ---------------------------------------------------------------- drops

    def count_drop(self) -> None:
        with self._drop_lock:
            self.dropped += 1

    def _report_drops(self) -> None:
        """Drops are reported here, aggregated, so callbacks stay on this thread and off the hot path."""
        new = self.dropped - self._drops_reported
        if new <= 0:
            return
        self._drops_reported += new
        log.warning("xase: queue full (%d); %d record(s) dropped", self.config.queue_max_size, new)
        error = XaseError("QUEUE_FULL", f"Queue full, {new} record(s) dropped", None,
                          {"dropped": new, "queue_max_size": self.config.queue_max_size})  # fmt: skip
        self._call(self.config.on_error, error)

    # ---------------------------------------------------------------- exit without a thread

    def drain_inline(self, deadline: float) -> None:
        """Deliver what is queued on the calling thread until `deadline`; used at interpreter exit."""
        self._put_back(self._land(keep=0))
        while (self.queue or self.backlog) and self.clock() < deadline:
            self.step(wait=False)
            if self.pause:
                return  # the ledger is not taking records: what is left stays in the spool
