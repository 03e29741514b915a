"""A ledger with two witnesses (real processes on loopback): checkpoints come back cosigned, witnessed receipts
verify with `xase verify --witness`, a dead witness delays nothing but its own cosignatures, and a history the
operator rewrites with the real keys is cosigned by no one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.conftest import Api, LedgerProcess, ScriptedServer, decision, tamper, until
from tests.evidence.test_log_receipts import _rewrite_from
from tests.witness.test_witness_protocol import WitnessProcess
from xase import XaseClient, XaseError, cli, evidence, note


@pytest.fixture
def witnessed(tmp_path: Path) -> Iterator[tuple[LedgerProcess, Api, list[WitnessProcess]]]:
    ledger = LedgerProcess(tmp_path / "ledger", env={"XASE_CHECKPOINT_INTERVAL": "0.1"})
    ledger.directory.mkdir()
    ledger.start()
    api = Api(ledger, ledger.new_api_key("acme"))
    log_vkey = api.get("/log/keys").json()["vkeys"][0]  # the log's key and origin, which the witnesses follow
    ledger.stop()
    witnesses = []
    for name in ("w1", "w2"):
        (tmp_path / name).mkdir()
        witnesses.append(WitnessProcess(tmp_path / name, [log_vkey], f"witness.test/{name}").start())
    ledger.env["XASE_WITNESSES"] = ";".join(f"{witness.url} {witness.cosigner.vkey}" for witness in witnesses)
    ledger.start()
    try:
        yield ledger, api, witnesses
    finally:
        ledger.destroy()
        for witness in witnesses:
            witness.stop()


def _metrics(ledger: LedgerProcess) -> str:
    return requests.get(ledger.base_url + "/metrics", headers={"X-Admin-Key": ledger.admin_key}, timeout=10).text


def _witnessed_receipt(api: Api, transaction_id: str) -> dict[str, Any]:
    def ready() -> Any:
        answer = api.get(f"/receipts/{transaction_id}", params={"witnessed": "true"})
        return answer.json() if answer.status_code == 200 else None

    return dict(until(ready))


def test_receipts_carry_the_witnesses_cosignatures(witnessed: tuple[LedgerProcess, Api, list[WitnessProcess]], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    ledger, api, witnesses = witnessed
    vkeys = [witness.cosigner.vkey for witness in witnesses]
    api.post("/records/batch", json={"records": [decision(n, transaction_id=f"w_{n}") for n in range(20)]})
    with XaseClient(api_key=api.key, base_url=ledger.base_url) as client:
        receipt = client.get_receipt("w_7", witnessed=True, timeout=15)  # waits for the quorum's cosignatures
    evidence.verify_receipt(receipt, witnesses=vkeys, quorum=2)
    assert len(note.verified_signers(receipt["tlog"]["checkpoint"], [w.cosigner for w in witnesses])[1]) == 2
    path = tmp_path / "receipt.json"
    path.write_text(api.get("/receipts/w_7", params={"witnessed": "true"}).text)
    assert cli.main(["verify", str(path), "--witness", vkeys[0], "--witness", vkeys[1]]) == 0
    stranger = note.cosigner_verifier("stranger.test/w9", ed25519.Ed25519PrivateKey.generate().public_key()).vkey
    assert cli.main(["verify", str(path), "--witness", stranger, "--quorum", "1"]) == 1
    assert "step witnesses" in capsys.readouterr().err
    proof = tmp_path / "w_7.tlog-proof"
    proof.write_text(api.get("/receipts/w_7", params={"format": "tlog-proof"}).text)  # the newest checkpoint: cosigned soon after
    until(lambda: "witness.test/w1" in api.get("/log/checkpoint").text)
    done = ledger.cli("witnesses")
    assert done.stdout.count("witness.test/w1") == 1 and "0 behind" in done.stdout, done.stdout


def test_a_dead_witness_delays_only_its_own_cosignatures(witnessed: tuple[LedgerProcess, Api, list[WitnessProcess]]) -> None:
    ledger, api, witnesses = witnessed
    witnesses[1].stop()
    started = time.monotonic()
    for n in range(5):
        assert api.post("/records", json=decision(n, transaction_id=f"d_{n}")).status_code in (200, 201)
    assert time.monotonic() - started < 5  # hang guard: no append waits for a witness
    time.sleep(1)
    assert api.get("/receipts/d_4", params={"witnessed": "true"}).status_code == 503  # the quorum is both
    with XaseClient(api_key=api.key, base_url=ledger.base_url) as client, pytest.raises(XaseError) as pending:
        client.get_receipt("d_4", witnessed=True, timeout=1)
    assert "CHECKPOINT_PENDING" in (pending.value.code, pending.value.details.get("last_error", {}).get("code"))
    until(lambda: "witness.test/w1" in api.get("/log/checkpoint").text)  # the live one cosigned
    assert 'outcome="unavailable",witness="witness.test/w2"' in _metrics(ledger)
    until(lambda: 'xase_witness_behind_entries{witness="witness.test/w1"} 0.0' in _metrics(ledger))
    assert 'xase_witness_behind_entries{witness="witness.test/w2"} 5.0' in _metrics(ledger)
    done = ledger.cli("witnesses")
    assert "behind" in done.stdout and done.stdout.count("witness.test/w1") == 1


def test_a_rewritten_history_is_cosigned_by_no_witness(witnessed: tuple[LedgerProcess, Api, list[WitnessProcess]]) -> None:
    ledger, api, witnesses = witnessed
    for start in (0, 10):
        api.post("/records/batch", json={"records": [decision(n, transaction_id=f"r_{n}") for n in range(start, start + 10)]})
    _witnessed_receipt(api, "r_19")
    tenant_id = api.get("/stats").json()["tenant_id"]
    ledger.stop()
    _rewrite_from(ledger, tenant_id, 10)  # the operator, with the database and the keys
    ledger.start()
    api.post("/records/batch", json={"records": [decision(n, transaction_id=f"forged_{n}", output={"decision": "DENIED"}) for n in range(15)]})
    until(lambda: "\n25\n" in api.get("/log/checkpoint").text)
    time.sleep(1.5)  # time enough for the witnesses to be asked, and to refuse
    assert api.get("/receipts/forged_3", params={"witnessed": "true"}).status_code == 503
    receipt = api.get("/receipts/forged_3").json()
    with pytest.raises(evidence.VerificationError) as failure:
        evidence.verify_receipt(receipt, witnesses=[witness.cosigner.vkey for witness in witnesses], quorum=1)
    assert failure.value.step == "witnesses"
    assert "answered 422" in (ledger.directory / "ledger.log").read_text()  # each witness refused the fork
    assert 'outcome="refused"' in _metrics(ledger)


def test_a_witness_answering_more_than_the_cap_is_refused_unread(tmp_path: Path) -> None:
    flood = ScriptedServer(lambda _s: (200, {"Content-Type": "text/plain"}, b"\xe2\x80\x94 witness.test/flood AAAA\n" * 40_000))
    vkey = note.cosigner_verifier("witness.test/flood", ed25519.Ed25519PrivateKey.generate().public_key()).vkey
    ledger = LedgerProcess(tmp_path, env={"XASE_CHECKPOINT_INTERVAL": "0.1", "XASE_WITNESSES": f"{flood.url} {vkey}"}).start()
    try:
        api = Api(ledger, ledger.new_api_key())
        assert api.post("/records", json=decision(1, transaction_id="f_1")).status_code in (200, 201)
        until(lambda: "witness.test/flood answered more than 16384 bytes" in (tmp_path / "ledger.log").read_text())
        assert 'outcome="invalid",witness="witness.test/flood"' in _metrics(ledger)
        assert api.get("/receipts/f_1", params={"witnessed": "true"}).status_code == 503
    finally:
        ledger.destroy()
        flood.stop()


def test_xase_ledger_verify_checks_the_stored_cosignatures(witnessed: tuple[LedgerProcess, Api, list[WitnessProcess]]) -> None:
    ledger, api, _ = witnessed
    api.post("/records/batch", json={"records": [decision(n, transaction_id=f"c_{n}") for n in range(5)]})
    _witnessed_receipt(api, "c_4")
    done = ledger.cli("verify", "--tenant", "acme", check=False)
    assert done.returncode == 0 and "cosignatures OK (" in done.stdout, done.stdout + done.stderr
    assert ledger.cli("verify", "--tenant", "acme", check=False).returncode == 0  # (nothing was changed by verifying)
    tamper(ledger.database_url, "UPDATE log_cosignatures SET cosigned_at = cosigned_at + 1 WHERE witness = 'witness.test/w1'")
    done = ledger.cli("verify", "--tenant", "acme", check=False)
    assert done.returncode == 1 and "BROKEN" in done.stdout and "cosignature of checkpoint" in done.stdout, done.stdout
    tamper(ledger.database_url, "UPDATE log_cosignatures SET cosigned_at = cosigned_at - 1 WHERE witness = 'witness.test/w1'")
    assert ledger.cli("verify", "--tenant", "acme", check=False).returncode == 0
    tamper(ledger.database_url, "UPDATE log_cosignatures SET line = REPLACE(line, SUBSTR(line, -6, 3), 'AAA') WHERE witness = 'witness.test/w2'")
    done = ledger.cli("verify", "--tenant", "acme", check=False)
    assert done.returncode == 1 and "witness.test/w2" in done.stdout, done.stdout
