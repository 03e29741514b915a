"""The organisation's append-only log (evidence format v2): what it costs and how fast it answers.

    python scripts/bench/log.py [--leaves 1000000] [--records 50000] [--before 5e33cbb]

Every line names its settings and its baseline, measured in the same run (SQLite, local keys, loopback):
  1. e2e throughput, SDK defaults -> `xase-ledger serve` defaults, this tree against the same bench on the commit
     before the log (`--before`, checked out in a temporary git worktree): the log's cost on the append path;
  2. a synthetic chain of `--leaves` record rows (random record hashes: only the tree is built from them), its tree
     built by the migration's backfill (`tree.backfill`, as `xase-ledger db upgrade` runs it) against reading the
     same hashes alone; the bytes the tree adds a record (file size after VACUUM) against the records' own;
  3. inclusion and consistency proofs at that size from `xase-ledger serve` defaults, against `GET /log/keys` (an
     authenticated request that reads no tree);
  4. how long after an append a checkpoint covering it is signed, under load (a client posting batches of 500
     without pause), against the promise XASE_CHECKPOINT_INTERVAL + 0.5 s (interval: the default, 1 s).
Bounded; loopback only.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
import sqlalchemy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ledger import running_ledger, sdk_like_batch
from e2e_throughput import _sdk

from ledger_service import tenants
from ledger_service.db import make_engine, migrate, write_transaction
from ledger_service.evidence import tree

ROOT = Path(__file__).resolve().parents[2]


def _e2e(records: int, before: str) -> None:
    """The e2e bench's defaults line on this tree, then on `before`, twice each in turn; the best of each."""
    with tempfile.TemporaryDirectory(prefix="xase-before-") as worktree:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", worktree, before], check=True)
        try:
            now, then = [], []
            for _ in range(2):
                now.append(_sdk(records, None, {})[0])
                then.append(_sdk(records, None, {}, extra_env={"PYTHONPATH": worktree})[0])
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", worktree], check=True)
    print(f"e2e SDK defaults -> serve defaults, with the log (this tree), best of 2     {max(now):>9,.0f} records/s")
    print(f"e2e SDK defaults -> serve defaults, before the log ({before}), best of 2    {max(then):>9,.0f} records/s")
    print(f"ratio: with / without the log = {max(now) / max(then):.3f} (goal: at least 0.90)")


def synthetic_chain(directory: Path, leaves: int) -> tuple[str, str]:
    """A SQLite ledger whose tenant "bench" has `leaves` record rows and no tree yet; (database URL, tenant id)."""
    url = f"sqlite:///{directory / 'ledger.db'}"
    engine = make_engine(url)
    migrate(engine)
    with write_transaction(engine) as conn:
        tenant_id = tenants.create_tenant(conn, "bench")["id"]
    rng = random.Random(7)
    columns = ("tenant_id, seq, prev_hash, transaction_id, policy_id, input_hash, output_hash, context_hash, commitment, "
               "recorded_at, record_hash, block_seq, context_json")  # fmt: skip
    statement = f"INSERT INTO records ({columns}) VALUES (?, ?, ?, ?, 'p', ?, ?, ?, 'sha256', '2026-12-07T00:00:00.000000Z', ?, 0, '{{}}')"
    previous = "0" * 64
    raw = engine.raw_connection()
    try:
        for start in range(0, leaves, 50_000):
            rows = []
            for seq in range(start, min(leaves, start + 50_000)):
                record_hash = rng.randbytes(32).hex()
                rows.append((tenant_id, seq, previous, f"t{seq}", record_hash, record_hash, record_hash, record_hash))
                previous = record_hash
            raw.cursor().executemany(statement, rows)
            raw.commit()
        raw.cursor().execute("UPDATE chain_heads SET next_seq = ?, head_hash = ? WHERE tenant_id = ?", (leaves, previous, tenant_id))
        raw.commit()
    finally:
        raw.close()
    engine.dispose()
    return url, tenant_id


def _vacuumed_size(url: str) -> int:
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as conn:
        conn.exec_driver_sql("VACUUM")
    engine.dispose()
    return os.path.getsize(url.removeprefix("sqlite:///"))


def _build(url: str, tenant_id: str, leaves: int) -> None:
    engine = make_engine(url)
    start = time.perf_counter()
    with engine.connect() as conn:
        hashes = conn.exec_driver_sql("SELECT record_hash FROM records WHERE tenant_id = ? ORDER BY seq", (tenant_id,)).fetchall()
    reading = time.perf_counter() - start
    assert len(hashes) == leaves
    before = _vacuumed_size(url)
    start = time.perf_counter()
    tiles = tree.backfill(engine)
    building = time.perf_counter() - start
    engine.dispose()
    added = _vacuumed_size(url) - before
    print(f"migration: tree of {leaves:,} leaves built by tree.backfill (64 tiles a transaction), {tiles:,} tiles  {building:>7.2f} s")
    print(f"baseline: reading the same {leaves:,} record hashes in seq order                              {reading:>7.2f} s")
    print(f"ratio: build / read = {building / reading:.1f} (goal: build at most 60 s)")
    print(f"storage: the tree adds {added / leaves:.1f} bytes a record (SQLite file after VACUUM); the chain itself {before / leaves:.0f} bytes "
          f"a record; ratio {added / before:.3f} (goal: at most 40 bytes a record)")  # fmt: skip


def _latency(session: requests.Session, url: str, params: list[dict[str, int]]) -> list[float]:
    times = []
    for query in params:
        start = time.perf_counter()
        session.get(url, params=query, timeout=30).raise_for_status()
        times.append((time.perf_counter() - start) * 1000)
    return times


def _line(label: str, times: list[float]) -> float:
    p99 = statistics.quantiles(times, n=100)[98]
    print(f"{label:<86} p50 {statistics.median(times):6.2f} ms  p99 {p99:6.2f} ms")
    return p99


def _proofs(url: str, leaves: int) -> None:
    rng = random.Random(11)
    with running_ledger(database_url=url, workers=None) as ledger:
        session = requests.Session()
        session.headers["X-API-Key"] = ledger.api_key
        session.get(ledger.base_url + "/log/checkpoint", timeout=120).raise_for_status()  # sign the first checkpoint
        inclusion = [{"index": rng.randrange(leaves), "size": leaves} for _ in range(300)]
        consistency = [{"old": rng.randrange(1, leaves), "size": leaves} for _ in range(300)]
        _latency(session, ledger.base_url + "/log/proof/inclusion", inclusion[:30])  # warm the tile cache as a running ledger has it
        floor = _line("baseline: GET /log/keys (authenticated, no tree), serve defaults", _latency(session, ledger.base_url + "/log/keys", [{}] * 300))
        tag = f"serve defaults, {leaves:,} leaves, random"
        inc = _line(f"GET /log/proof/inclusion, {tag} index", _latency(session, ledger.base_url + "/log/proof/inclusion", inclusion))
        con = _line(f"GET /log/proof/consistency, {tag} old size", _latency(session, ledger.base_url + "/log/proof/consistency", consistency))
        print(f"ratio: p99 inclusion / baseline = {inc / floor:.2f}, consistency / baseline = {con / floor:.2f} (goal: each proof at most 5 ms)")


def _checkpoint_delay(seconds: float) -> None:
    with running_ledger(workers=None) as ledger:
        session = requests.Session()
        session.headers.update({"X-API-Key": ledger.api_key, "Content-Type": "application/json"})
        stop = threading.Event()

        def load() -> None:
            first = 10**8
            while not stop.is_set():
                session.post(ledger.base_url + "/records/batch", data=sdk_like_batch(first, 500), timeout=60).raise_for_status()
                first += 500

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        engine = sqlalchemy.create_engine(f"sqlite:///{ledger.directory / 'ledger.db'}")
        probe = requests.Session()
        probe.headers["X-API-Key"] = ledger.api_key
        delays: list[float] = []
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                answer = probe.post(ledger.base_url + "/records", json={"policy": "probe", "input": {}, "output": {}}, timeout=60).json()
                appended, seq = time.perf_counter(), answer["seq"]
                while True:  # read the database, not GET /log/checkpoint, which would sign one on demand
                    with engine.connect() as conn:
                        size = conn.exec_driver_sql("SELECT MAX(tree_size) FROM log_checkpoints").scalar() or 0
                    if size > seq:
                        break
                    time.sleep(0.01)
                delays.append(time.perf_counter() - appended)
                time.sleep(random.uniform(0.05, 0.4))  # probes land anywhere in the checkpoint interval
        finally:
            stop.set()
            loader.join(timeout=60)
            engine.dispose()
    worst = max(delays)
    print(f"checkpoint after an append, serve defaults (interval 1 s), under load: {len(delays)} appends, "
          f"median {statistics.median(delays):.2f} s, max {worst:.2f} s")  # fmt: skip
    print(f"ratio: max / (interval + 0.5 s) = {worst / 1.5:.2f} (goal: at most 1)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--records", type=int, default=50_000, help="records for each e2e run")
    parser.add_argument("--before", default="5e33cbb", help="the commit before the log, for the e2e baseline")
    parser.add_argument("--skip-e2e", action="store_true")
    args = parser.parse_args()
    if not args.skip_e2e:
        _e2e(args.records, args.before)
    with tempfile.TemporaryDirectory(prefix="xase-log-bench-") as directory:
        url, tenant_id = synthetic_chain(Path(directory), args.leaves)
        _build(url, tenant_id, args.leaves)
        _proofs(url, args.leaves)
    _checkpoint_delay(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
