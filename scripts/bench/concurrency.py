"""Many synchronous clients, one tenant: throughput, chain integrity and signatures per 10k records.

    python scripts/bench/concurrency.py [--records 20000] [--clients 32]

Each client sends single records (POST /records), as synchronous SDK callers
do. Runs: SQLite with one process; PostgreSQL with 4 gunicorn processes, with
group commit and, as the same-run baseline, without it. After each run the
chain is verified and checked for gaps and duplicates. Bounded; loopback only.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ledger import postgres_database, running_ledger


def _run(label: str, records: int, clients: int, database_url: Optional[str], workers: int, group_commit: bool) -> dict[str, float]:
    env = {"XASE_GROUP_COMMIT": "1" if group_commit else "0"}
    with running_ledger(env, database_url=database_url, workers=workers) as ledger:
        acknowledged = [0] * clients
        per_client = records // clients

        def client(number: int) -> None:
            session = requests.Session()
            session.headers["X-API-Key"] = ledger.api_key
            for n in range(per_client):
                body = {"policy": "credit_policy_v4", "input_hash": "a" * 64, "output_hash": "b" * 64, "transaction_id": f"c{number}_{n}"}
                if session.post(ledger.base_url + "/records", json=body, timeout=120).status_code == 201:
                    acknowledged[number] += 1

        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
        headers = {"X-API-Key": ledger.api_key}
        report = requests.get(ledger.base_url + "/verify", headers=headers, timeout=600).json()
        stats = requests.get(ledger.base_url + "/stats", headers=headers, timeout=60).json()
    total = sum(acknowledged)
    result = {"rate": total / elapsed, "signatures_per_10k": stats["blocks"] / max(total, 1) * 10_000}
    print(f"{label:<44} {total} acknowledged, {stats['records']} in chain, chain ok: {report['ok']}, "
          f"{result['rate']:,.0f} records/s, {stats['blocks']} blocks = {result['signatures_per_10k']:,.0f} signatures per 10k records")  # fmt: skip
    if not report["ok"] or stats["records"] != total:
        raise SystemExit(f"{label}: chain check failed: {report}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    _run("sqlite, 1 process, group commit", args.records, args.clients, None, 0, True)
    if args.skip_postgres:
        return 0
    with postgres_database() as url:
        grouped = _run("postgresql, 4 processes, group commit", args.records, args.clients, url, 4, True)
    with postgres_database() as url:
        single = _run("postgresql, 4 processes, no group commit", args.records, args.clients, url, 4, False)
    print(f"ratio: signatures per 10k records, group commit / none = {grouped['signatures_per_10k'] / single['signatures_per_10k']:.3f}; "
          f"throughput {grouped['rate'] / single['rate']:.2f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
