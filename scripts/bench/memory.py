"""Memory: an SDK queue of 10,000 records, and the ledger's RSS while it ingests many records.

    python scripts/bench/memory.py [--queued 10000] [--ingest 1000000]

1. An XaseClient pointed at a dead port (nothing is delivered) holds --queued
   records of the bench payload; the growth of the process's memory is the queue's
   cost. Baseline, same run: the same payloads kept in a plain list.
2. One ledger process (the development server, SQLite) ingests --ingest records
   in batches of 500; its RSS is sampled every 10% of the way: flat means nothing
   grows with the chain. Bounded; loopback only; Linux (/proc).
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ledger import running_ledger, sdk_like_batch

INPUT = {"user_id": "u_4829", "application_id": "app_2026_11_23_000042", "amount": 50000, "term_months": 36, "credit_score": 720,
         "annual_income": 85000.5, "employment": "full_time", "region": "EU-West", "flags": ["returning", "verified_id"]}  # fmt: skip


def _rss_mb(pid: str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _payload(n: int) -> dict[str, object]:
    return {"policy": "credit_policy_v4", "input": {**INPUT, "n": n}, "output": {"decision": "APPROVED"}, "confidence": 0.94,
            "transaction_id": f"loan_{n}"}  # fmt: skip


def _queue_cost(queued: int) -> tuple[float, float]:
    from xase import XaseClient

    logging.getLogger("xase").setLevel(logging.CRITICAL)
    gc.collect()
    before = _rss_mb()
    plain = [_payload(n) for n in range(queued)]
    list_cost = _rss_mb() - before
    del plain
    gc.collect()
    client = XaseClient(api_key="xase_pk_bench", base_url="http://127.0.0.1:9/api/xase/v1", queue_max_size=queued, atexit_timeout=0,
                        max_retries=0)  # fmt: skip
    client._worker.ensure_started = lambda: None  # type: ignore[method-assign]  # hold the queue still: nothing leaves it
    gc.collect()
    before = _rss_mb()
    for n in range(queued):
        client.record(_payload(n))
    cost = _rss_mb() - before
    assert client.get_stats()["size"] == queued
    client.close(timeout_s=0.1)
    return cost, list_cost


def _ledger_rss(records: int) -> list[tuple[int, float]]:
    samples = []
    with running_ledger(workers=0) as ledger:
        session = requests.Session()
        session.headers.update({"X-API-Key": ledger.api_key, "Content-Type": "application/json"})
        server_pid = _server_pid(ledger.base_url)
        step = max(1, records // 500 // 10)
        for batch in range(records // 500):
            session.post(ledger.base_url + "/records/batch", data=sdk_like_batch(batch * 500, 500), timeout=60).raise_for_status()
            if batch % step == 0 or batch == records // 500 - 1:
                samples.append(((batch + 1) * 500, _rss_mb(server_pid)))
    return samples


def _server_pid(base_url: str) -> str:
    """The pid of the process listening on the ledger's port (from /proc/net/tcp and the fds in /proc)."""
    port = int(base_url.split(":")[2].split("/")[0])
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":  # LISTEN
            inodes.add(fields[9])
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return pid
        except OSError:
            continue
    raise RuntimeError(f"no process listens on port {port}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queued", type=int, default=10_000)
    parser.add_argument("--ingest", type=int, default=1_000_000)
    args = parser.parse_args()
    cost, list_cost = _queue_cost(args.queued)
    print(f"SDK: {args.queued} queued records cost {cost:.1f} MB of RSS ({cost * 1024 / args.queued:.2f} KB each)")
    print(f"baseline: the same payloads in a plain list: {list_cost:.1f} MB; ratio queue / list = {cost / max(list_cost, 0.1):.2f}")
    start = time.perf_counter()
    samples = _ledger_rss(args.ingest)
    elapsed = time.perf_counter() - start
    print(f"ledger RSS while ingesting {args.ingest} records ({args.ingest / elapsed:,.0f} records/s):")
    print("  " + ", ".join(f"{count // 1000}k: {rss:.0f} MB" for count, rss in samples))
    first, last = samples[0][1], samples[-1][1]
    print(f"ratio: RSS at the end / RSS after the first batch = {last / first:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
