"""`xase monitor`: how long its first sync of a large log takes, and a pass when nothing changed.

    python scripts/bench/monitor.py [--leaves 1000000]

A synthetic chain of `--leaves` records (as scripts/bench/log.py builds it: random record hashes, the tree built by
the migration's backfill) is served by `xase-ledger serve` defaults (SQLite, gunicorn, local keys). Then, in the
same run:
  baseline: every level-0 tile of the log fetched with the monitor's own HTTP client (`LogMonitor.tile`, 8 at
            once), nothing verified or kept (after one such pass to warm the ledger's caches);
  1. `Monitor.check` with its defaults on an empty state directory: checkpoint and keys, every tile, every leaf
     hash on disk, the root recomputed from them and compared with the signed one (goal: at most 60 s);
  2. `Monitor.check` again with nothing new: the copy's frontier gives the root, no tile is read.
Loopback only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ledger import running_ledger
from log import synthetic_chain

from ledger_service.db import make_engine
from ledger_service.evidence import tree
from xase import tlog
from xase.log_monitor import CheckpointStore, LogMonitor
from xase.monitor import FETCHERS, Monitor


def _fetch_only(log_url: str, api_key: str, size: int, state: Path) -> float:
    log = LogMonitor(log_url, api_key, CheckpointStore(state / "fetch-only.json"))
    start = time.perf_counter()
    with ThreadPoolExecutor(FETCHERS) as fetchers:
        tiles = fetchers.map(lambda index: log.tile(0, index, min(256, size - index * 256)), range((size + 255) // 256))
        fetched = sum(len(tile) for tile in tiles)
    seconds = time.perf_counter() - start
    log.close()
    assert fetched == size * tlog.HASH_SIZE
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xase-monitor-bench-") as directory:
        url, _tenant_id = synthetic_chain(Path(directory), args.leaves)
        engine = make_engine(url)
        tree.backfill(engine)
        engine.dispose()
        with running_ledger(database_url=url, workers=None) as ledger:
            log_url = ledger.base_url + "/log"
            requests.get(log_url + "/checkpoint", headers={"X-API-Key": ledger.api_key}, timeout=120).raise_for_status()  # sign one
            state = Path(directory) / "monitor"
            state.mkdir()
            _fetch_only(log_url, ledger.api_key, args.leaves, state)  # warm the ledger's caches for both lines alike
            floor = _fetch_only(log_url, ledger.api_key, args.leaves, state)
            monitor = Monitor(state, api_key=ledger.api_key)
            start = time.perf_counter()
            synced = monitor.check(log_url)
            first = time.perf_counter() - start
            assert synced.size == synced.new_entries == args.leaves, synced
            start = time.perf_counter()
            again = monitor.check(log_url)
            idle = time.perf_counter() - start
            assert again.new_entries == 0
    settings = f"serve defaults (SQLite), {args.leaves:,} entries"
    print(f"baseline: every level-0 tile fetched, {FETCHERS} at once, nothing verified, {settings}   {floor:>7.2f} s")
    print(f"Monitor.check defaults, first sync (fetch, verify every leaf, keep the copy), {settings}   {first:>7.2f} s")
    print(f"Monitor.check defaults, again with nothing new, {settings}                          {idle:>7.3f} s")
    print(f"ratio: first sync / fetch alone = {first / floor:.2f}; first sync {first:.1f} s (goal: at most 60 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
