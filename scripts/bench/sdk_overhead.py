"""Caller-side cost of XaseClient.record() vs Segment's analytics-python track(), same run.

    python scripts/bench/sdk_overhead.py [--calls 100000]

Both clients run as in production: fire-and-forget, background thread alive,
queue large enough never to drop; both point at an unreachable loopback port,
so neither's network time lands on the caller. The payload's input is ~300
bytes of JSON. segment-analytics-python is installed here if missing (bench
only; it is not a dependency of Xase).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

DEAD_URL = "http://127.0.0.1:9"

INPUT = {
    "user_id": "u_4829", "application_id": "app_2026_11_23_000042", "amount": 50000, "term_months": 36,
    "credit_score": 720, "annual_income": 85000.5, "employment": "full_time", "years_employed": 6,
    "region": "EU-West", "existing_loans": 1, "debt_to_income": 0.31, "flags": ["returning", "verified_id"],
    "channel": "mobile_app",
}  # fmt: skip
OUTPUT = {"decision": "APPROVED", "limit": 12000, "rate": 0.069}


def _segment() -> object:
    if importlib.util.find_spec("segment") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "segment-analytics-python"], check=True)
    from segment.analytics import Client

    logging.getLogger("segment").setLevel(logging.CRITICAL)
    return Client("bench-write-key", host=DEAD_URL, max_queue_size=1_000_000, upload_interval=0.2, max_retries=1)


COMMON = "queue_max_size=1,000,000 (never full), max_retries=1, atexit_timeout=0"


def bench_client(**options: Any) -> Any:
    """A fire-and-forget XaseClient as in production, pointed at an unreachable port, its queue never full."""
    from xase import XaseClient

    return XaseClient(api_key="xase_pk_bench", base_url=DEAD_URL + "/api/xase/v1", queue_max_size=1_000_000, atexit_timeout=0,
                      max_retries=1, **options)  # fmt: skip


def recorder(client: Any) -> Callable[[int], object]:
    """record(n): one decision with the bench's input, transaction id loan_n."""

    def record(n: int) -> object:
        return client.record({"policy": "credit_policy_v4", "input": INPUT, "output": OUTPUT, "confidence": 0.94,
                              "transaction_id": f"loan_{n}"})  # fmt: skip

    return record


def _timed(call: Callable[[int], object], calls: int) -> list[int]:
    clock = time.perf_counter_ns
    samples = [0] * calls
    for n in range(calls):
        start = clock()
        call(n)
        samples[n] = clock() - start
    return samples


def _summary(name: str, samples: list[int]) -> float:
    ordered = sorted(samples)
    median = statistics.median(ordered) / 1000
    p99 = ordered[int(len(ordered) * 0.99)] / 1000
    print(f"{name:<70} median {median:6.2f} µs   p99 {p99:7.2f} µs   ({len(samples)} calls)")
    return median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args()
    logging.getLogger("xase").setLevel(logging.CRITICAL)
    xase = bench_client()
    segment = _segment()
    print(f"input payload: {len(json.dumps(INPUT))} bytes of JSON")
    record = recorder(xase)

    def track(n: int) -> object:
        return segment.track(user_id="u_4829", event="credit_policy_v4", properties={"input": INPUT, "output": OUTPUT},  # type: ignore[attr-defined]
                             context={"confidence": 0.94}, message_id=f"loan_{n}")  # fmt: skip

    previous = bench_client(batch_size=100, max_in_flight=1)
    with tempfile.TemporaryDirectory(prefix="xase-spool-") as spool_path:
        spooled = bench_client(spool_path=spool_path, spool_fsync="batch")
        record_spooled, record_previous = recorder(spooled), recorder(previous)

        for warm in (record, track, record_spooled, record_previous):
            _timed(warm, 2000)
        print(f"every xase line: {COMMON}, to a dead ledger; other options as the line says")
        ours = _summary("xase XaseClient.record(), otherwise SDK defaults", _timed(record, args.calls))
        _summary("xase record(), previous defaults (batch_size=100, max_in_flight=1)", _timed(record_previous, args.calls))
        theirs = _summary("segment track(), max_queue_size=1e6, upload_interval=0.2, max_retries=1", _timed(track, args.calls))
        durable = _summary("xase record(), spool_path, spool_fsync='batch'", _timed(record_spooled, args.calls))
        print(f"ratio: track() median / record() median = {theirs / ours:.1f}x; with the spool {theirs / durable:.1f}x")
        spooled.close(timeout_s=0.1)
    previous.close(timeout_s=0.1)
    xase.close(timeout_s=0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
