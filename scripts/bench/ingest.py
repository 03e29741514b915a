"""Single-process ingest rate: records/s through POST /records/batch (SQLite, local signer).

    python scripts/bench/ingest.py [--batches 40] [--batch-size 500] [--clients 1] [--postgres --workers 4]

Bounded and loopback-only. Records look like what the SDK sends (commitments,
not raw payloads, plus a small runtime context). The baseline, measured in the
same run, is the ceiling that canonicalizing each record body with the
`rfc8785` reference package alone would impose (1 / its time per body).
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import requests
import rfc8785

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ledger import postgres_database, running_ledger, sdk_like_batch


def _rfc8785_ceiling(samples: int = 3000) -> float:
    body = {"v": 1, "tenant_id": "ten_0123456789abcdef", "seq": 123456, "prev_hash": "a" * 64, "transaction_id": "loan_123456",
            "policy_id": "credit_policy_v4", "policy_version": "4.2", "decision_type": "loan", "confidence": 0.94,
            "processing_time_ms": 12.5, "input_hash": "b" * 64, "output_hash": "c" * 64, "context_hash": "d" * 64,
            "commitment": "sha256", "payload_ref": None, "recorded_at": "2026-11-23T12:00:00.123456Z"}  # fmt: skip
    start = time.perf_counter()
    for _ in range(samples):
        rfc8785.dumps(body)
    return samples / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--postgres", action="store_true", help="a throwaway database on 127.0.0.1:5432 instead of SQLite")
    parser.add_argument("--workers", type=int, default=0, help="gunicorn worker processes (default: one development-server process)")
    args = parser.parse_args()
    with ExitStack() as stack:
        database_url = stack.enter_context(postgres_database()) if args.postgres else None
        return _measure(args, database_url)


def _measure(args: argparse.Namespace, database_url: str | None) -> int:
    bodies = [sdk_like_batch(i * args.batch_size, args.batch_size) for i in range(args.batches)]
    ceiling = _rfc8785_ceiling()
    with running_ledger(database_url=database_url, workers=args.workers) as ledger:
        session = requests.Session()
        session.headers.update({"X-API-Key": ledger.api_key, "Content-Type": "application/json"})

        def post(body: bytes) -> None:
            response = session.post(ledger.base_url + "/records/batch", data=body, timeout=60)
            response.raise_for_status()
            assert all(r["success"] for r in response.json()["results"])

        post(sdk_like_batch(10**9, 10))  # warm-up: imports, first block, page cache
        start = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(post, bodies))
        elapsed = time.perf_counter() - start
        report = session.get(ledger.base_url + "/verify", timeout=600).json()
    records = args.batches * args.batch_size
    rate = records / elapsed
    backend = f"{'postgresql' if database_url else 'sqlite'}, {args.workers or 1} process(es)"
    print(f"ingest ({backend}): {records} records in {args.batches} batches of {args.batch_size}, {args.clients} client(s): "
          f"{elapsed:.2f} s = {rate:,.0f} records/s (chain verified: {report['ok']}, {report['records']} records)")  # fmt: skip
    print(f"baseline: rfc8785 canonicalization alone caps at {ceiling:,.0f} records/s on this machine, now")
    print(f"ratio: ingest / rfc8785-only ceiling = {rate / ceiling:.2f}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
