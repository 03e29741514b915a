"""Appends of one tenant while another uploads a ~5 MB dataset, against the same appends idle (one ledger process).

    python scripts/bench/upload_contention.py [--records 100000] [--postgres]

Baseline, same run: the appender alone for as long as the upload takes. An
upload stages its rows in short transactions and writers take turns, so the
appender keeps going; what it loses is CPU (both share the ledger's process
and this machine's cores). Bounded; loopback only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ledger import postgres_database, running_ledger, sdk_like_batch


def _append_for(url: str, key: str, stop: threading.Event, first: int) -> list[float]:
    """Batches of 10 until `stop`; the latency of each."""
    session = requests.Session()
    session.headers.update({"X-API-Key": key, "Content-Type": "application/json"})
    latencies, n = [], first
    while not stop.is_set():
        started = time.perf_counter()
        session.post(f"{url}/records/batch", data=sdk_like_batch(n, 10), timeout=60).raise_for_status()
        latencies.append(time.perf_counter() - started)
        n += 10
    return latencies


def _window(url: str, key: str, seconds: float, first: int, during: object = None) -> tuple[list[float], float]:
    stop, result = threading.Event(), {}
    thread = threading.Thread(target=lambda: result.update(lat=_append_for(url, key, stop, first)))
    thread.start()
    started = time.perf_counter()
    if callable(during):
        during()
    else:
        time.sleep(seconds)
    elapsed = time.perf_counter() - started
    stop.set()
    thread.join()
    return result["lat"], elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--workers", type=int, default=0, help="serve with gunicorn and this many worker processes")
    args = parser.parse_args()
    lines = "\n".join(json.dumps({"patient": f"p{n}", "age": n % 90, "dx": "diabetes"}) for n in range(args.records)).encode()
    with postgres_database() if args.postgres else nullcontext() as database_url:  # type: ignore[attr-defined]
        with running_ledger(database_url=database_url, workers=args.workers, scopes=["sessions", "records:write", "records:read"]) as ledger:
            holder = requests.Session()
            holder.headers["X-API-Key"] = ledger.api_key
            dataset = holder.post(f"{ledger.base_url}/datasets", json={"name": "large"}, timeout=30).json()["id"]
            upload_seconds = {}

            def upload() -> None:
                started = time.perf_counter()
                response = holder.post(f"{ledger.base_url}/datasets/{dataset}/records", data=lines,
                                       headers={"Content-Type": "application/x-ndjson"}, timeout=600)  # fmt: skip
                response.raise_for_status()
                upload_seconds["s"] = time.perf_counter() - started

            during, elapsed = _window(ledger.base_url, ledger.api_key, 0, 0, upload)
            idle, idle_elapsed = _window(ledger.base_url, ledger.api_key, elapsed, 10_000_000)
    backend = "postgresql" if args.postgres else "sqlite"
    print(f"upload ({backend}): {args.records} records, {len(lines) / 1e6:.1f} MB in {upload_seconds['s']:.2f} s")
    for name, latencies, seconds in (("appends during the upload", during, elapsed), ("appends idle (baseline)", idle, idle_elapsed)):
        print(f"{name:28s} {len(latencies) * 10 / seconds:8,.0f} records/s   median {statistics.median(latencies) * 1000:6.1f} ms"
              f"   max {max(latencies) * 1000:7.1f} ms")  # fmt: skip
    print(f"ratio: append rate during / idle = {len(during) / elapsed / (len(idle) / idle_elapsed):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
