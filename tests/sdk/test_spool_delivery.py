"""XaseClient(spool_path=...): what record() accepted reaches the ledger exactly once, across crashes and outages."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api, LedgerProcess
from xase import XaseClient, XaseError

DEAD = "http://127.0.0.1:9/api/xase/v1"


def loan(n: int) -> dict[str, Any]:
    return {"policy": "credit_policy_v4", "input": {"n": n}, "output": {"decision": "APPROVED"}}


def test_records_spooled_during_an_outage_are_delivered_once_by_the_next_start(api: Api, tmp_path: Path) -> None:
    spool = str(tmp_path / "spool")
    offline = XaseClient(api_key=api.key, base_url=DEAD, spool_path=spool, max_retries=0, atexit_timeout=0)
    for n in range(25):
        offline.record(loan(n))  # no transaction ids: random keys, fixed on disk
    offline.close(timeout_s=1)
    assert offline.get_stats()["spooled"] == 25

    online = XaseClient(api_key=api.key, base_url=api.ledger.base_url, spool_path=spool)
    online.flush(30)
    assert online.get_stats()["spooled"] == 0 and online.get_stats()["sent"] == 25
    online.close()
    assert api.get("/stats").json()["records"] == 25
    again = XaseClient(api_key=api.key, base_url=api.ledger.base_url, spool_path=spool)  # nothing left to replay
    again.flush(10)
    again.close()
    assert api.get("/stats").json()["records"] == 25


def test_drop_policy_with_a_spool_drops_for_good_and_says_so(api: Api, tmp_path: Path) -> None:
    spool = str(tmp_path / "spool")
    client = XaseClient(api_key=api.key, base_url=DEAD, spool_path=spool, queue_max_size=5, max_retries=0, atexit_timeout=0)
    client._worker.ensure_started = lambda: None  # type: ignore[method-assign]  # hold the queue still
    for n in range(12):
        client.record(loan(n))
    assert client.get_stats()["dropped"] == 7 and client.get_stats()["spooled"] == 5  # stats account for all 12
    client.close(timeout_s=0.5)
    later = XaseClient(api_key=api.key, base_url=api.ledger.base_url, spool_path=spool)
    later.flush(30)
    later.close()
    assert api.get("/stats").json()["records"] == 5


def test_spill_policy_keeps_overflow_on_disk_and_delivers_it_in_order_in_the_same_process(api: Api, tmp_path: Path) -> None:
    client = XaseClient(api_key=api.key, base_url=api.ledger.base_url, spool_path=str(tmp_path / "spool"), queue_full_policy="spill",
                        queue_max_size=5, batch_size=3)  # fmt: skip
    start = client._worker.ensure_started
    client._worker.ensure_started = lambda: None  # type: ignore[method-assign]  # hold the queue still
    for n in range(40):
        client.record({**loan(n), "transaction_id": f"spill_{n}"})
    stats = client.get_stats()
    assert (stats["size"], stats["spilled"], stats["spooled"], stats["dropped"]) == (5, 35, 40, 0)
    assert len(client._queue) == 5  # memory stays within its bound
    client._worker.ensure_started = start  # type: ignore[method-assign]
    client.flush(30)
    assert client.get_stats()["spilled"] == 0 and client.get_stats()["sent"] == 40 and client.get_stats()["spooled"] == 0
    client.close()
    assert [record["transaction_id"] for record in api.all_records()] == [f"spill_{n}" for n in range(40)]


def test_spill_needs_a_spool() -> None:
    with pytest.raises(XaseError) as raised:
        XaseClient(api_key="xase_pk_x", queue_full_policy="spill")
    assert raised.value.code == "VALIDATION_ERROR" and "spool_path" in raised.value.message


def test_a_replay_larger_than_the_queue_stays_within_its_bound(api: Api, tmp_path: Path) -> None:
    spool = str(tmp_path / "spool")
    offline = XaseClient(api_key=api.key, base_url=DEAD, spool_path=spool, queue_full_policy="spill", queue_max_size=10,
                         max_retries=0, atexit_timeout=0)  # fmt: skip
    for n in range(60):
        offline.record(loan(n))
    offline.close(timeout_s=0.5)
    online = XaseClient(api_key=api.key, base_url=api.ledger.base_url, spool_path=spool, queue_max_size=10, batch_size=4)
    assert online.get_stats()["spilled"] <= 60 and len(online._queue) <= 10
    online.flush(30)
    online.close()
    assert api.get("/stats").json()["records"] == 60


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_9_mid_stream_loses_nothing_record_returned_for(api: Api, tmp_path: Path) -> None:
    spool = str(tmp_path / "spool")
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from xase import XaseClient, XaseError
        xase = XaseClient(api_key={api.key!r}, base_url={api.ledger.base_url!r}, spool_path={spool!r}, spool_fsync="batch", queue_full_policy="spill")
        n = 0
        while True:
            xase.record({{"policy": "p", "input": {{"n": n}}, "output": {{}}, "transaction_id": f"crash_{{n}}"}})
            print(n, flush=True)  # record() returned: this one must survive
            n += 1
    """)], stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert child.stdout is not None
    returned = [child.stdout.readline() for _ in range(200)]  # the child says when record() returned: no sleeping on a clock
    os.kill(child.pid, signal.SIGKILL)
    output, _ = child.communicate()
    accepted = {f"crash_{line}" for line in "".join(returned).split() + output.split()}
    assert len(accepted) >= 200

    restarted = XaseClient(api_key=api.key, base_url=api.ledger.base_url, spool_path=spool)
    restarted.flush(60)
    restarted.close()
    stored = [record["transaction_id"] for record in api.all_records()]
    assert accepted <= set(stored), sorted(accepted - set(stored))[:5]
    assert len(stored) == len(set(stored))  # exactly once
    assert api.get("/verify").json()["ok"] is True


def test_with_two_batches_in_flight_an_outage_still_delivers_each_record_exactly_once(fresh_ledger: LedgerProcess, tmp_path: Path) -> None:
    api = Api(fresh_ledger, fresh_ledger.new_api_key())
    client = XaseClient(api_key=api.key, base_url=fresh_ledger.base_url, spool_path=str(tmp_path / "spool"), max_in_flight=2, batch_size=10,
                        flush_interval=0.01, max_retries=0, retry_backoff_max=0.3)  # fmt: skip
    for n in range(50):
        client.record(loan(n))
    client.flush(30)
    port = fresh_ledger.port
    fresh_ledger.stop()
    for n in range(50, 150):
        client.record(loan(n))  # deferred batch after batch, kept in the spool
    time.sleep(0.5)
    fresh_ledger.start(port)
    client.flush(60)
    client.close()
    records = api.all_records()
    assert len(records) == 150 and client.get_stats()["spooled"] == 0
    assert api.get("/verify").json()["ok"] is True
