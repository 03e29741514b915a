"""The worker, driven step by step with a stand-in for the network (nothing else is faked)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Optional, Union

import pytest

from xase import XaseClient, XaseError
from xase._payload import QueuedRecord, snapshot
from xase.config import XaseClientConfig
from xase.transport import RetriesExhausted, RetryableError
from xase.types import RecordResult
from xase.worker import FlushMarker, QueueItem, Worker


class Network:
    """Answers every item with success, or with the error queued for its transaction id."""

    def __init__(self) -> None:
        self.retries = 0
        self.batches: list[list[dict[str, Any]]] = []
        self.errors: dict[str, XaseError] = {}

    def send_batch(self, items: Sequence[dict[str, Any]], place: Optional[str] = None) -> list[Union[RecordResult, XaseError]]:
        self.batches.append(list(items))
        return [self.errors.get(item.get("transaction_id", ""), {"success": True, "transaction_id": item.get("transaction_id", "")})
                for item in items]  # type: ignore[misc]  # fmt: skip


def record(n: int, **extra: Any) -> QueuedRecord:
    return QueuedRecord(snapshot({"policy": "p", "input": {"n": n}, "output": {}, "transaction_id": f"t_{n}", **extra}))


def make_worker(**options: Any) -> tuple[Worker, deque[QueueItem], Network]:
    queue: deque[QueueItem] = deque()
    network = Network()
    config = XaseClientConfig.build(api_key="xase_pk_test", flush_interval=0, **options)
    return Worker(queue, threading.Event(), threading.Event(), network, config, None), queue, network


def test_batches_are_at_most_batch_size_and_keep_order() -> None:
    worker, queue, network = make_worker(batch_size=3)
    queue.extend(record(n) for n in range(7))
    while queue:
        worker.step()
    assert [len(batch) for batch in network.batches] == [3, 3, 1]
    assert [item["transaction_id"] for batch in network.batches for item in batch] == [f"t_{n}" for n in range(7)]
    assert (worker.sent, worker.batches, worker.failed, worker.in_flight) == (7, 3, 0, 0)


def test_flush_marker_is_released_after_the_records_before_it() -> None:
    worker, queue, _network = make_worker(batch_size=100)
    marker = FlushMarker()
    queue.extend([record(0), record(1), marker, record(2)])
    worker.step()
    assert marker.done.is_set() and worker.sent == 2 and len(queue) == 1


def test_callbacks_get_results_and_errors_and_cannot_kill_the_worker(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[Any] = []

    def on_success(result: RecordResult) -> None:
        seen.append(result["transaction_id"])
        raise RuntimeError("metrics backend down")

    worker, queue, network = make_worker(on_success=on_success, on_error=lambda error: seen.append(error.code))
    network.errors["t_1"] = XaseError("IDEMPOTENCY_CONFLICT", "different decision", 409)
    queue.extend(record(n) for n in range(3))
    worker.step()
    assert seen == ["t_0", "IDEMPOTENCY_CONFLICT", "t_2"]
    assert (worker.sent, worker.failed) == (2, 1)
    assert "callback raised" in caplog.text


@pytest.mark.parametrize(
    "bad", [{"input": {"big": 2**60}}, {"context": {"when": datetime.now()}}, {"context": {"tags": {"a", "b"}}}, {"output": {"x": float("inf")}}]
)
def test_a_payload_json_cannot_carry_fails_alone(bad: dict[str, Any]) -> None:
    errors: list[XaseError] = []
    worker, queue, network = make_worker(on_error=errors.append)
    queue.extend([record(0), record(1, **bad), record(2)])
    worker.step()
    assert [e.code for e in errors] == ["VALIDATION_ERROR"] and errors[0].details["transaction_id"] == "t_1"
    assert [item["transaction_id"] for item in network.batches[0]] == ["t_0", "t_2"]


def test_drops_are_reported_once_aggregated_on_the_worker_thread() -> None:
    errors: list[XaseError] = []
    worker, _queue, _network = make_worker(on_error=errors.append)
    for _ in range(5):
        worker.count_drop()
    worker.step(wait=False)
    worker.step(wait=False)
    assert [(e.code, e.details["dropped"]) for e in errors] == [("QUEUE_FULL", 5)]


def test_an_unexpected_error_costs_the_batch_not_the_thread() -> None:
    errors: list[XaseError] = []
    worker, queue, network = make_worker(on_error=errors.append)

    def broken(items: Sequence[dict[str, Any]], place: Optional[str] = None) -> list[Any]:
        raise KeyError("bug")

    network.send_batch = broken  # type: ignore[method-assign]
    queue.extend([record(0), record(1)])
    worker.step()
    assert [e.code for e in errors] == ["SERVER_ERROR", "SERVER_ERROR"] and worker.in_flight == 0


class HeldNetwork(Network):
    """Takes each batch at once (`arrived`), answers it only once `answer` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived, self.answer = threading.Semaphore(0), threading.Event()

    def send_batch(self, items: Sequence[dict[str, Any]], place: Optional[str] = None) -> list[Union[RecordResult, XaseError]]:
        self.arrived.release()
        assert self.answer.wait(5)
        return super().send_batch(items)


@contextmanager
def running(**options: Any) -> Iterator[tuple[Worker, deque[QueueItem], HeldNetwork]]:
    """A worker on its own thread (sender threads and all) over a HeldNetwork; stopped at the end."""
    worker, queue, _ = make_worker(**options)
    network = worker.sender = HeldNetwork()
    worker.ensure_started()
    try:
        yield worker, queue, network
    finally:
        worker.stop.set()
        worker.wake.set()
        network.answer.set()
        worker.join(5)
    assert not worker.alive


def test_the_next_batch_is_prepared_while_one_is_in_flight_and_a_flush_waits_for_both() -> None:
    with running(batch_size=2, max_in_flight=1) as (worker, queue, network):
        records = [record(n) for n in range(4)]
        marker = FlushMarker()
        queue.extend([*records, marker])
        worker.wake.set()
        assert network.arrived.acquire(timeout=5)
        for _ in range(500):  # the worker puts the second batch in wire form (its keys fixed) while the first is in flight
            if records[3].idempotency_key is not None:
                break
            threading.Event().wait(0.01)
        assert records[3].idempotency_key is not None and len(network.batches) == 0 and not marker.done.is_set()
        network.answer.set()
        assert marker.done.wait(5)
        assert [[item["transaction_id"] for item in batch] for batch in network.batches] == [["t_0", "t_1"], ["t_2", "t_3"]]
        assert (worker.sent, worker.batches, worker.in_flight) == (4, 2, 0)


def test_with_max_in_flight_two_batches_fly_at_once_and_a_flush_waits_for_both() -> None:
    with running(batch_size=2, max_in_flight=2) as (worker, queue, network):
        marker = FlushMarker()
        queue.extend([*(record(n) for n in range(4)), marker])
        worker.wake.set()
        assert network.arrived.acquire(timeout=5) and network.arrived.acquire(timeout=5)  # the 2nd goes before the 1st is answered
        assert not marker.done.is_set()
        network.answer.set()
        assert marker.done.wait(5)
        assert sorted(item["transaction_id"] for batch in network.batches for item in batch) == ["t_0", "t_1", "t_2", "t_3"]
        assert (worker.sent, worker.batches, worker.in_flight) == (4, 2, 0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def unreachable() -> RetriesExhausted:
    return RetriesExhausted(RetryableError("NETWORK_ERROR", "could not reach the ledger"), 4)


def test_without_a_spool_a_batch_the_ledger_cannot_take_is_kept_until_retry_deadline() -> None:
    errors: list[XaseError] = []
    worker, queue, network = make_worker(on_error=errors.append, retry_deadline=60)
    worker.clock = clock = Clock()
    network.errors["t_0"] = unreachable()
    queue.append(record(0))
    for now in (0.0, 20.0, 59.0):
        clock.now = now
        worker.step(wait=False)
        assert (worker.failed, errors, worker.pause > 0) == (0, [], True)  # deferred, not failed, and nobody told it failed
        assert [type(item) for item in queue] == [QueuedRecord] and worker.in_flight == 0
    clock.now = 60.0
    worker.step(wait=False)
    assert worker.failed == 1 and [error.code for error in errors] == ["MAX_RETRIES"] and not queue


def test_a_deferral_waits_at_least_the_ledgers_retry_after() -> None:
    worker, queue, network = make_worker()
    network.errors["t_0"] = RetriesExhausted(RetryableError("RATE_LIMIT_EXCEEDED", "slow down", 429, retry_after=3.0), 4)
    queue.append(record(0))
    worker.step(wait=False)
    assert worker.pause == 3.0
    assert network.errors["t_0"].code == "RATE_LIMIT_EXCEEDED"  # the seed's code stays visible once retries are spent


class PauseLog(threading.Event):
    """The stop event: records each wait the worker makes while paused, and makes it short."""

    def __init__(self) -> None:
        super().__init__()
        self.pauses: list[float] = []

    def wait(self, timeout: Optional[float] = None) -> bool:
        if timeout is not None and timeout >= 0.5:
            self.pauses.append(timeout)
            timeout = 0.01
        return super().wait(timeout)


def test_the_worker_pauses_once_per_deferral_and_never_after_an_answer() -> None:
    worker, queue, _ = make_worker()
    worker.stop = stop = PauseLog()
    delivered = threading.Event()
    network = worker.sender = Network()
    attempts = iter([False, False, True])  # down, down, back

    def send_batch(items: Sequence[dict[str, Any]], place: Optional[str] = None) -> list[Union[RecordResult, XaseError]]:
        if next(attempts):
            delivered.set()
            return Network.send_batch(network, items)
        return [unreachable() for _ in items]

    network.send_batch = send_batch  # type: ignore[method-assign]
    queue.append(record(0))
    worker.ensure_started()
    try:
        assert delivered.wait(5)
        for _ in range(500):
            if worker.sent:
                break
            threading.Event().wait(0.01)
    finally:
        stop.set()
        worker.wake.set()
        worker.join(5)
    assert worker.sent == 1 and worker.pause == 0
    assert stop.pauses == [0.5, 1.0]  # one pause before each new attempt; none between the answer and its settling


def test_a_record_the_worker_is_collecting_is_pending_and_counted() -> None:
    client = XaseClient(api_key="xase_pk_test", base_url="http://127.0.0.1:9/api/xase/v1", flush_interval=30, atexit_timeout=0)
    try:
        client.record({"policy": "p", "input": {}, "output": {}})
        for _ in range(500):
            if not client.get_stats()["size"]:
                break
            threading.Event().wait(0.01)
        stats = client.get_stats()
        assert (stats["size"], stats["in_flight"], stats["sent"], stats["failed"]) == (0, 1, 0, 0)
        assert client._pending() == 1
    finally:
        client.close(timeout_s=0.1)


def test_a_deferred_batch_goes_again_under_its_own_number_so_the_ledger_never_waits_for_a_gap() -> None:
    """The ledger chains a numbered batch after the one numbered before it (waiting up to 2 s for it): a deferral must
    not leave a number that will never come (a ledger restart then cost 2 s a deferral, and the queue overflowed)."""
    worker, queue, network = make_worker(batch_size=2, max_in_flight=2)
    places: list[Optional[str]] = []
    answers = iter([False, True, True, True, True])  # the first batch finds the ledger down

    def send_batch(items: Sequence[dict[str, Any]], place: Optional[str] = None) -> list[Union[RecordResult, XaseError]]:
        places.append(place)
        return Network.send_batch(network, items) if next(answers) else [unreachable() for _ in items]

    network.send_batch = send_batch  # type: ignore[method-assign]
    queue.extend(record(n) for n in range(6))
    for _ in range(6):
        worker.step(wait=False)
    if queue:
        worker.drain_inline(deadline=time.monotonic() + 5)
    numbers = [int(place.rsplit("/", 1)[1]) for place in places if place]
    assert numbers[0] == 1 and 1 in numbers[1:]  # the deferred batch went again as 1, not as a new number after a gap
    assert sorted(set(numbers)) == list(range(1, max(numbers) + 1))  # no number skipped
