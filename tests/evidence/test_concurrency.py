"""Many ledger processes, many clients, one tenant: no fork, gap or duplicate in the chain."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import BACKENDS, LedgerProcess, decision

PROCESSES, CLIENTS, RECORDS = 4, 32, 20_000
PER_REQUEST = 25  # the bigger single-record run is scripts/bench/concurrency.py


@pytest.fixture(params=BACKENDS)
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerProcess]:
    process = LedgerProcess(tmp_path, backend=request.param, workers=PROCESSES).start()
    yield process
    process.destroy()


def test_four_processes_and_32_clients_keep_one_clean_chain(cluster: LedgerProcess) -> None:
    key = cluster.new_api_key("acme")
    acknowledged: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()
    per_client = RECORDS // CLIENTS

    def client(number: int) -> None:
        session = requests.Session()
        session.headers["X-API-Key"] = key
        for start in range(0, per_client, PER_REQUEST):
            items = [decision(n, transaction_id=f"c{number}_{n}") for n in range(start, min(start + PER_REQUEST, per_client))]
            response = session.post(cluster.base_url + "/records/batch", json={"records": items}, timeout=120)
            with lock:
                if response.status_code != 200:
                    failures.append(response.text[:200])
                    continue
                acknowledged.extend(r["transaction_id"] for r in response.json()["results"] if r["success"])

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(acknowledged) == per_client * CLIENTS == len(set(acknowledged))

    (counts,) = cluster.sql("SELECT count(*) AS n, count(DISTINCT seq) AS seqs, min(seq) AS low, max(seq) AS high, "
                            "count(DISTINCT transaction_id) AS transactions FROM records")  # fmt: skip
    assert (counts["n"], counts["seqs"], counts["low"], counts["high"]) == (len(acknowledged), len(acknowledged), 0, len(acknowledged) - 1)
    assert counts["transactions"] == len(acknowledged)
    stored = {row["transaction_id"] for row in cluster.sql("SELECT transaction_id FROM records")}
    assert stored == set(acknowledged)
    (blocks,) = cluster.sql("SELECT count(*) AS n, count(DISTINCT block_seq) AS distinct_blocks, max(block_seq) AS high FROM blocks")
    assert blocks["n"] == blocks["distinct_blocks"] == blocks["high"] + 1
    cluster.stop()
    done = cluster.cli("verify", "--tenant", "acme")
    assert f"OK ({len(acknowledged)} records" in done.stdout
