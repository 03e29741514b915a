"""One tenant attacks, another keeps working: the victim's latency, against its own idle latency in the same run.

    python scripts/bench/tenant_isolation.py [--seconds 10] [--backend sqlite|postgresql]

A ledger as `xase-ledger serve` starts by default (gunicorn, a worker per core, at most 4; every setting at its
default, the rate limit of 200 requests/s per key included). Tenant "victim"
records a decision, appends an agent-context turn and reads it back, in a loop, one request at a time (at most
VICTIM_RATE a second). For each attack of the 2026-12-07 review: first alone (idle), then while tenant "attacker",
from its own process at the lowest priority (on another machine in production; here it shares the two cores), runs
the attack with 4 threads:

- hamming:    compute_hamming over its whole base at the byte budget (1,000 chunks of 64 ciphertexts of a 2,048-bit key)
- big pages:  pages of 1,024 turns of a deduplicated 1 MiB payload (view=both)
- enum batch: batch appends of 600 turns of 300 enum fields (an enum of 10,000 labels), 3 MB each

Each line states its settings and the victim's p50 and p99 against idle; the goal is p99 within 2x idle.
Bounded in time and count; loopback only.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing import Event, Queue
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ledger import BenchLedger, postgres_database, running_ledger

THREADS = 4
ATTACKER_NICE = 19
N = (1 << 2047) + 1  # n of 2,048 bits: ciphertexts of 512 bytes, below n^2
CIPHERTEXT = base64.b64encode(((N * N) // 3).to_bytes(512, "little").rstrip(b"\0")).decode()


def _key(ledger: BenchLedger, tenant: str, scopes: list[str]) -> str:
    done = subprocess.run([*ledger.cli, "create-api-key", "--tenant", tenant, "--scopes", *scopes], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _session(key: str) -> requests.Session:
    session = requests.Session()
    session.headers["X-API-Key"] = key
    return session


VICTIM_RATE = 100  # requests/s, half the rate limit: the victim is never refused for its own pace


def _victim(root: str, key: str, seconds: float) -> list[float]:
    """One request at a time, at most VICTIM_RATE a second, for `seconds`: latencies in ms of a decision, a turn
    append and a read of its page."""
    http = _session(key)
    context = http.post(f"{root}/cxdb/v1/contexts/create", json={"base_turn_id": "0"}, timeout=60).json()["context_id"]
    latencies, n, deadline = [], 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        for method, path, body in (("POST", "/api/xase/v1/records", {"policy": "p", "input": {"n": n}, "output": {}}),
                                   ("POST", f"/cxdb/v1/contexts/{context}/append", {"type_id": "note", "type_version": 1, "data": {"n": n}}),
                                   ("GET", f"/cxdb/v1/contexts/{context}/turns?limit=8", None)):  # fmt: skip
            started = time.perf_counter()
            answer = http.request(method, root + path, json=body, timeout=120)
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(max(0.0, 1 / VICTIM_RATE - (time.perf_counter() - started)))
            assert answer.status_code < 300, answer.text[:300]
        n += 1
    return latencies


def _attack(name: str, root: str, key: str, nice: int, ready: Event, stop: Event, counts: Queue) -> None:  # type: ignore[type-arg]
    """The attacker's own process (never the victim's interpreter): sets up the attack, then runs it on THREADS threads."""
    os.nice(nice)
    attack = ATTACKS[name](root, key)
    tally = {"requests": 0, "failures": 0}
    lock = threading.Lock()

    def loop() -> None:
        while not stop.is_set():
            failed = 0
            try:
                attack()
            except requests.RequestException as failure:  # the server dropped the connection: counted, the attack goes on
                failed = 1
                print(f"attacker request failed: {failure}", file=sys.stderr)
            with lock:
                tally["requests"] += 1
                tally["failures"] += failed

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    ready.set()
    for thread in threads:
        thread.join()
    counts.put(tally)


@contextmanager
def _attacking(name: str, root: str, key: str) -> Iterator[dict[str, int]]:
    spawn = multiprocessing.get_context("spawn")
    ready, stop, queue = spawn.Event(), spawn.Event(), spawn.Queue()
    process = spawn.Process(target=_attack, args=(name, root, key, ATTACKER_NICE, ready, stop, queue))
    process.start()
    if not ready.wait(600):
        process.kill()
        raise RuntimeError(f"the {name} attack did not start")
    counts: dict[str, int] = {}
    try:
        yield counts
    finally:
        stop.set()
        counts.update(queue.get(timeout=600))
        process.join(60)


def _hamming(root: str, admin_key: str) -> Callable[[], None]:
    admin = _session(admin_key)
    admin.headers.update({"X-Xtrace-Key": admin_key, "X-Xtrace-Org-Id": "attacker"})
    kb = admin.post(f"{root}/xtrace/v1/kbs", json={"name": "big", "description": ""}, timeout=60).json()["id"]
    data = {"type": "PaillierClient", "sk": "aes", "pk": json.dumps({"n_squared": str(N * N)}), "config": json.dumps({"embed_len": 64, "key_len": 2048})}
    admin.post(f"{root}/xtrace/v1/exec_context/attacker", json={"context_id": "ctx", "data": data}, timeout=60).raise_for_status()
    chunk = {"chunk_content": "c", "index": [CIPHERTEXT] * 64, "meta_data": {}, "name": "n"}
    for _ in range(10):
        admin.post(f"{root}/xtrace/v1/chunk/attacker", json={"kb_id": kb, "context_id": "ctx", "chunks": [chunk] * 100}, timeout=300).raise_for_status()
    body = {"kb_id": kb, "context_id": "ctx", "query": [CIPHERTEXT] * 64}

    def attack() -> None:
        with admin.post(f"{root}/xtrace/v1/compute_hamming/attacker", json=body, timeout=300, stream=True) as answer:
            for _chunk in answer.iter_content(1 << 16):
                pass

    return attack


def _big_pages(root: str, key: str) -> Callable[[], None]:
    http = _session(key)
    context = http.post(f"{root}/cxdb/v1/contexts/create", json={"base_turn_id": "0"}, timeout=60).json()["context_id"]
    big = {"type_id": "note", "type_version": 1, "data": {"text": "x" * (1024 * 1024 - 64)}}
    for _ in range(64):
        http.post(f"{root}/cxdb/v1/contexts/{context}/append", json=big, timeout=120).raise_for_status()

    def attack() -> None:
        http.get(f"{root}/cxdb/v1/contexts/{context}/turns", params={"limit": 1024, "view": "both"}, timeout=300)

    return attack


def _enum_batches(root: str, key: str) -> Callable[[], None]:
    http = _session(key)
    fields = {str(tag): {"name": f"f{tag}", "type": "u16", "enum": "big.Enum"} for tag in range(1, 301)}
    bundle = {"registry_version": 1, "bundle_id": "attack", "types": {"big.Type": {"versions": {"1": {"fields": fields}}}},
              "enums": {"big.Enum": {str(n): f"label{n}" for n in range(1, 10_001)}}}  # fmt: skip
    http.put(f"{root}/cxdb/v1/registry/bundles/attack", json=bundle, timeout=120).raise_for_status()
    turn = {"type_id": "big.Type", "type_version": 1, "data": {f"f{tag}": f"label{10_000 - tag}" for tag in range(1, 301)}}

    def attack() -> None:
        context = http.post(f"{root}/cxdb/v1/contexts/create", json={"base_turn_id": "0"}, timeout=60).json()["context_id"]
        http.post(f"{root}/cxdb/v1/contexts/{context}/append_batch", json={"turns": [turn] * 600}, timeout=300)

    return attack


ATTACKS: dict[str, Callable[[str, str], Callable[[], None]]] = {"hamming": _hamming, "big pages": _big_pages, "enum batch": _enum_batches}


def _summary(latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def run(seconds: float, database_url: str | None, backend: str) -> bool:
    settings = f"{backend}, xase-ledger serve defaults, victim 1 request at a time at most {VICTIM_RATE}/s, attacker {THREADS} threads at nice {ATTACKER_NICE}"
    with running_ledger({"XASE_RATE_LIMIT": "200 per second"}, database_url=database_url, workers=None) as ledger:  # the default
        log = ledger.directory / "ledger.log"
        root = ledger.base_url.removesuffix("/api/xase/v1")
        victim = _key(ledger, "victim", ["records:write", "records:read", "contexts"])
        attacker = _key(ledger, "attacker", ["admin"])
        _victim(root, victim, 1.0)  # warm up every worker
        held = True
        for name in ATTACKS:  # each attack against an idle period measured just before it: the machine's drift is in both
            idle_p50, idle_p99 = _summary(_victim(root, victim, seconds))
            print(f"{'idle:':12} victim p50 {idle_p50:6.1f} ms, p99 {idle_p99:6.1f} ms   [{settings}]")
            with _attacking(name, root, attacker) as counts:
                time.sleep(1.0)  # the attack under way
                p50, p99 = _summary(_victim(root, victim, seconds))
            ratio = p99 / idle_p99
            held = held and ratio <= 2.0 and not counts["failures"]
            print(
                f"{name + ':':12} victim p50 {p50:6.1f} ms, p99 {p99:6.1f} ms, p99 {ratio:4.2f}x idle "
                f"({'within' if ratio <= 2.0 else 'PAST'} 2x; attacker {counts['requests']} requests, {counts['failures']} dropped)   [{settings}]"
            )
        problems = [line for line in log.read_text(errors="replace").splitlines() if "Traceback" in line or "ERROR" in line or "TIMEOUT" in line]
        print(f"server log: {len(problems)} error lines" + "".join(f"\n  {line[:200]}" for line in problems[:10]))
    return held


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    if args.backend == "postgresql":
        with postgres_database() as url:
            return 0 if run(args.seconds, url, "postgresql") else 1
    return 0 if run(args.seconds, None, "sqlite") else 1


if __name__ == "__main__":
    sys.exit(main())
