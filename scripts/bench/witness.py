"""Witnessing: `xase-witness` add-checkpoint requests/s, and what two witnesses cost a ledger.

    python scripts/bench/witness.py [--logs 8] [--seconds 5] [--records 20000]

Part 1, the witness alone:
One `xase-witness serve` process (defaults: the standard library's threaded HTTP server, SQLite state with
synchronous=FULL) follows `--logs` test logs; one client thread per log sends checkpoints one leaf larger each
time, with their consistency proofs, over keep-alive connections, for `--seconds`. The baseline is the same
process answering `GET /` (a 404: parsing, routing and answering, no signature, no proof, no write), measured in
the same run with the same threads.

Part 2, a ledger with two local witnesses (`xase-ledger serve` defaults, SQLite, XASE_WITNESSES naming both,
`xase-witness serve` defaults): records/s from one `XaseClient` with SDK defaults, against the same ledger settings
without witnesses in the same run; then how long after an append both witnesses' cosignatures of a checkpoint
covering it are stored, from when that checkpoint is in the database (the goal's line), and from the append (which
adds the wait for the checkpoint itself, at most XASE_CHECKPOINT_INTERVAL = 1 s).
Loopback only.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
import sqlalchemy
from cryptography.hazmat.primitives.asymmetric import ed25519

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ledger import running_ledger

from xase import XaseClient, note, tlog

PROBES = 40
LEAVES = [tlog.leaf_hash(hashlib.sha256(str(n).encode()).digest()) for n in range(20_000)]
TREE = tlog.ListSource(LEAVES)


def _signed(key: ed25519.Ed25519PrivateKey, origin: str, size: int) -> str:
    text = note.format_checkpoint(note.Checkpoint(origin, size, tlog.tree_hash(TREE, size)))
    verifier = note.ed25519_verifier(origin, key.public_key())
    return text + "\n" + note.signature_line(origin, verifier.key_id, key.sign(text.encode()))


def _run(threads: list[threading.Thread], seconds: float, counts: list[int]) -> float:
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    total = sum(counts)
    for thread in threads:
        thread.join()
    return total / seconds


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_witness(directory: Path, name: str, port: int, log_vkey: str) -> subprocess.Popen[bytes]:
    cli = [sys.executable, "-m", "xase.witness.cli"]
    subprocess.run([*cli, "init", "--key", str(directory / f"{name}.pem"), "--name", f"bench.witness/{name}"], check=True, capture_output=True)
    return subprocess.Popen([*cli, "serve", "--key", str(directory / f"{name}.pem"), "--name", f"bench.witness/{name}", "--state",
                             str(directory / f"{name}.db"), "--port", str(port), "--log", log_vkey],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def _vkey(directory: Path, name: str) -> str:
    cli = [sys.executable, "-m", "xase.witness.cli", "init", "--key", str(directory / f"{name}.pem"), "--name", f"bench.witness/{name}"]
    return subprocess.run(cli, check=True, capture_output=True, text=True).stdout.strip()


def _records_per_second(base_url: str, api_key: str, records: int) -> float:
    with XaseClient(api_key=api_key, base_url=base_url) as client:
        start = time.perf_counter()
        for n in range(records):
            while n % 100 == 0 and client.get_stats()["size"] > client.config.queue_max_size - 1000:
                time.sleep(0.001)
            client.record({"policy": "bench", "input": {"n": n}, "output": {"decision": "APPROVED"}})
        client.flush(timeout_s=600)
        return records / (time.perf_counter() - start)


def _ledger_part(records: int) -> None:
    with tempfile.TemporaryDirectory(prefix="xase-witnessed-bench-") as tmp:
        directory = Path(tmp)
        ports = [_free_port(), _free_port()]
        vkeys = [_vkey(directory, name) for name in ("w1", "w2")]
        witnesses_env = ";".join(f"http://127.0.0.1:{port} {vkey}" for port, vkey in zip(ports, vkeys))
        processes = []
        with running_ledger({"XASE_WITNESSES": witnesses_env}, workers=None) as ledger:
            log_vkey = requests.get(ledger.base_url + "/log/keys", headers={"X-API-Key": ledger.api_key}, timeout=10).json()["vkeys"][0]
            processes = [_start_witness(directory, name, port, log_vkey) for name, port in zip(("w1", "w2"), ports)]
            try:
                time.sleep(1)
                witnessed = _records_per_second(ledger.base_url, ledger.api_key, records)
                engine = sqlalchemy.create_engine(f"sqlite:///{ledger.directory / 'ledger.db'}")
                probe = requests.Session()
                probe.headers["X-API-Key"] = ledger.api_key
                delays, after_checkpoint = [], []
                for _ in range(PROBES):
                    seq = probe.post(ledger.base_url + "/records", json={"policy": "probe", "input": {}, "output": {}}, timeout=30).json()["seq"]
                    appended, checkpointed = time.perf_counter(), 0.0
                    while True:  # the database, not GET /log/checkpoint, which would sign a checkpoint on demand
                        with engine.connect() as conn:
                            if not checkpointed and conn.exec_driver_sql("SELECT MAX(tree_size) FROM log_checkpoints").scalar() > seq:
                                checkpointed = time.perf_counter()
                            count = conn.exec_driver_sql("SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM log_cosignatures WHERE tree_size > ? "
                                                         "GROUP BY tree_size)", (seq,)).scalar()  # fmt: skip
                        if (count or 0) >= 2:
                            break
                        time.sleep(0.005)
                    delays.append(time.perf_counter() - appended)
                    after_checkpoint.append(time.perf_counter() - (checkpointed or appended))
                    time.sleep(random.uniform(0.1, 0.5))  # probes land anywhere in the checkpoint interval
                engine.dispose()
            finally:
                for process in processes:
                    process.terminate()
        with running_ledger(workers=None) as ledger:
            alone = _records_per_second(ledger.base_url, ledger.api_key, records)
    p99 = statistics.quantiles(delays, n=100)[98]
    p99_witnessed = statistics.quantiles(after_checkpoint, n=100)[98]
    print(f"e2e SDK defaults -> serve defaults, 2 local witnesses (xase-witness defaults): {witnessed:>9,.0f} records/s")
    print(f"e2e SDK defaults -> serve defaults, no witnesses (baseline):                 {alone:>9,.0f} records/s")
    print(f"ratio: with / without witnesses = {witnessed / alone:.3f} (goal: at least 0.95)")
    print(f"checkpoint signed -> both cosignatures stored, serve defaults, {PROBES} appends: median "
          f"{statistics.median(after_checkpoint):.3f} s, p99 {p99_witnessed:.3f} s (goal: p99 at most 2 s)")  # fmt: skip
    print(f"append -> both cosignatures stored (includes the checkpoint interval, 1 s), serve defaults, {PROBES} appends: median "
          f"{statistics.median(delays):.2f} s, p99 {p99:.2f} s")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args()
    _ledger_part(args.records)
    keys = [ed25519.Ed25519PrivateKey.generate() for _ in range(args.logs)]
    origins = [f"bench.example/log/{n}" for n in range(args.logs)]
    # the checkpoints and proofs are made before the clock starts: the bench measures the witness, not the client
    bodies = []
    for key, origin in zip(keys, origins):
        steps = []
        for size in range(1, 4001):
            proof = tlog.consistency_proof(TREE, size - 1, size) if size > 1 else []
            steps.append((f"old {size - 1}\n" + "".join(base64.b64encode(h).decode() + "\n" for h in proof) + "\n" + _signed(key, origin, size)).encode())
        bodies.append(steps)
    with tempfile.TemporaryDirectory(prefix="xase-witness-bench-") as tmp:
        directory = Path(tmp)
        cli = [sys.executable, "-m", "xase.witness.cli"]
        subprocess.run([*cli, "init", "--key", str(directory / "w.pem"), "--name", "bench.witness/w1"], check=True, capture_output=True)
        command = [*cli, "serve", "--key", str(directory / "w.pem"), "--name", "bench.witness/w1", "--state", str(directory / "state.db"),
                   "--port", "0", "--port-file", str(directory / "port")]  # fmt: skip
        for key, origin in zip(keys, origins):
            command += ["--log", note.ed25519_verifier(origin, key.public_key()).vkey]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while not ((directory / "port").exists() and (directory / "port").read_text()):
                time.sleep(0.02)
            url = f"http://127.0.0.1:{(directory / 'port').read_text()}"
            stop = threading.Event()

            def floor(counts: list[int], slot: int) -> None:
                session = requests.Session()
                while not stop.is_set():
                    session.get(url + "/", timeout=10)
                    counts[slot] += 1

            def witness(counts: list[int], slot: int) -> None:
                session = requests.Session()
                for body in bodies[slot]:
                    if stop.is_set():
                        return
                    answer = session.post(url + "/add-checkpoint", data=body, timeout=10)
                    assert answer.status_code == 200, answer.text
                    counts[slot] += 1

            for label, target in (("baseline: GET / (a 404, no work)", floor), ("add-checkpoint, consistent, cosigned", witness)):
                stop.clear()
                counts = [0] * args.logs
                threads = [threading.Thread(target=target, args=(counts, slot)) for slot in range(args.logs)]
                timer = threading.Timer(args.seconds, stop.set)
                timer.start()
                rate = _run(threads, args.seconds, counts)
                print(f"xase-witness serve defaults, {args.logs} logs x 1 client each: {label:<40} {rate:>8,.0f} requests/s")
                if target is floor:
                    baseline = rate
            print(f"ratio: add-checkpoint / baseline = {rate / baseline:.2f} (goal: at least 500 add-checkpoint requests/s)")
        finally:
            process.terminate()
            process.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
