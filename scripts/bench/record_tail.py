"""What `XaseClient.record()`'s tail owes to CPython's garbage collector: the same calls with it on and off.

    python scripts/bench/record_tail.py [--calls 100000]

Only our client runs (fire-and-forget, worker alive, pointed at an unreachable
loopback port, queue large enough never to drop), so no other library's thread
takes the GIL. Each queued record keeps ~5 tracked containers (the payload's
deep copy and its queue entry), so a generation-0 collection comes every ~140
calls. Baseline, same run: the calls with the collector disabled.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sdk_overhead import _summary, _timed, bench_client, recorder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args()
    logging.getLogger("xase").setLevel(logging.CRITICAL)
    client = bench_client()
    record = recorder(client)

    _timed(record, 2000)
    collected = gc.get_stats()
    _summary("record(), collector on", samples := _timed(record, args.calls))
    runs = sum(generation["collections"] for generation in gc.get_stats()) - sum(generation["collections"] for generation in collected)
    gc.disable()
    _summary("record(), collector off", off := _timed(record, args.calls))
    gc.enable()
    on_p99, off_p99 = sorted(samples)[int(args.calls * 0.99)], sorted(off)[int(args.calls * 0.99)]
    print(f"collections during the {args.calls} calls with it on: {runs}; ratio of p99s, on / off = {on_p99 / off_p99:.2f}")
    client.close(timeout_s=0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
