"""Receipts v2: a record's place in its organisation's log, as a `tlog` member of the JSON receipt and as a C2SP
tlog-proof; `xase verify` checks both, against a checkpoint the auditor holds; and clients that kept a checkpoint
catch a log that rewrites its history, even re-signed with the ledger's own keys."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from ledger_service import auth, tenants
from ledger_service.db import write_transaction
from tests.conftest import BACKENDS, Api, LedgerProcess, ScriptedServer, decision, in_process_app
from xase import cli, evidence, note, tlogproof
from xase.log_monitor import CheckpointStore, LogInconsistency, LogMonitor, LogUnavailable


def _wait_for_checkpoint(api: Api, size: int) -> str:
    for _ in range(200):  # one is signed within XASE_CHECKPOINT_INTERVAL (1 s here) of the last append
        signed = api.get("/log/checkpoint").text
        if f"\n{size}\n" in signed:
            return signed
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint of {size} records")


def _append(api: Api, batches: int, tag: str = "") -> None:
    for batch in range(batches):  # one block each
        records = [decision(batch * 10 + n, **({"output": {"decision": tag}} if tag else {})) for n in range(10)]
        assert api.post("/records/batch", json={"records": records}).status_code == 200


@pytest.fixture(scope="module")
def log(ledger: LedgerProcess) -> Api:
    """40 records in four blocks, and a checkpoint of all of them."""
    api = Api(ledger, ledger.new_api_key())
    _append(api, 4)
    _wait_for_checkpoint(api, 40)
    return api


def _receipt(api: Api, index: int, **params: str) -> Any:
    transaction_id = api.all_records()[index]["transaction_id"]
    return api.get(f"/receipts/{transaction_id}", params=params)


def _verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = cli.main(["verify", *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_the_json_receipt_carries_the_record_s_place_in_the_log(log: Api) -> None:
    receipt = _receipt(log, 17).json()
    member = receipt["tlog"]
    assert member["index"] == 17 and "\n40\n" in member["checkpoint"] and len(member["vkeys"]) == 2
    evidence.verify_receipt(receipt)  # the receipt's own keys
    pem = receipt["public_key"]["pem"]
    evidence.verify_receipt(receipt, trusted_keys=[pem])  # the block key also signs the checkpoint's ECDSA line
    evidence.verify_receipt(receipt, trusted_keys=[pem], log_keys=log.get("/log/keys").json()["vkeys"][:1])  # Ed25519 alone


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m.update(index=18),
        lambda m: m.update(inclusion_proof=m["inclusion_proof"][::-1]),
        lambda m: m.update(inclusion_proof=m["inclusion_proof"][:-1]),
        lambda m: m.update(checkpoint=m["checkpoint"].replace("\n40\n", "\n41\n")),
        lambda m: m.update(checkpoint=m["checkpoint"].split("\n\n")[0] + "\n\n"),
        lambda m: m.update(inclusion_proof=["not base64!"]),
        lambda m: m.update(index="17"),
    ],
    ids=["index", "proof order", "proof short", "checkpoint size", "signatures gone", "not base64", "index as text"],
)
def test_a_changed_log_member_fails_at_step_tlog(log: Api, change: Any) -> None:
    receipt = _receipt(log, 17).json()
    change(receipt["tlog"])
    with pytest.raises(evidence.VerificationError) as failure:
        evidence.verify_receipt(receipt)
    assert failure.value.step == "tlog"


def test_a_log_key_the_auditor_does_not_trust_fails(log: Api) -> None:
    receipt = _receipt(log, 3).json()
    stranger = note.Verifier(note.parse_checkpoint(note.split_note(receipt["tlog"]["checkpoint"])[0]).origin, note.ED25519, bytes(32))
    other_block_key = "sha256:" + "0" * 64
    with pytest.raises(evidence.VerificationError, match="public_key"):
        evidence.verify_receipt(receipt, trusted_keys=[other_block_key], log_keys=[stranger.vkey])
    receipt["tlog"]["vkeys"] = [stranger.vkey]  # the receipt's own keys do not help a receipt whose block key is trusted
    evidence.verify_receipt(receipt, trusted_keys=[receipt["public_key"]["pem"]])


def test_the_tlog_proof_is_c2sp_text_that_xase_verify_checks(log: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answer = _receipt(log, 25, format="tlog-proof")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain")
    proof = tlogproof.parse_tlog_proof(answer.text)
    assert answer.text.startswith("c2sp.org/tlog-proof@v1\nextra ") and proof.index == 25
    assert evidence.loads(proof.extra or b"") == _receipt(log, 25).json()["record"]  # the record's body, as extra
    path = tmp_path / "25.tlog-proof"
    path.write_text(answer.text)
    vkeys = log.get("/log/keys").json()["vkeys"]
    code, out = _verify(capsys, str(path), "--log-key", vkeys[0])
    assert code == 0 and "leaf 25 of 40" in out and out.rstrip().endswith("tlog proof verified"), out
    assert _verify(capsys, str(path))[0] == 2  # a tlog proof carries no keys: it is not taken on its own word
    stranger = note.Verifier(note.parse_checkpoint(note.split_note(proof.checkpoint)[0]).origin, note.ED25519, bytes(32))
    code, out = _verify(capsys, str(path), "--log-key", stranger.vkey)
    assert code == 1 and "step tlog" in out
    record = json.loads(proof.extra or b"")
    forged = tlogproof.LogProof(proof.index, proof.proof, proof.checkpoint, json.dumps({**record, "confidence": 0.1}).encode())
    path.write_text(tlogproof.format_tlog_proof(forged))
    code, out = _verify(capsys, str(path), "--log-key", vkeys[0])
    assert code == 1 and "step tlog" in out and "inclusion proof" in out


def test_a_proof_checks_against_a_checkpoint_the_auditor_holds(ledger: LedgerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    api = Api(ledger, ledger.new_api_key())
    _append(api, 2)
    held = tmp_path / "held.note"
    held.write_text(_wait_for_checkpoint(api, 20))
    _append(api, 1)
    _wait_for_checkpoint(api, 30)
    receipt = tmp_path / "receipt.json"
    receipt.write_text(_receipt(api, 29).text)
    assert _verify(capsys, str(receipt), "--checkpoint", str(held))[0] == 2  # another size needs a consistency proof
    consistency = tmp_path / "consistency.json"
    consistency.write_text(api.get("/log/proof/consistency", params={"old": 20, "size": 30}).text)
    code, out = _verify(capsys, str(receipt), "--checkpoint", str(held), "--consistency", str(consistency))
    assert code == 0 and "consistent with the one held (20 records)" in out, out
    bent = json.loads(consistency.read_text())
    bent["proof"][0] = base64.b64encode(bytes(32)).decode()
    consistency.write_text(json.dumps(bent))
    code, out = _verify(capsys, str(receipt), "--checkpoint", str(held), "--consistency", str(consistency))
    assert code == 1 and "step consistency" in out


@pytest.fixture
def slow_checkpoints(tmp_path: Path) -> Iterator[tuple[FlaskClient, str]]:
    """An in-process ledger that signs a checkpoint at most once an hour."""
    with in_process_app(tmp_path, "sqlite", checkpoint_interval=3600) as (app, _signer):
        with write_transaction(app.extensions["xase"].engine) as conn:
            tenant = tenants.create_tenant(conn, "acme")
            key = auth.create_api_key(conn, tenant["id"], "k", ["records:write", "records:read"])["secret"]
        yield app.test_client(), key


def test_a_record_no_checkpoint_covers_yet_has_a_receipt_without_a_log_member(slow_checkpoints: tuple[FlaskClient, str]) -> None:
    client, key = slow_checkpoints
    headers = {"X-API-Key": key}
    first = client.post("/api/xase/v1/records", json=decision(0), headers=headers).get_json()["transaction_id"]
    assert "tlog" in client.get(f"/api/xase/v1/receipts/{first}", headers=headers).get_json()  # the first checkpoint is signed at once
    second = client.post("/api/xase/v1/records", json=decision(1), headers=headers).get_json()["transaction_id"]
    receipt = client.get(f"/api/xase/v1/receipts/{second}", headers=headers).get_json()
    assert "tlog" not in receipt
    evidence.verify_receipt(receipt)
    pending = client.get(f"/api/xase/v1/receipts/{second}?format=tlog-proof", headers=headers)
    assert pending.status_code == 503 and pending.headers["Retry-After"] == "3600"
    assert pending.get_json()["error"]["code"] == "CHECKPOINT_PENDING"
    unknown = client.get(f"/api/xase/v1/receipts/{second}?format=xml", headers=headers)
    assert unknown.status_code == 400 and unknown.get_json()["error"]["code"] == "VALIDATION_ERROR"


# ---------------------------------------------------------------- a log that rewrites its history


def _rewrite_from(ledger: LedgerProcess, tenant_id: str, first_seq: int) -> None:
    """What an operator with the database and the keys could do: drop the chain from a block on, and its tree and
    checkpoints; the ledger then appends new records there, hashes them and signs blocks and checkpoints anew."""
    blocks = ledger.sql("SELECT block_seq, first_seq, block_hash, head_record_hash FROM blocks WHERE tenant_id = :t ORDER BY block_seq", t=tenant_id)
    cut = next(block for block in blocks if block["first_seq"] == first_seq)
    before = blocks[cut["block_seq"] - 1]
    for table, column, position in (("records", "seq", first_seq), ("blocks", "block_seq", cut["block_seq"])):
        ledger.sql(f"DELETE FROM {table} WHERE tenant_id = :t AND {column} >= :p", t=tenant_id, p=position)
    ledger.sql("DELETE FROM log_tiles WHERE tenant_id = :t", t=tenant_id)
    ledger.sql("DELETE FROM log_checkpoints WHERE tenant_id = :t", t=tenant_id)
    ledger.sql(
        "UPDATE chain_heads SET next_seq = :s, head_hash = :h, next_block_seq = :b, head_block_hash = :bh WHERE tenant_id = :t",
        s=first_seq, h=before["head_record_hash"], b=cut["block_seq"], bh=before["block_hash"], t=tenant_id,
    )  # fmt: skip


@pytest.fixture(params=BACKENDS)
def fresh_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerProcess]:
    """A ledger of the test's own that signs a checkpoint at most every 0.1 s."""
    process = LedgerProcess(tmp_path, env={"XASE_CHECKPOINT_INTERVAL": "0.1"}, backend=request.param).start()
    yield process
    process.destroy()


def test_every_client_that_kept_a_checkpoint_catches_a_rewritten_history(
    fresh_ledger: LedgerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    api = Api(fresh_ledger, fresh_ledger.new_api_key())
    monkeypatch.setenv("XASE_API_KEY", api.key)
    shell = ("--log", fresh_ledger.base_url + "/log", "--store", str(tmp_path / "shell.json"))  # `xase verify --log`, a third client
    tenant_id = api.get("/stats").json()["tenant_id"]
    early, late = (LogMonitor(fresh_ledger.base_url + "/log", api.key, CheckpointStore(tmp_path / name)) for name in ("early.json", "late.json"))
    _append(api, 4)
    _wait_for_checkpoint(api, 40)
    assert early.check().pinned_now
    _append(api, 2)
    _wait_for_checkpoint(api, 60)
    assert late.check().checkpoint.size == 60
    code, out = _verify(capsys, *shell)
    assert code == 0 and "first seen at 60 records" in out, out
    held = {name: (tmp_path / name).read_text() for name in ("early.json", "late.json")}

    fresh_ledger.stop()
    _rewrite_from(fresh_ledger, tenant_id, 20)  # 40 records from seq 20 on, their decision changed
    fresh_ledger.start(port=fresh_ledger.port)
    _append(api, 4, tag="DENIED")
    _wait_for_checkpoint(api, 60)
    assert fresh_ledger.cli("verify", check=False).returncode == 0  # the rewritten chain is whole: only a client can tell
    with pytest.raises(LogInconsistency) as caught:
        early.check()  # 40 then 60: the consistency proof does not reach the root it signed at 40
    assert caught.value.kind == "fork" and "\n40\n" in caught.value.seen
    with pytest.raises(LogInconsistency) as caught:
        late.check()  # 60 and 60, two roots
    assert caught.value.kind == "fork"
    code, out = _verify(capsys, *shell)
    assert code == 1 and "LOG INCONSISTENT: fork" in out and "checkpoint seen before:" in out, out

    fresh_ledger.stop()
    _rewrite_from(fresh_ledger, tenant_id, 20)
    fresh_ledger.start(port=fresh_ledger.port)
    _append(api, 1, tag="DENIED")
    _wait_for_checkpoint(api, 30)
    for client in (early, late):
        with pytest.raises(LogInconsistency) as caught:
            client.check()
        assert caught.value.kind == "rollback"
        client.close()
    assert {name: (tmp_path / name).read_text() for name in held} == held  # nothing a misbehaving log says is kept


# ---------------------------------------------------------------- a log open to everyone


def test_an_organisation_can_open_its_log_to_everyone_read_only(ledger: LedgerProcess, tmp_path: Path) -> None:
    reader = Api(ledger, ledger.new_api_key("open-log"))
    owner = Api(ledger, ledger.new_api_key("open-log", scopes=["admin"]))
    stranger = Api(ledger, ledger.new_api_key())
    _append(reader, 1)
    tenant_id = reader.get("/stats").json()["tenant_id"]
    public = f"{ledger.base_url}/logs/{tenant_id}"
    anyone = requests.Session()
    assert anyone.get(public + "/checkpoint").status_code == 404  # private by default, as an unknown organisation is
    assert stranger.get(f"/logs/{tenant_id}/checkpoint").status_code == 404
    assert reader.get(f"/logs/{tenant_id}/checkpoint").status_code == 200  # its own keys read it at either address
    assert reader.request("PUT", "/log/visibility", json={"public": True}).status_code == 403  # opening it takes the admin scope
    assert owner.request("PUT", "/log/visibility", json={"public": "yes"}).status_code == 400
    opened = owner.request("PUT", "/log/visibility", json={"public": True}).json()
    assert opened["public"] is True and opened["transaction_id"].startswith("lgv_")
    change = reader.get(f"/records/{opened['transaction_id']}").json()
    assert change["record"]["policy_id"] == "xase.log" and change["record"]["seq"] == 10  # the change is in the chain
    assert reader.post("/records", json={**decision(0), "transaction_id": "lgv_" + "0" * 24}).status_code == 400  # only the ledger writes it

    _wait_for_checkpoint(reader, 11)
    assert "\n11\n" in anyone.get(public + "/checkpoint").text
    assert anyone.get(public + "/log/tile/0/000.p/11").status_code == 404
    assert len(anyone.get(public + "/tile/0/000.p/11").content) == 11 * 32
    assert anyone.post(public + "/checkpoint").status_code == 405  # read-only
    monitor = LogMonitor(public, store=CheckpointStore(tmp_path / "store.json"))  # no key at all
    assert monitor.check().checkpoint.size == 11 and monitor.consistency_proof(3, 11)
    monitor.close()

    owner.request("PUT", "/log/visibility", json={"public": False})
    assert anyone.get(public + "/checkpoint").status_code == 404 and reader.get("/log/visibility").json() == {"public": False}


@pytest.mark.parametrize("path, answer", [("/checkpoint", b"x" * (1 << 20)), ("/tile/0/000.p/3", bytes(97)), ("/keys", b"{" * 70_000)])
def test_a_log_answering_more_than_its_cap_is_unavailable_not_read(path: str, answer: bytes, tmp_path: Path) -> None:
    flood = ScriptedServer(lambda _s: (200, {"Content-Type": "application/octet-stream"}, answer))
    monitor = LogMonitor(flood.url, store=CheckpointStore(tmp_path / "store.json"))
    try:
        with pytest.raises(LogUnavailable, match="the answer is over"):
            {"/checkpoint": monitor.current_note, "/tile/0/000.p/3": lambda: monitor.tile(0, 0, 3), "/keys": lambda: monitor._verifiers("o", [])}[path]()
    finally:
        monitor.close()
        flood.stop()
