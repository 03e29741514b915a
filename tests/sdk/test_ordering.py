"""Two batches on their way at once (the default), chained in the order they were recorded, by a ledger of several processes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger_service.db import make_engine, migrate
from ledger_service.evidence import ordering
from tests.conftest import BACKENDS, Api, LedgerProcess
from xase import XaseClient, evidence


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerProcess]:
    ledger = LedgerProcess(tmp_path_factory.mktemp("ordering"), backend=request.param, workers=2).start()  # as `serve` starts on 2 cores
    yield ledger
    ledger.destroy()


def _decision(n: int) -> dict[str, Any]:
    return {"policy": "p", "input": {"n": n}, "output": {}, "transaction_id": f"t_{n}"}


def test_the_sdks_defaults_chain_every_record_in_the_order_recorded(served: LedgerProcess) -> None:
    tenant = Api(served, served.new_api_key())
    client = XaseClient(api_key=tenant.key, base_url=served.base_url, batch_size=20, flush_interval=0.005)  # many small batches
    assert client.config.max_in_flight == 2
    for n in range(3000):
        client.record(_decision(n))
    client.flush(60)
    client.close()
    assert client.get_stats()["sent"] == 3000
    assert [record["transaction_id"] for record in tenant.all_records()] == [f"t_{n}" for n in range(3000)]


def _batch(tenant: Api, place: str, first: int, size: int = 5) -> Any:
    records = [{**_decision(n), "idempotency_key": f"k{n:012d}" + "0" * 8} for n in range(first, first + size)]
    return tenant.post("/records/batch", json={"records": records}, headers={"X-Xase-Batch": place}, timeout=30)


def test_a_batch_waits_for_its_predecessor_and_no_longer_than_the_order_wait(served: LedgerProcess) -> None:
    tenant = Api(served, served.new_api_key())
    stream = evidence.sha256_hex(tenant.key.encode())[:16]
    second: list[Any] = []
    sender = threading.Thread(target=lambda: second.append(_batch(tenant, f"{stream}/2", 5)))
    sender.start()
    time.sleep(0.5)  # batch 2 arrived first and waits
    assert _batch(tenant, f"{stream}/1", 0).status_code == 200
    sender.join(10)
    assert second[0].status_code == 200
    assert [record["transaction_id"] for record in tenant.all_records()] == [f"t_{n}" for n in range(10)]
    started = time.monotonic()  # batch 4 without a batch 3: chained after the wait, not refused, not held for ever
    assert _batch(tenant, f"{stream}/4", 10).status_code == 200
    assert 1.5 < time.monotonic() - started < 10
    assert _batch(tenant, f"{stream}/3", 15).status_code == 200  # late: chained after 4, and the stream does not go back
    assert [record["transaction_id"] for record in tenant.all_records()][10:] == [f"t_{n}" for n in (*range(10, 15), *range(15, 20))]
    started = time.monotonic()
    assert _batch(tenant, f"{stream}/5", 20).status_code == 200
    assert time.monotonic() - started < 1.5


def test_the_next_batch_waits_for_every_part_of_a_batch_sent_in_parts(served: LedgerProcess) -> None:
    tenant = Api(served, served.new_api_key())
    stream = evidence.sha256_hex(tenant.key.encode())[:16]
    assert _batch(tenant, f"{stream}/1+", 0).status_code == 200  # the first part: more follow
    second: list[Any] = []
    sender = threading.Thread(target=lambda: second.append(_batch(tenant, f"{stream}/2", 10)))
    sender.start()
    time.sleep(0.5)  # batch 2 waits for the rest of batch 1
    assert _batch(tenant, f"{stream}/1", 5).status_code == 200  # the last part
    sender.join(10)
    assert second[0].status_code == 200
    assert [record["transaction_id"] for record in tenant.all_records()] == [f"t_{n}" for n in range(15)]


@pytest.mark.parametrize("place", ["abcdefgh/1++", "short/1", "abcdefgh/0", "abcdefgh/-1", "abcdefgh/x", "abcdefgh/1/2", "abc defgh/1", "abcdefgh/" + "9" * 16])
def test_a_malformed_batch_place_is_a_400_that_records_nothing(served: LedgerProcess, place: str) -> None:
    tenant = Api(served, served.new_api_key())
    answer = _batch(tenant, place, 0)
    assert answer.status_code == 400 and answer.json()["error"]["details"]["field"] == "X-Xase-Batch"
    assert tenant.all_records() == []


def test_an_organisation_cannot_hold_more_than_max_waiting_threads_with_batches_whose_predecessors_never_come(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate(engine)
    monkeypatch.setattr(ordering, "ORDER_WAIT", 1.0)
    waits = [threading.Thread(target=ordering.wait_turn, args=(engine, "hog", ordering.BatchPlace(f"stream{n:04d}", 5))) for n in range(ordering.MAX_WAITING)]
    for wait in waits:
        wait.start()
    time.sleep(0.2)  # all of them waiting for a batch 4 that never comes
    started = time.monotonic()
    assert ordering.wait_turn(engine, "hog", ordering.BatchPlace("another1", 5)) is False  # one more: chained at once
    assert time.monotonic() - started < 0.5
    assert ordering.wait_turn(engine, "other", ordering.BatchPlace("another2", 1)) is True  # another organisation: its own turn
    for wait in waits:
        wait.join(5)
    engine.dispose()
