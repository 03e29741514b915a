"""`xase-witness` add-checkpoint requests/s, against the same server answering requests that do no work.

    python scripts/bench/witness.py [--logs 8] [--seconds 5]

One `xase-witness serve` process (defaults: the standard library's threaded HTTP server, SQLite state with
synchronous=FULL) follows `--logs` test logs; one client thread per log sends checkpoints one leaf larger each
time, with their consistency proofs, over keep-alive connections, for `--seconds`. The baseline is the same
process answering `GET /` (a 404: parsing, routing and answering, no signature, no proof, no write), measured in
the same run with the same threads. Loopback only.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from cryptography.hazmat.primitives.asymmetric import ed25519

from xase import note, tlog

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
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
