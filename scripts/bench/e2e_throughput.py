"""Records/s delivered and chained from one XaseClient to one ledger process (SQLite, local signer).

    python scripts/bench/e2e_throughput.py [--records 50000]

The SDK records as fast as the caller can (fire-and-forget, batch_size 500),
then flushes; the clock stops when every record is acknowledged. Baseline,
same run: the same ledger fed pre-built SDK-like batches directly over HTTP
(the ledger's own ceiling). Bounded; loopback only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ledger import running_ledger, sdk_like_batch

from xase import XaseClient


def _ledger_ceiling(base_url: str, api_key: str, records: int) -> float:
    bodies = [sdk_like_batch(10**8 + i * 500, 500) for i in range(records // 500)]
    session = requests.Session()
    session.headers.update({"X-API-Key": api_key, "Content-Type": "application/json"})
    start = time.perf_counter()
    for body in bodies:
        session.post(base_url + "/records/batch", data=body, timeout=60).raise_for_status()
    return len(bodies) * 500 / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    args = parser.parse_args()
    with running_ledger() as ledger:
        client = XaseClient(api_key=ledger.api_key, base_url=ledger.base_url, batch_size=500, queue_max_size=args.records,
                            flush_interval=0.05, atexit_timeout=0)  # fmt: skip
        start = time.perf_counter()
        for n in range(args.records):
            client.record({"policy": "credit_policy_v4", "input": {"user_id": f"u_{n}", "amount": n}, "output": {"decision": "APPROVED"},
                           "confidence": 0.94, "transaction_id": f"e2e_{n}"})  # fmt: skip
        enqueued = time.perf_counter() - start
        client.flush(timeout_s=600)
        elapsed = time.perf_counter() - start
        stats = client.get_stats()
        client.close()
        ceiling = _ledger_ceiling(ledger.base_url, ledger.api_key, min(args.records, 20_000))
        chain = requests.get(ledger.base_url + "/verify", headers={"X-API-Key": ledger.api_key}, timeout=600).json()
    rate = stats["sent"] / elapsed
    print(f"e2e: {stats['sent']} of {args.records} records acknowledged in {elapsed:.2f} s = {rate:,.0f} records/s "
          f"(record() loop took {enqueued:.2f} s; failed {stats['failed']}, dropped {stats['dropped']}, batches {stats['batches']})")  # fmt: skip
    print(f"baseline: the same ledger fed pre-built batches directly: {ceiling:,.0f} records/s")
    print(f"ratio: e2e / ledger ceiling = {rate / ceiling:.2f}; chain verified: {chain['ok']} ({chain['records']} records)")
    return 0 if chain["ok"] and stats["sent"] == args.records else 1


if __name__ == "__main__":
    sys.exit(main())
