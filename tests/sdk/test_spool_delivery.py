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

from tests.conftest import Api
from xase import XaseClient

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


def test_a_full_queue_drops_from_memory_but_not_from_the_spool(api: Api, tmp_path: Path) -> None:
    spool = str(tmp_path / "spool")
    client = XaseClient(api_key=api.key, base_url=DEAD, spool_path=spool, queue_max_size=5, max_retries=0, atexit_timeout=0)
    client._worker.ensure_started = lambda: None  # type: ignore[method-assign]  # hold the queue still
    for n in range(12):
        client.record(loan(n))
    assert client.get_stats()["dropped"] == 7 and client.get_stats()["spooled"] == 12
    client.close(timeout_s=0.5)
    later = XaseClient(api_key=api.key, base_url=api.ledger.base_url, spool_path=spool)
    later.flush(30)
    later.close()
    assert api.get("/stats").json()["records"] == 12


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_9_mid_stream_loses_nothing_record_returned_for(api: Api, tmp_path: Path) -> None:
    spool = str(tmp_path / "spool")
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from xase import XaseClient
        xase = XaseClient(api_key={api.key!r}, base_url={api.ledger.base_url!r}, spool_path={spool!r}, spool_fsync="batch")
        n = 0
        while True:
            xase.record({{"policy": "p", "input": {{"n": n}}, "output": {{}}, "transaction_id": f"crash_{{n}}"}})
            print(n, flush=True)  # record() returned: this one must survive
            n += 1
    """)], stdout=subprocess.PIPE, text=True)  # fmt: skip
    time.sleep(2.0)
    os.kill(child.pid, signal.SIGKILL)
    output, _ = child.communicate()
    accepted = {f"crash_{line}" for line in output.split()}
    assert len(accepted) > 20

    restarted = XaseClient(api_key=api.key, base_url=api.ledger.base_url, spool_path=spool)
    restarted.flush(60)
    restarted.close()
    stored = [record["transaction_id"] for record in _all_records(api)]
    assert accepted <= set(stored), sorted(accepted - set(stored))[:5]
    assert len(stored) == len(set(stored))  # exactly once
    assert api.get("/verify").json()["ok"] is True


def _all_records(api: Api) -> list[dict[str, Any]]:
    records, cursor = [], None
    while True:
        page = api.get("/records", params={"limit": 1000, **({"cursor": cursor} if cursor else {})}).json()
        records += page["records"]
        cursor = page["next_cursor"]
        if not cursor:
            return records
