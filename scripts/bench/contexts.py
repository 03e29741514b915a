"""The agent context store: appends through xase.contexts.Client, deep reads, and deduplication.

    python scripts/bench/contexts.py [--turns 20000] [--depth 100000] [--workload 10000]

One ledger process (gunicorn, one worker; SQLite) on a loopback port, driven by one client process.
1. Appends: `append_turns` (batches of 1000, each turn with its idempotency key) and `append_turn`
   one at a time. Baseline, same run: the same number of decision records through
   `POST /records/batch` (500 per request, as the SDK sends them), the ledger's core ingest.
2. `get_turns(limit=64)` at the head of a context 100,000 turns deep, and at a random depth
   (`before_turn_id`), median and p99 of 200 calls each. Baseline, same run: the same call on a
   context 64 turns deep (a depth-independent read has a ratio near 1).
3. A generated 10,000-turn agent workload with repeated content (a 2 KiB system prompt, tool
   schemas and tool answers drawn from small pools, unique user and assistant text): the store's
   dedup_hit_rate and storage_bytes, against the bytes of every turn's payload stored alone.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ledger import running_ledger, sdk_like_batch

from xase.contexts import Client

NOTE = "com.example.Note"


def _turns(count: int, start: int = 0) -> list[dict[str, object]]:
    return [{"type_id": NOTE, "type_version": 1, "data": {"role": "user", "n": n, "text": f"turn {n}"}} for n in range(start, start + count)]


def _timed(action: object) -> float:
    started = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - started


def appends(client: Client, base_url: str, api_key: str, count: int) -> None:
    context = client.create_context().context_id
    batch_s = _timed(lambda: client.append_turns(context, _turns(count)))
    single_count = min(count, 1000)
    single_context = client.create_context().context_id
    single_s = _timed(lambda: [client.append_turn(single_context, turn) for turn in _turns(single_count)])
    session = requests.Session()
    session.headers.update({"X-API-Key": api_key, "Content-Type": "application/json"})
    bodies = [sdk_like_batch(first, 500) for first in range(0, count, 500)]
    records_s = _timed(lambda: [session.post(base_url + "/records/batch", data=body, timeout=60).raise_for_status() for body in bodies])
    print(f"append_turns      {count:>7} turns  {count / batch_s:>9,.0f} turns/s   (batches of 1000)")
    print(f"append_turn       {single_count:>7} turns  {single_count / single_s:>9,.0f} turns/s   (one request each)")
    print(f"baseline records  {count:>7} recs   {count / records_s:>9,.0f} records/s (POST /records/batch, 500 each)")
    print(f"ratio append_turns / records batch: {records_s / batch_s:.2f}")


def _latencies(call: object, times: int = 200) -> tuple[float, float]:
    samples = sorted(_timed(call) * 1000 for _ in range(times))
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def deep_reads(client: Client, depth: int) -> None:
    context = client.create_context().context_id
    started = time.perf_counter()
    appended = []
    for start in range(0, depth, 1000):
        appended += client.append_turns(context, _turns(min(1000, depth - start), start))
    print(f"built a context {depth:,} turns deep in {time.perf_counter() - started:.1f}s")
    shallow = client.create_context().context_id
    client.append_turns(shallow, _turns(64))
    base_median, base_p99 = _latencies(lambda: client.get_turns(shallow, limit=64))
    head_median, head_p99 = _latencies(lambda: client.get_turns(context, limit=64))
    picks = random.Random(7).choices(appended[1000:], k=200)
    iterator = iter(picks)
    deep_median, deep_p99 = _latencies(lambda: client.get_turns(context, limit=64, before_turn_id=next(iterator).turn_id))
    print(f"get_turns(limit=64) at depth 64        median {base_median:6.2f} ms  p99 {base_p99:6.2f} ms  (baseline)")
    print(f"get_turns(limit=64) at depth {depth:,}   median {head_median:6.2f} ms  p99 {head_p99:6.2f} ms  ratio {head_median / base_median:.2f}")
    print(f"  ... before a random turn (depth >1000) median {deep_median:6.2f} ms  p99 {deep_p99:6.2f} ms  ratio {deep_median / base_median:.2f}")


def dedup_workload(client: Client, turns: int) -> None:
    rng = random.Random(11)
    system = {"role": "system", "text": "You are a careful loan assistant. " * 60}  # ~2 KiB, in every conversation
    schemas = [{"role": "tool", "text": f"schema {n}: " + "field:string;" * 40} for n in range(8)]
    answers = [{"role": "tool", "text": f"credit_score={600 + n}"} for n in range(40)]
    payloads: list[dict[str, object]] = []
    conversation = 0
    while len(payloads) < turns:
        conversation += 1
        payloads.append(system)
        for step in range(rng.randint(4, 12)):
            kind = rng.random()
            if kind < 0.25:
                payloads.append(rng.choice(schemas))
            elif kind < 0.55:
                payloads.append(rng.choice(answers))
            else:
                payloads.append({"role": "user" if step % 2 else "assistant", "text": f"conversation {conversation} step {step}: {rng.random()}"})
    payloads = payloads[:turns]
    before = client.stats()
    context = client.create_context().context_id
    client.append_turns(context, [{"type_id": NOTE, "type_version": 1, "data": data} for data in payloads])
    after = client.stats()
    stored = after["storage_bytes"] - before["storage_bytes"]
    import msgpack

    alone = sum(len(msgpack.packb(dict(sorted(data.items())))) for data in payloads)
    blobs = after["blobs"] - before["blobs"]
    print(f"dedup workload    {turns:,} turns -> {blobs:,} blobs, dedup hit rate {(turns - blobs) / turns:.3f} (store-wide {after['dedup_hit_rate']})")
    print(f"storage_bytes     {stored:,} bytes vs {alone:,} bytes with every payload stored alone: ratio {stored / alone:.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20_000)
    parser.add_argument("--depth", type=int, default=100_000)
    parser.add_argument("--workload", type=int, default=10_000)
    args = parser.parse_args()
    with running_ledger(workers=1, scopes=["contexts", "records:write", "records:read"], extra_env={"XASE_CXDB_SEAL_INTERVAL": "0"}) as ledger:
        client = Client(ledger.base_url.replace("/api/xase/v1", "/cxdb"), api_key=ledger.api_key)
        appends(client, ledger.base_url, ledger.api_key, args.turns)
        deep_reads(client, args.depth)
        dedup_workload(client, args.workload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
