"""First page of a filter on a 100k-record dataset, through a session (SQLite, one ledger process).

    python scripts/bench/filter.py [--records 100000] [--repeat 7]

Each call is a real session call: the filter compiles to SQL over the JSON
column and the access is appended as evidence before the page is returned.
Each query runs first without, then with the holder's indexes on age and patient_id.
Baseline, same run: what a Python scan would cost, i.e. fetching every
record body from the same database and filtering in Python. Bounded; loopback only.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ledger import running_ledger

from xase import evidence

SEED_FILTER = {"age": {"$gte": 50}, "diagnosis": {"$in": ["diabetes", "hypertension"]},
               "$or": [{"lab_results.glucose": {"$gte": 200}}, {"lab_results.bp_systolic": {"$gte": 140}}]}  # fmt: skip
RARE_FILTER = {"patient_id": "p0099990"}


def _records(count: int) -> list[dict[str, object]]:
    rng = random.Random(7)
    return [{"record_id": f"rec_{n:07d}", "patient_id": f"p{n:07d}", "age": rng.randint(18, 95),
             "diagnosis": rng.choice(["diabetes", "hypertension", "asthma", "copd"]),
             "lab_results": {"glucose": rng.randint(70, 300), "bp_systolic": rng.randint(100, 180)}} for n in range(count)]  # fmt: skip


def _median_ms(call: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with running_ledger(scopes=["sessions", "records:read"]) as ledger:
        api = requests.Session()
        api.headers["X-API-Key"] = ledger.api_key
        url = ledger.base_url
        dataset = api.post(f"{url}/datasets", json={"name": "bench-patients"}, timeout=30).json()["id"]
        records = _records(args.records)
        for start in range(0, len(records), 5000):
            api.post(f"{url}/datasets/{dataset}/records", json=records[start : start + 5000], timeout=300).raise_for_status()
        api.post(f"{url}/datasets/{dataset}/grants", json={"tenant": "bench", "purposes": ["analysis"], "max_duration": "1d"}, timeout=30)
        session = api.post(f"{url}/sessions", json={"dataset": dataset, "purpose": "analysis", "duration": "1h"}, timeout=30).json()["session_id"]

        def page(body: dict[str, object]) -> object:
            def call() -> None:
                response = api.post(f"{url}/sessions/{session}/filter", json=body, timeout=60)
                response.raise_for_status()

            return call

        queries = {
            "seed filter, first 100": {"filter": SEED_FILTER, "limit": 100},
            "seed filter, sorted by age, first 100": {"filter": SEED_FILTER, "sort": {"age": -1}, "limit": 100},
            f"one patient out of {args.records // 1000}k": {"filter": RARE_FILTER, "limit": 100},
        }
        unindexed = {name: _median_ms(page(body), args.repeat) for name, body in queries.items()}
        api.post(f"{url}/datasets/{dataset}/indexes", json={"fields": ["age", "patient_id"]}, timeout=600).raise_for_status()
        results = {name: _median_ms(page(body), args.repeat) for name, body in queries.items()}
        database = ledger.directory / "ledger.db"

        def python_scan() -> None:
            with sqlite3.connect(database) as conn:
                bodies = [evidence.loads(row[0]) for row in conn.execute("SELECT body FROM dataset_records")]
            [b for b in bodies if b.get("patient_id") == "p0099990"]

        baseline = _median_ms(python_scan, 3)
    for name, milliseconds in results.items():
        print(f"{name:<40} {milliseconds:8.1f} ms indexed, {unindexed[name]:8.1f} ms without (median of {args.repeat}, {args.records} records)")
    print(f"baseline: fetch every record and filter in Python: {baseline:.1f} ms")
    print(f"ratio: Python scan / SQL filter (seed filter) = {baseline / results['seed filter, first 100']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
