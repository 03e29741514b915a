"""The fault scenarios of issue 6, each against a real ledger process, each returning its Tally.

tests/faults runs them small; scripts/faults/run.py runs them at full length
and writes docs/reliability.md. Every record carries a distinct input, so the
ledger's input_hash column tells exactly which records arrived and whether
any arrived twice, whatever transaction ids the ledger gave them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from tests.conftest import PREFIX, Api, LedgerProcess
from tests.faults.proxy import Fault, FaultProxy, Hit
from xase import XaseClient, evidence
from xase.spool import Spool
from xase.types import ClientStats

__all__ = ["Tally", "sdk_kill_9", "ledger_kill_9", "ledger_down", "storms", "slow_ledger", "exit_with_dead_ledger"]

DEAD_URL = "http://127.0.0.1:9" + PREFIX  # discard port: nothing listens


@dataclass
class Tally:
    """sent: record() returned; acknowledged: the ledger said recorded; present: found in the ledger."""

    scenario: str
    sent: int
    acknowledged: int
    present: int
    duplicates: int
    chain_ok: bool
    figures: dict[str, Any] = field(default_factory=dict)
    settings: str = "SDK defaults"  # the XaseClient options the scenario ran with, as a reader must set them to get its result

    @property
    def lost(self) -> int:
        return self.sent - self.present


class Run:
    """One scenario's records: a run id, the payloads, and what the ledger holds of them."""

    def __init__(self, ledger: LedgerProcess, api_key: str) -> None:
        self.ledger, self.api = ledger, Api(ledger, api_key)
        self.id = uuid.uuid4().hex[:8]

    def payload(self, n: int) -> dict[str, Any]:
        return {"policy": "fault_policy", "input": {"run": self.id, "n": n}, "output": {"decision": "APPROVED"}}

    def tally(self, scenario: str, sent: int, acknowledged: int, settings: str, **figures: Any) -> Tally:
        expected = {evidence.commitment({"run": self.id, "n": n}) for n in range(sent)}
        stored = Counter(record["record"]["input_hash"] for record in self.api.all_records())
        chain_ok = self.api.get("/verify", timeout=120).json()["ok"] is True
        return Tally(scenario, sent, acknowledged, present=len(expected & set(stored)),
                     duplicates=sum(count - 1 for count in stored.values()), chain_ok=chain_ok, figures=figures, settings=settings)  # fmt: skip


def settings(**options: Any) -> str:
    """How a table row states the XaseClient options a scenario set (a spool's directory shown as `spool_path`)."""
    shown = ["spool_path" if name == "spool_path" else f"{name}={value!r}" for name, value in options.items()]
    return ", ".join(shown) if shown else "SDK defaults"


def _wait_drained(client: XaseClient, timeout: float) -> float:
    """Flush until every record is acknowledged; returns the seconds it took."""
    start = time.monotonic()
    client.flush(timeout)
    return time.monotonic() - start


# ---------------------------------------------------------------- 1. SDK killed

_RECORDING_CHILD = """
import sys, time
from xase import XaseClient
xase = XaseClient(api_key={key!r}, base_url={url!r}, spool_path={spool!r}, spool_fsync="batch", queue_full_policy="spill")
start, n = time.monotonic(), 0
while True:
    xase.record({{"policy": "fault_policy", "input": {{"run": {run!r}, "n": n}}, "output": {{"decision": "APPROVED"}}}})
    print(n, flush=True)  # record() returned: from here on this record must survive
    n += 1
    time.sleep(max(0.0, start + n / {rate} - time.monotonic()))
"""


def _wait_for_lines(path: Path, count: int, child: subprocess.Popen[bytes], limit: float = 120) -> None:
    """Until the child has written `count` lines to `path` (each a record() that returned); a hang fails, a dead child fails."""
    deadline = time.monotonic() + limit
    while len(path.read_bytes().split(b"\n")) <= count:
        assert child.poll() is None and time.monotonic() < deadline, f"the recording child stopped early: {path.read_text()[-200:]}"
        time.sleep(0.02)


def sdk_kill_9(ledger: LedgerProcess, api_key: str, workdir: Path, seconds: float, rate: float = 3000) -> Tally:
    """The SDK's process, recording `rate` records/s, is SIGKILLed mid-stream; a new process on the same spool delivers the rest."""
    run, spool, accepted = Run(ledger, api_key), str(workdir / "spool"), workdir / "accepted.txt"
    code = _RECORDING_CHILD.format(key=api_key, url=ledger.base_url, spool=spool, run=run.id, rate=rate)
    with open(accepted, "w") as out:  # a file, not a pipe: a full pipe would stall the child before the kill
        child = subprocess.Popen([sys.executable, "-c", code], stdout=out)
        _wait_for_lines(accepted, int(rate * seconds), child)  # mid-stream by what the child says, not by a clock
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    sent = len(accepted.read_text().split())
    before_restart = len(run.api.all_records())
    left = Spool(spool)  # counted before a client opens it: its worker starts delivering at once
    replayed = len(left)
    left.close()
    already_in: list[int] = []  # replays of records acknowledged just before the kill, whose ack never reached the spool
    restarted = XaseClient(api_key=api_key, base_url=ledger.base_url, spool_path=spool,
                           on_success=lambda result: already_in.append(1) if result.get("replayed") else None)  # fmt: skip
    drain = _wait_drained(restarted, 120)
    acknowledged = before_restart + restarted.get_stats()["sent"] - len(already_in)
    restarted.close()
    # acknowledged may exceed sent by the record being written when the kill came: spooled, never seen returning
    return run.tally("SDK process kill -9 mid-stream", sent, acknowledged,
                     settings(spool_path=spool, spool_fsync="batch", queue_full_policy="spill"), in_ledger_at_kill=before_restart,
                     replayed_from_spool=replayed, already_acknowledged=len(already_in), replay_seconds=round(drain, 2))  # fmt: skip


# ---------------------------------------------------------------- 2. ledger killed


class Recorder:
    """A thread recording `count` records at `rate` per second into `client`."""

    def __init__(self, client: XaseClient, run: Run, count: int, rate: float) -> None:
        self.client, self.run, self.count, self.rate = client, run, count, rate
        self.sent = 0
        self.peak_queue = self.peak_spilled = 0
        self.thread = threading.Thread(target=self._record, daemon=True)

    def _record(self) -> None:
        start = time.monotonic()
        for n in range(self.count):
            self.client.record(self.run.payload(n))
            self.sent += 1
            self.peak_queue = max(self.peak_queue, len(self.client._queue))
            if n % 50 == 0:
                self.peak_spilled = max(self.peak_spilled, self.client.get_stats()["spilled"])
            ahead = start + (n + 1) / self.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)

    def __enter__(self) -> Recorder:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.thread.join()


def ledger_kill_9(ledger: LedgerProcess, api_key: str, workdir: Path, records: int, kills: int, rate: float = 2000, sdk_defaults: bool = False) -> Tally:
    """The ledger is SIGKILLed `kills` times while batches are in flight and restarted on its port; with a spool, or
    with every SDK option at its default (no spool: `retry_deadline` keeps what the ledger could not take)."""
    run = Run(ledger, api_key)
    options: dict[str, Any] = {} if sdk_defaults else {"spool_path": str(workdir / "spool"), "queue_full_policy": "spill", "retry_backoff_max": 1.0}
    client = XaseClient(api_key=api_key, base_url=ledger.base_url, **options)
    port, restarts = ledger.port, []
    with Recorder(client, run, records, rate) as recorder:
        for _ in range(kills):
            time.sleep(records / rate / (kills + 1))
            ledger.stop(signal.SIGKILL)
            down = time.monotonic()
            ledger.start(port=port)
            restarts.append(time.monotonic() - down)
    _wait_drained(client, 120)
    stats = client.get_stats()
    client.close()
    ledger.stop()
    verified = ledger.cli("verify", check=False)
    ledger.start(port=port)
    tally = run.tally("Ledger kill -9 mid-batch, restarted", recorder.sent, stats["sent"], settings(**options), kills=kills,
                      sdk_retries=stats["retries"], failed=stats["failed"], cli_verify_ok=verified.returncode == 0,
                      restart_seconds=round(max(restarts), 2))  # fmt: skip
    tally.chain_ok = tally.chain_ok and verified.returncode == 0
    return tally


# ---------------------------------------------------------------- 3. ledger down


def ledger_down(ledger: LedgerProcess, api_key: str, workdir: Path, down_seconds: float, rate: float = 500, queue_max_size: int = 500) -> Tally:
    """The ledger is down for `down_seconds` while the SDK keeps recording; memory stays bounded, the spool takes the rest."""
    run = Run(ledger, api_key)
    options = {"spool_path": str(workdir / "spool"), "queue_full_policy": "spill", "queue_max_size": queue_max_size, "retry_backoff_max": 1.0}
    client = XaseClient(api_key=api_key, base_url=ledger.base_url, **options)
    port = ledger.port
    ledger.stop(signal.SIGKILL)
    with Recorder(client, run, int(down_seconds * rate), rate) as recorder:
        pass  # records for down_seconds at `rate`
    during = client.get_stats()
    ledger.start(port=port)
    drain = _wait_drained(client, 300)
    stats = client.get_stats()
    client.close()
    return run.tally(f"Ledger down {down_seconds:g} s while recording", recorder.sent, stats["sent"], settings(**options),
                     queue_max_size=queue_max_size, peak_memory_queue=recorder.peak_queue, peak_spilled=recorder.peak_spilled,
                     spooled_at_recovery=during["spooled"], dropped=stats["dropped"], drain_seconds=round(drain, 2))  # fmt: skip


# ---------------------------------------------------------------- 4. 429 storms and 5xx bursts (the proxy serves 5 too)


def _through_proxy(run: Run, records: int, plan: Callable[[int], Optional[Fault]], options: dict[str, Any]) -> tuple[ClientStats, list[Hit]]:
    """Record `records` through a fault proxy following `plan` until all are final; the client's stats and the proxy's log."""
    with FaultProxy(f"http://127.0.0.1:{run.ledger.port}", plan) as proxy:
        client = XaseClient(api_key=run.api.key, base_url=proxy.base_url + PREFIX, **options)
        for n in range(records):
            client.record(run.payload(n))
        _wait_drained(client, 300)
        stats = client.get_stats()
        client.close()
        return stats, list(proxy.hits)


def _storm_plan(n: int) -> Optional[Fault]:
    """Per 12 POSTs: two 429s (Retry-After 0.3 s), a 503, a 500 after the ledger committed, a dropped-after-commit 502."""
    return {
        1: Fault(status=429, retry_after=0.3), 2: Fault(status=429, retry_after=0.3), 5: Fault(status=503),
        7: Fault(status=500, forward=True), 10: Fault(status=502, forward=True),
    }.get(n % 12)  # fmt: skip


def storms(ledger: LedgerProcess, api_key: str, records: int) -> Tally:
    """429 storms and 5xx bursts (some after the ledger committed): backoff honoured, nothing twice, stats account for all."""
    run = Run(ledger, api_key)
    # One batch at a time: a request already on its way when another's 429 arrived cannot have heard it, and the
    # Retry-After check below reads the proxy's order of arrival as the client's order of sending.
    options = {"batch_size": 50, "flush_interval": 0.02, "retry_backoff": 0.02, "queue_max_size": records, "max_retries": 8, "retry_backoff_max": 2.0,
               "max_in_flight": 1}  # fmt: skip
    stats, hits = _through_proxy(run, records, _storm_plan, options)
    early = _early_retries(hits)
    injected = sum(1 for hit in hits if hit.fault is not None)
    accounted = stats["sent"] + stats["failed"] + stats["dropped"] + stats["size"] + stats["in_flight"]
    return run.tally("429 storms and 5xx bursts", records, stats["sent"], settings(**options), injected_faults=injected, requests=len(hits),
                     sdk_retries=stats["retries"], retry_after_violations=early, stats_accounted=accounted)  # fmt: skip


def _early_retries(hits: list[Hit]) -> int:
    """Requests that came sooner after a 429 than its Retry-After allowed (one worker: requests are sequential)."""
    ordered = sorted(hits, key=lambda hit: hit.at)
    return sum(1 for hit, after in zip(ordered, ordered[1:]) if hit.status == 429 and after.at - hit.at < (hit.fault.retry_after or 0) - 0.01)


# ---------------------------------------------------------------- 5. slow ledger


def slow_ledger(ledger: LedgerProcess, api_key: str, records: int, timeout: float = 0.5) -> Tally:
    """Every 4th answer is held past the client's timeout after the ledger committed: retries must not duplicate."""
    run = Run(ledger, api_key)

    def plan(n: int) -> Optional[Fault]:
        return Fault(forward=True, delay=timeout + 0.5) if n % 4 == 1 else None

    options = {"batch_size": 50, "flush_interval": 0.02, "retry_backoff": 0.02, "queue_max_size": records, "timeout": timeout, "max_retries": 5}
    stats, hits = _through_proxy(run, records, plan, options)
    delayed = sum(1 for hit in hits if hit.fault is not None)
    return run.tally(f"Slow ledger (answers held {timeout + 0.5:g} s > timeout {timeout:g} s)", records, stats["sent"], settings(**options),
                     delayed_answers=delayed, sdk_retries=stats["retries"], failed=stats["failed"])  # fmt: skip


# ---------------------------------------------------------------- 6. exit with a dead ledger

_EXITING_CHILD = """
import logging, sys, time
logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
from xase import XaseClient
xase = XaseClient(api_key="xase_pk_dead", base_url={url!r}, atexit_timeout={budget!r}, {spool})
for n in range({records}):
    xase.record({{"policy": "fault_policy", "input": {{"n": n}}, "output": {{}}}})
print(time.monotonic(), flush=True)
"""


def exit_with_dead_ledger(workdir: Path, records: int, budget: float = 2.0, spool: bool = False) -> Tally:
    """The interpreter exits with records queued and no ledger: bounded by the atexit budget, the loss reported."""
    spool_option = f"spool_path={str(workdir / 'spool')!r}, " if spool else ""
    code = _EXITING_CHILD.format(url=DEAD_URL, budget=budget, spool=spool_option, records=records)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    ended = time.monotonic()
    exit_seconds = ended - float(done.stdout.split()[-1])
    reported = re.search(r"(\d+) record\(s\) not confirmed before exit", done.stderr)
    failed_earlier = re.search(r"(\d+) failed earlier", done.stderr)
    kept = 0
    if spool:
        left = Spool(workdir / "spool")
        kept = len(left)
        left.close()
    shown = settings(atexit_timeout=budget, **({"spool_path": "spool"} if spool else {}))
    return Tally(f"Interpreter exit, dead ledger{' (spool)' if spool else ''}", records, 0, present=0, duplicates=0, chain_ok=True, settings=shown,
                 figures={"exit_seconds": round(exit_seconds, 2), "atexit_budget": budget, "returncode": done.returncode,
                          "reported_undelivered": int(reported.group(1)) if reported else None, "kept_in_spool": kept,
                          "reported_failed_earlier": int(failed_earlier.group(1)) if failed_earlier else 0,
                          "log": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""})  # fmt: skip
