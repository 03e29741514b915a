"""The organisation's append-only log (evidence format v2): tiles written with the appends, proofs of any size,
signed checkpoints, and verification that finds a changed tile or checkpoint."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from ledger_service.db import read_connection, write_transaction
from ledger_service.evidence import tree
from ledger_service.evidence.intake import parse_record
from tests.conftest import BACKENDS, Api, LedgerProcess, decision, in_process_app
from xase import note, tlog

ROOT = Path(__file__).resolve().parents[2]


def _leaves(conn: Any, tenant_id: str) -> list[bytes]:
    rows = conn.execute(text("SELECT record_hash FROM records WHERE tenant_id = :t ORDER BY seq"), {"t": tenant_id}).scalars()
    return [tlog.leaf_hash(bytes.fromhex(value)) for value in rows]


def _append(app: Any, tenant_id: str, count: int) -> None:
    ledger = app.extensions["xase.evidence"]
    items = [parse_record(decision(n)) for n in range(count)]
    outcomes = ledger.append(tenant_id, items)
    assert all(outcome.error is None for outcome in outcomes)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    with in_process_app(tmp_path, "sqlite", checkpoint_interval=0.05) as (app, _signer):
        from ledger_service import tenants

        with write_transaction(app.extensions["xase"].engine) as conn:
            app.config["tenant"] = tenants.create_tenant(conn, "acme")["id"]
        yield app


def test_tiles_give_the_tree_of_every_size_as_the_records_do(app: Any) -> None:
    """Appends of uneven sizes cross tile boundaries at levels 0 and 1; every size's root and proofs match the RFC's
    recursion over the records' leaf hashes."""
    engine, tenant = app.extensions["xase"].engine, app.config["tenant"]
    for count in (1, 254, 2, 300, 1000, 63_979, 1, 600):  # 66,137 leaves: 258 full level-0 tiles, one level-1 tile
        _append(app, tenant, count)
    with read_connection(engine) as conn:
        leaves = _leaves(conn, tenant)
        reader = tree.TreeReader(conn, tenant, len(leaves))
        levels = dict(conn.execute(text("SELECT level, COUNT(*) FROM log_tiles GROUP BY level")).all())
        assert levels == {0: len(leaves) // 256, 1: len(leaves) // 65_536}
        memory = tlog.ListSource(leaves)
        for size in (1, 2, 255, 256, 257, 511, 65_535, 65_536, 65_537, len(leaves)):
            assert tlog.tree_hash(reader, size) == tlog.tree_hash(memory, size), size
            for index in {0, size // 3, size - 1}:
                assert tlog.inclusion_proof(reader, index, size) == tlog.inclusion_proof(memory, index, size)
            for old in {1, size // 2, size - 1, 256, 65_536}:
                if old <= size:
                    assert tlog.consistency_proof(reader, old, size) == tlog.consistency_proof(memory, old, size)
        assert tree.check_tree(conn, tenant, _record_hashes(conn, tenant)) is None


def _record_hashes(conn: Any, tenant_id: str) -> Iterator[str]:
    yield from conn.execute(text("SELECT record_hash FROM records WHERE tenant_id = :t ORDER BY seq"), {"t": tenant_id}).scalars()


def test_a_tree_older_than_its_tiles_is_built_by_backfill_and_resumes_where_it_stopped(app: Any) -> None:
    engine, tenant = app.extensions["xase"].engine, app.config["tenant"]
    _append(app, tenant, 256 * 70 + 5)
    with write_transaction(engine) as conn:
        conn.execute(text("DELETE FROM log_tiles"))
    calls = []

    def interrupt(tenant_id: str, covered: int, size: int) -> None:
        calls.append(covered)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tree.backfill(engine, interrupt)
    with read_connection(engine) as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM log_tiles")).scalar() == tree.MAX_BACKFILL_TILES  # the first transaction stayed
    assert tree.backfill(engine) == 70 - tree.MAX_BACKFILL_TILES
    with read_connection(engine) as conn:
        assert tree.check_tree(conn, tenant, _record_hashes(conn, tenant)) is None


@pytest.fixture(scope="module")
def log(ledger: LedgerProcess) -> Api:
    """An organisation with 600 records, shared by the module's tests (which only read)."""
    api = Api(ledger, ledger.new_api_key())
    for start in range(0, 600, 200):
        assert api.post("/records/batch", json={"records": [decision(n) for n in range(start, start + 200)]}).status_code == 200
    return api


def _signed_checkpoint(api: Api, size: int) -> str:
    """The checkpoint once it covers `size` records: one is signed within XASE_CHECKPOINT_INTERVAL (1 s) of an append."""
    for _ in range(100):
        signed = api.get("/log/checkpoint").text
        if f"\n{size}\n" in signed:
            return signed
        time.sleep(0.1)
    raise AssertionError(f"no checkpoint of {size} records: {signed}")


def _verifiers(api: Api) -> list[note.Verifier]:
    keys = api.get("/log/keys").json()
    return [note.parse_vkey(vkey) for vkey in keys["vkeys"]]


def test_the_checkpoint_is_a_signed_note_both_keys_verify(log: Api) -> None:
    answer = log.get("/log/checkpoint")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain")
    signed_note = _signed_checkpoint(log, 600)
    verifiers = _verifiers(log)
    assert [verifier.key_type for verifier in verifiers] == [note.ED25519, note.ECDSA]
    body, signed = note.open_note(signed_note, verifiers)
    assert signed == verifiers  # both lines, both verify
    checkpoint = note.parse_checkpoint(body)
    assert checkpoint.size == 600 and checkpoint.origin.endswith("/log/" + log.get("/stats").json()["tenant_id"])
    for verifier in verifiers:  # either key alone opens it; a wrong key does not
        note.open_note(signed_note, [verifier])
    stranger = note.Verifier(checkpoint.origin, note.ED25519, bytes(32))
    with pytest.raises(note.NoteError):
        note.open_note(signed_note, [stranger])


def test_proofs_verify_against_the_checkpoint(log: Api) -> None:
    body, _ = note.open_note(_signed_checkpoint(log, 600), _verifiers(log))
    checkpoint = note.parse_checkpoint(body)
    records = log.all_records()
    for index in (0, 255, 256, 599):
        proof = log.get("/log/proof/inclusion", params={"index": index, "size": checkpoint.size}).json()
        leaf = tlog.leaf_hash(bytes.fromhex(records[index]["record_hash"]))
        assert base64.b64decode(proof["leaf_hash"]) == leaf
        tlog.verify_inclusion(leaf, index, checkpoint.size, [base64.b64decode(h) for h in proof["proof"]], checkpoint.root)
    for old in (1, 256, 300, 600):
        answer = log.get("/log/proof/consistency", params={"old": old, "size": 600}).json()
        proof = [base64.b64decode(h) for h in answer["proof"]]
        tlog.verify_consistency(old, 600, base64.b64decode(answer["old_root"]), checkpoint.root, proof)


def test_tiles_are_served_as_c2sp_says(log: Api) -> None:
    records = log.all_records()
    full = log.get("/log/tile/0/000")
    assert full.status_code == 200 and "immutable" in full.headers["Cache-Control"]
    assert full.content == b"".join(tlog.leaf_hash(bytes.fromhex(record["record_hash"])) for record in records[:256])
    partial = log.get("/log/tile/0/002.p/88")
    assert partial.status_code == 200 and len(partial.content) == 88 * 32 and partial.headers["Cache-Control"] == "no-cache"
    assert partial.content == b"".join(tlog.leaf_hash(bytes.fromhex(record["record_hash"])) for record in records[512:600])
    level_one = log.get("/log/tile/1/000.p/2").content  # the roots of the two full tiles below
    assert level_one == tlog.perfect_root([full.content[i : i + 32] for i in range(0, 8192, 32)]) + level_one[32:] and len(level_one) == 64
    for beyond in ("0/002", "0/002.p/89", "0/003.p/1", "1/000.p/3", "2/000.p/1"):
        assert log.get(f"/log/tile/{beyond}").status_code == 404, beyond


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/log/proof/inclusion", {"index": 5, "size": 601}),  # beyond the tree
        ("/log/proof/inclusion", {"index": 600, "size": 600}),
        ("/log/proof/inclusion", {"index": "\u0663", "size": 600}),  # an Arabic-Indic digit
        ("/log/proof/inclusion", {"size": 600}),
        ("/log/proof/consistency", {"old": 601, "size": 600}),
        ("/log/proof/consistency", {"old": 1, "size": 10**30}),
        ("/log/tile/0/x000/001", {}),  # not canonical
        ("/log/tile/0/1", {}),
        ("/log/tile/0/000.p/256", {}),
        ("/log/tile/99/000", {}),
    ],
)
def test_what_the_tree_cannot_answer_is_a_clear_400(log: Api, path: str, params: dict[str, Any]) -> None:
    answer = log.get(path, params=params)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "VALIDATION_ERROR"


def test_another_organisations_log_is_its_own(log: Api) -> None:
    other = Api(log.ledger, log.ledger.new_api_key())
    other.record()
    body, _ = note.open_note(_signed_checkpoint(other, 1), _verifiers(other))
    assert note.parse_checkpoint(body).size == 1
    assert other.get("/log/tile/0/000").status_code == 404


# ---------------------------------------------------------------- the Go reference


def _xasecheck(tmp_path: Path) -> Path:
    if shutil.which("go") is None or not Path("/usr/share/gocode/src/golang.org/x/mod/sumdb/note").is_dir():
        pytest.skip("the Go reference is absent: apt-get install golang-go golang-golang-x-mod-dev (.ci/run does)")
    binary = tmp_path / "xasecheck"
    env = {"GO111MODULE": "off", "GOPATH": "/usr/share/gocode", "GOCACHE": str(tmp_path / "gocache"), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=ROOT / "tests/interop/xasecheck", env=env, check=True, timeout=300)
    return binary


def _go(binary: Path, job: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binary)], input=json.dumps(job), capture_output=True, text=True, timeout=120)


def test_the_go_reference_verifies_checkpoint_tiles_and_proofs(log: Api, tmp_path: Path) -> None:
    """golang.org/x/mod/sumdb: note.Open on the checkpoint, tlog.CheckRecord and CheckTree on our proofs, and the tiles
    read through tlog.TileHashReader (which proves each against the root) give the same tree hash and proofs."""
    binary = _xasecheck(tmp_path)
    signed = _signed_checkpoint(log, 600)
    ed25519_vkey = log.get("/log/keys").json()["vkeys"][0]
    records = log.all_records()
    inclusion = []
    for index in (0, 300, 599):
        proof = log.get("/log/proof/inclusion", params={"index": index, "size": 600}).json()["proof"]
        inclusion.append({"index": index, "record_hash": records[index]["record_hash"], "proof": proof})
    consistency = []
    for old in (1, 256, 457):
        answer = log.get("/log/proof/consistency", params={"old": old, "size": 600}).json()
        consistency.append({"old": old, "old_root": answer["old_root"], "proof": answer["proof"]})
    job = {"vkey": ed25519_vkey, "checkpoint": signed, "log_url": log.ledger.base_url + "/log", "api_key": log.key,
           "inclusion": inclusion, "consistency": consistency, "prove_index": [0, 300, 599], "prove_old": [1, 256, 457]}  # fmt: skip
    done = _go(binary, job)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["size"] == 600 and answer["tile_tree_hash"] == answer["root"]
    assert answer["tile_inclusion"] == [item["proof"] for item in inclusion]
    assert answer["tile_consistency"] == [item["proof"] for item in consistency]

    forged = {**job, "log_url": "", "inclusion": [{**inclusion[1], "index": 301}], "consistency": []}
    assert _go(binary, forged).returncode == 1
    bent = [*consistency[1]["proof"]]
    bent[0] = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    assert _go(binary, {**job, "log_url": "", "inclusion": [], "consistency": [{**consistency[1], "proof": bent}]}).returncode == 1
    resigned = signed.replace("\n600\n", "\n601\n")
    assert _go(binary, {**job, "checkpoint": resigned, "log_url": "", "inclusion": [], "consistency": []}).returncode == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_processes_that_sign_the_same_size_at_once_store_one_checkpoint(tmp_path: Path, backend: str) -> None:
    """The append's timer and a reader (or two server processes) may sign the same new size together: one checkpoint is
    stored and every signer answers it (on PostgreSQL the second insert was a 500)."""
    with in_process_app(tmp_path, backend) as (app, _signer):
        from ledger_service import tenants
        from ledger_service.evidence.checkpoints import Checkpointer

        engine, ledger = app.extensions["xase"].engine, app.extensions["xase.evidence"]
        with write_transaction(engine) as conn:
            tenant = tenants.create_tenant(conn, "acme")["id"]
        ledger.checkpointer.interval = 3600.0  # the app's own timer keeps out of the race
        _append(app, tenant, 7)
        processes = [Checkpointer(engine, ledger.checkpointer.keys, 0.05, None, tree.TileCache()) for _ in range(4)]
        start = threading.Barrier(len(processes) * 2)

        def sign(process: Checkpointer) -> int:
            start.wait()
            return process.sign(tenant).size

        with ThreadPoolExecutor(len(processes) * 2) as pool:
            sizes = list(pool.map(sign, processes * 2))
        with read_connection(engine) as conn:
            stored = conn.execute(text("SELECT tree_size FROM log_checkpoints WHERE tenant_id = :t ORDER BY tree_size"), {"t": tenant}).scalars().all()
        assert stored[-1] == 7 and set(sizes) == {7}, (sizes, stored)


@given(st.lists(st.integers(0, 3), max_size=40), st.integers(0, 300))
def test_a_frontier_grown_in_any_steps_has_the_tree_s_root(heights: list[int], tail: int) -> None:
    frontier, leaves = tlog.Frontier(), [tlog.leaf_hash(str(n).encode()) for n in range(800)]
    for height in heights:
        if frontier.size % (1 << height) or frontier.size + (1 << height) > len(leaves) - tail:
            continue
        frontier.append_subtree(tlog.perfect_root(leaves[frontier.size : frontier.size + (1 << height)]), height)
    for leaf in leaves[frontier.size : frontier.size + tail]:
        frontier.append(leaf)
    assert frontier.root() == tlog.tree_hash(tlog.ListSource(leaves), frontier.size)
    assert tlog.Frontier(frontier.size, frontier.hashes).root() == frontier.root()
