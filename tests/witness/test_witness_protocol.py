"""`xase-witness` answers C2SP tlog-witness add-checkpoint as the protocol says, as a real process on loopback:
every status, a cosignature (tlog-cosignature v1) that verifies, state that survives a restart, and one winner when
requests race for the same old size. The log is a test log we sign ourselves, and then a real ledger's."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Api, LedgerProcess, decision
from tests.evidence.test_log import _go, _xasecheck
from xase import note, tlog, tlogproof
from xase.witness.protocol import Witness
from xase.witness.state import WitnessState

ORIGIN = "test.example/log/1"
LEAVES = [tlog.leaf_hash(hashlib.sha256(str(n).encode()).digest()) for n in range(300)]
TREE = tlog.ListSource(LEAVES)


@dataclass
class WitnessProcess:
    directory: Path
    logs: list[str]
    name: str = "witness.test/w1"
    process: subprocess.Popen[bytes] | None = None
    url: str = ""

    @property
    def vkey(self) -> str:
        return self._cli("init", "--key", str(self.directory / "witness.pem"), "--name", self.name).strip()

    def _cli(self, *args: str) -> str:
        return subprocess.run([sys.executable, "-m", "xase.witness.cli", *args], capture_output=True, text=True, check=True, timeout=60).stdout

    def start(self) -> WitnessProcess:
        port_file = self.directory / "port"
        port_file.unlink(missing_ok=True)
        vkey = self.vkey
        command = [sys.executable, "-m", "xase.witness.cli", "serve", "--key", str(self.directory / "witness.pem"), "--name", self.name,
                   "--state", str(self.directory / "state.db"), "--port", "0", "--port-file", str(port_file)]  # fmt: skip
        for log in self.logs:
            command += ["--log", log]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(self.directory / "witness.log", "ab"))
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text()):
            assert time.monotonic() < deadline and self.process.poll() is None, (self.directory / "witness.log").read_text()
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{port_file.read_text()}"
        self.cosigner = note.parse_vkey(vkey)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def add(self, old: int, proof: list[bytes], checkpoint: str) -> requests.Response:
        body = f"old {old}\n" + "".join(base64.b64encode(node).decode() + "\n" for node in proof) + "\n" + checkpoint
        return requests.post(self.url + "/add-checkpoint", data=body.encode(), timeout=10)


LOG_KEY = ed25519.Ed25519PrivateKey.generate()
LOG = note.ed25519_verifier(ORIGIN, LOG_KEY.public_key())


def _signed(size: int, root: bytes | None = None, key: ed25519.Ed25519PrivateKey = LOG_KEY, origin: str = ORIGIN) -> str:
    text = note.format_checkpoint(note.Checkpoint(origin, size, tlog.tree_hash(TREE, size) if root is None else root))
    verifier = note.ed25519_verifier(origin, key.public_key())
    return text + "\n" + note.signature_line(origin, verifier.key_id, key.sign(text.encode()))


@pytest.fixture
def witness(tmp_path: Path) -> Iterator[WitnessProcess]:
    process = WitnessProcess(tmp_path, [LOG.vkey]).start()
    yield process
    process.stop()


def test_a_consistent_checkpoint_is_cosigned_and_its_size_remembered(witness: WitnessProcess) -> None:
    first = witness.add(0, [], _signed(100))
    assert first.status_code == 200 and first.text.startswith("\u2014 witness.test/w1 ") and first.text.endswith("\n")
    text, signers = note.open_note(_signed(100) + first.text, [witness.cosigner])
    assert signers == [witness.cosigner]
    signature = note.split_note(_signed(100) + first.text)[1][-1].signature
    assert abs(note.cosignature_time(signature) - time.time()) < 60 and text.startswith(ORIGIN)
    grown = witness.add(100, tlog.consistency_proof(TREE, 100, 250), _signed(250))
    assert grown.status_code == 200
    stale = witness.add(100, tlog.consistency_proof(TREE, 100, 260), _signed(260))
    assert (stale.status_code, stale.text, stale.headers["Content-Type"]) == (409, "250\n", "text/x.tlog.size")
    witness.stop()
    witness.start()  # the size cosigned is on disk
    assert witness.add(0, [], _signed(260)).text == "250\n"
    assert witness.add(250, tlog.consistency_proof(TREE, 250, 250), _signed(250)).status_code == 200  # the same tree again


@pytest.mark.parametrize(
    ("old", "proof", "checkpoint", "status"),
    [
        (0, [], _signed(10, origin="other.example/log"), 404),  # not a log it follows (signed by that log, even)
        (0, [], _signed(10, key=ed25519.Ed25519PrivateKey.generate()), 403),  # no trusted signature
        (0, [], _signed(10).replace(base64.b64encode(tlog.tree_hash(TREE, 10)).decode(), base64.b64encode(bytes(32)).decode()), 403),
        (11, [], _signed(10), 400),  # old above the checkpoint's size
        (0, [], _signed(0, root=bytes(32)), 422),  # the empty tree's root is SHA-256 of nothing
        (0, [bytes(32)], _signed(10), 422),  # a proof from size 0
    ],
    ids=["unknown log", "unknown key", "bad signature", "old above size", "empty root", "proof from zero"],
)
def test_every_refusal_has_the_protocol_s_status(witness: WitnessProcess, old: int, proof: list[bytes], checkpoint: str, status: int) -> None:
    assert witness.add(old, proof, checkpoint).status_code == status


def test_an_inconsistent_checkpoint_is_never_cosigned(witness: WitnessProcess) -> None:
    assert witness.add(0, [], _signed(100)).status_code == 200
    forked = [*LEAVES[:50], hashlib.sha256(b"rewritten").digest(), *LEAVES[51:]]
    fork = tlog.ListSource(forked)
    refused = witness.add(100, tlog.consistency_proof(fork, 100, 200), _signed(200, root=tlog.tree_hash(fork, 200)))
    assert refused.status_code == 422
    assert witness.add(100, [], _signed(100, root=tlog.tree_hash(fork, 100))).status_code == 422  # same size, other root
    assert witness.add(0, [], _signed(1)).text == "100\n"  # still where it was


@pytest.mark.parametrize("body", [b"", b"old 1", b"old 01\n\n" + _signed(5).encode(), b"old 0\nnot base64\n\n" + _signed(5).encode(), b"\xff\xfe",
                                  b"old 0\n\n" + b"x" * 70_000])  # fmt: skip
def test_malformed_requests_are_400s(witness: WitnessProcess, body: bytes) -> None:
    answer = requests.post(witness.url + "/add-checkpoint", data=body, timeout=10)
    assert answer.status_code in (400, 413), answer.text


def test_of_requests_racing_from_one_old_size_exactly_one_is_cosigned(witness: WitnessProcess) -> None:
    assert witness.add(0, [], _signed(100)).status_code == 200
    sizes = list(range(101, 121))
    with ThreadPoolExecutor(len(sizes)) as pool:
        answers = list(pool.map(lambda size: witness.add(100, tlog.consistency_proof(TREE, 100, size), _signed(size)), sizes))
    winners = [size for size, answer in zip(sizes, answers) if answer.status_code == 200]
    assert len(winners) == 1 and all(answer.status_code == 409 and answer.text == f"{winners[0]}\n" for answer in answers if answer.status_code != 200)


def test_a_ledger_s_log_is_witnessed(ledger: LedgerProcess, tmp_path: Path) -> None:
    api = Api(ledger, ledger.new_api_key())
    api.post("/records/batch", json={"records": [decision(n) for n in range(30)]})
    for _ in range(100):
        signed = api.get("/log/checkpoint").text
        if "\n30\n" in signed:
            break
        time.sleep(0.05)
    witness = WitnessProcess(tmp_path, [api.get("/log/keys").json()["vkeys"][0]]).start()
    try:
        cosigned = witness.add(0, [], signed)
        assert cosigned.status_code == 200
        note.open_note(signed + cosigned.text, [witness.cosigner])
        api.post("/records/batch", json={"records": [decision(n) for n in range(30, 40)]})
        for _ in range(100):
            later = api.get("/log/checkpoint").text
            if "\n40\n" in later:
                break
            time.sleep(0.05)
        proof = [base64.b64decode(h) for h in api.get("/log/proof/consistency", params={"old": 30, "size": 40}).json()["proof"]]
        assert witness.add(30, proof, later).status_code == 200
    finally:
        witness.stop()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=600) | st.sampled_from([f"old {n}\n{line}\n".encode() + _signed(n).encode() for n in (0, 5) for line in ("", "AAAA")]))
def test_any_body_is_an_answer_of_the_protocol(tmp_path: Path, body: bytes) -> None:
    witness = Witness("witness.test/w1", ed25519.Ed25519PrivateKey.generate(), {ORIGIN: [LOG]}, WitnessState(tmp_path / "fuzz.db"))
    try:
        assert witness.add_checkpoint(body).status in (200, 400, 403, 404, 409, 422)
    finally:
        witness.state.close()


def test_cosignatures_interoperate_with_go_both_ways(witness: WitnessProcess, tmp_path: Path) -> None:
    """tests/interop/xasecheck verifies our witness's cosignature through golang.org/x/mod/sumdb/note's Verifier
    interface and Go's crypto/ed25519; a cosignature Go makes verifies in xase; a changed one fails both ways."""
    binary = _xasecheck(tmp_path)
    signed = _signed(120)
    line = witness.add(0, [], signed).text
    job = {"vkey": LOG.vkey, "checkpoint": signed + line, "witnesses": [witness.cosigner.vkey]}
    assert _go(binary, job).returncode == 0, _go(binary, job).stderr
    bent = line[:-3] + ("A" if line[-3] != "A" else "B") + line[-2:]
    assert _go(binary, {**job, "checkpoint": signed + bent}).returncode == 1

    seed = ed25519.Ed25519PrivateKey.generate()
    raw = seed.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    done = _go(binary, {"vkey": LOG.vkey, "checkpoint": signed, "cosign_seed": raw.hex(), "cosign_name": "go.witness/w1"})
    assert done.returncode == 0, done.stderr
    go_line = json.loads(done.stdout)["cosignature"]
    go_witness = note.cosigner_verifier("go.witness/w1", seed.public_key())
    assert tlogproof.verify_witnesses(signed + go_line, [go_witness], 1) == [go_witness]
    signature = note.split_note(signed + go_line)[1][-1].signature
    later = note.Signature("go.witness/w1", go_witness.key_id, (note.cosignature_time(signature) + 1).to_bytes(8, "big") + signature[8:])
    with pytest.raises(tlogproof.TlogProofError):  # the timestamp is signed too
        tlogproof.verify_witnesses(signed + later.line, [go_witness], 1)


def _stream(witness: WitnessProcess, start: int, acknowledged: list[int], stop: threading.Event) -> None:
    """Checkpoints of one more leaf each, from `start`, until told to stop or refused; each size cosigned appended."""
    current = start
    while not stop.is_set() and current < 200:
        try:
            answer = witness.add(current, tlog.consistency_proof(TREE, current, current + 1) if current else [], _signed(current + 1))
        except requests.RequestException:
            return
        if answer.status_code != 200:
            return
        current += 1
        acknowledged.append(current)


def test_a_witness_killed_mid_update_never_forgets_a_size_it_cosigned(witness: WitnessProcess) -> None:
    """kill -9 at random points of a stream of growing checkpoints: after each restart the witness holds at least the
    size of every cosignature it sent (it commits before it answers), and still refuses a fork from there."""
    rng, size = random.Random(5), 0
    for _round in range(4):
        acknowledged, stop = [size], threading.Event()
        sender = threading.Thread(target=_stream, args=(witness, size, acknowledged, stop))
        sender.start()
        time.sleep(rng.uniform(0.05, 0.3))
        assert witness.process is not None
        witness.process.send_signal(signal.SIGKILL)
        witness.process.wait(timeout=10)
        stop.set()
        sender.join(timeout=10)
        witness.start()
        held = witness.add(len(LEAVES) - 2, [], _signed(len(LEAVES) - 1))  # an old size it does not hold: the 409 tells the one it does
        assert held.status_code == 409
        size = int(held.text)
        assert size >= acknowledged[-1] > 0, (size, acknowledged[-1])
    fork = tlog.ListSource([*LEAVES[: size - 1], hashlib.sha256(b"fork").digest(), *LEAVES[size:]])
    assert witness.add(size, tlog.consistency_proof(fork, size, size + 5), _signed(size + 5, root=tlog.tree_hash(fork, size + 5))).status_code == 422
