"""Erasing a stored payload (EVIDENCE-FORMAT.md section 7): the bytes go, the evidence stays and verifies."""

from __future__ import annotations

import io

import pytest

import xase
from tests.conftest import Api, LedgerProcess
from xase.bundle import verify_bundle

SECRET = "patient-4711-hiv-positive"
ERASER = ["records:write", "records:read", "payloads:erase"]


def _stored(api: Api, transaction_id: str, secret: str = SECRET) -> dict[str, object]:
    return api.record(transaction_id=transaction_id, store_payload=True, input={"note": secret}, output={"decision": "REFER"})


def _erase(api: Api, transaction_id: str, **body: object) -> dict[str, object]:
    response = api.post(f"/records/{transaction_id}/payload/erase", json=body or None)
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture
def eraser(ledger: LedgerProcess) -> Api:
    return Api(ledger, ledger.new_api_key(scopes=ERASER))


def test_erased_payload_is_gone_and_the_receipt_still_verifies_saying_when(eraser: Api) -> None:
    _stored(eraser, "gdpr_1")
    before = eraser.get("/receipts/gdpr_1").json()
    assert before["payload"]["erased_at"] is None
    erased = _erase(eraser, "gdpr_1", reason="GDPR art. 17 request #123")
    assert erased["payload_ref"] == before["record"]["payload_ref"] and erased["erased_at"]

    after = eraser.get("/receipts/gdpr_1").json()
    assert after["payload"] == {"payload_ref": erased["payload_ref"], "erased_at": erased["erased_at"]}
    assert after["record"] == before["record"] and after["record_hash"] == before["record_hash"]
    xase.verify_receipt(after, trusted_keys=[after["public_key"]["pem"]])
    record = eraser.get("/records/gdpr_1").json()
    assert record["payload"] == {"payload_ref": erased["payload_ref"], "erased_at": erased["erased_at"]}
    assert SECRET not in eraser.get("/records/gdpr_1").text


def test_the_chain_and_its_export_still_verify_after_erasure(eraser: Api) -> None:
    for n in range(3):
        _stored(eraser, f"keep_{n}", secret=f"kept-{n}")
    _stored(eraser, "erase_me")
    _erase(eraser, "erase_me")
    assert eraser.get("/verify").json()["ok"] is True
    report = verify_bundle(io.BytesIO(eraser.get("/export").content))
    assert report.records == 5  # four decisions and the erasure's own evidence


def test_the_erasure_is_itself_evidence_in_the_chain(eraser: Api) -> None:
    _stored(eraser, "audited")
    erased = _erase(eraser, "audited", reason="data subject request")
    evidence = eraser.get(f"/records/{erased['erasure_transaction_id']}").json()
    assert evidence["record"]["policy_id"] == "xase.erasure" and evidence["record"]["decision_type"] == "payload.erase"
    assert evidence["context"] == {"requested_for": "audited", "reason": "data subject request"}
    assert evidence["timestamp"] == erased["erased_at"]


def test_erasing_again_answers_the_same_erasure_and_adds_no_evidence(eraser: Api) -> None:
    _stored(eraser, "twice")
    first = _erase(eraser, "twice")
    records = len(eraser.all_records())
    assert _erase(eraser, "twice") == first
    assert len(eraser.all_records()) == records


def test_records_sharing_a_payload_lose_it_together_and_it_stays_erased(eraser: Api) -> None:
    _stored(eraser, "same_a")
    _stored(eraser, "same_b")
    erased = _erase(eraser, "same_a")
    _stored(eraser, "same_c")  # the same content again, after the erasure
    for transaction_id in ("same_b", "same_c"):
        assert eraser.get(f"/receipts/{transaction_id}").json()["payload"]["erased_at"] == erased["erased_at"]


def test_erased_bytes_are_gone_from_storage(fresh_ledger: LedgerProcess) -> None:
    eraser = Api(fresh_ledger, fresh_ledger.new_api_key(scopes=ERASER))
    for n in range(5):
        _stored(eraser, f"wipe_{n}", secret=f"{SECRET}-{n}")
    assert f"{SECRET}-2" in fresh_ledger.stored_text()
    _erase(eraser, "wipe_2")
    stored = fresh_ledger.stored_text()  # SQLite: secure_delete zeroed the bytes, and the log was flushed
    assert f"{SECRET}-2" not in stored and f"{SECRET}-1" in stored and f"{SECRET}-3" in stored
    fresh_ledger.stop()
    assert f"{SECRET}-2" not in fresh_ledger.stored_text()


@pytest.mark.parametrize("reason", [7, "", "x" * 1001, "line\nbreak", "\x1b[2Jforged"])
def test_a_bad_reason_is_a_400_and_erases_nothing(eraser: Api, reason: object) -> None:
    _stored(eraser, "kept")
    response = eraser.post("/records/kept/payload/erase", json={"reason": reason})
    assert response.status_code == 400 and response.json()["error"]["details"]["field"] == "reason"
    assert eraser.get("/records/kept").json()["payload"]["input"] == {"note": SECRET}


def test_what_cannot_be_erased(ledger: LedgerProcess, eraser: Api) -> None:
    eraser.record(transaction_id="hashed_only")
    other = Api(ledger, ledger.new_api_key(scopes=ERASER))
    _stored(other, "theirs")
    assert eraser.post("/records/hashed_only/payload/erase").status_code == 404  # no stored payload
    assert eraser.post("/records/nope/payload/erase").status_code == 404
    assert eraser.post("/records/theirs/payload/erase").status_code == 404  # another tenant's record
    assert other.get("/records/theirs").json()["payload"]["erased_at"] is None
    assert eraser.post("/records/hashed_only/payload/erase", json={"why": "x"}).status_code == 400


def test_erasing_takes_the_payloads_erase_scope(ledger: LedgerProcess) -> None:
    writer = Api(ledger, ledger.new_api_key())  # the default scopes: records:write, records:read
    _stored(writer, "guarded")
    response = writer.post("/records/guarded/payload/erase")
    assert response.status_code == 403 and response.json()["error"]["code"] == "FORBIDDEN"
    assert writer.get("/records/guarded").json()["payload"]["input"] == {"note": SECRET}


def test_clients_cannot_write_erasure_evidence(eraser: Api) -> None:
    forged = {"policy_id": "p", "transaction_id": "era_" + "0" * 64, "input": {}, "output": {}}
    response = eraser.post("/records", json=forged)
    assert response.status_code == 400 and response.json()["error"]["details"]["field"] == "transaction_id"


def test_an_erased_payload_brought_back_or_unmarked_is_tampering(fresh_ledger: LedgerProcess) -> None:
    eraser = Api(fresh_ledger, fresh_ledger.new_api_key("acme", scopes=ERASER))
    _stored(eraser, "tampered")
    _erase(eraser, "tampered")
    fresh_ledger.stop()
    fresh_ledger.sql('UPDATE payloads SET body = \'{"input":{"note":"forged"},"output":{}}\'')
    assert "BROKEN at seq 0:" in fresh_ledger.cli("verify", "--tenant", "acme", check=False).stdout
    fresh_ledger.sql("UPDATE payloads SET body = NULL, erased_at = NULL")
    assert "BROKEN at seq 0:" in fresh_ledger.cli("verify", "--tenant", "acme", check=False).stdout


def test_the_sdk_erases_and_the_receipt_it_fetches_reports_it(eraser: Api) -> None:
    with xase.XaseClient(api_key=eraser.key, base_url=eraser.ledger.base_url, fire_and_forget=False) as client:
        client.record({"policy": "triage_v2", "input": {"note": SECRET}, "output": {"route": "ER"}, "transaction_id": "sdk_erase",
                       "store_payload": True})  # fmt: skip
        erased = client.erase_payload("sdk_erase", reason="ticket 42")
        with pytest.raises(xase.XaseError) as refused:
            client.erase_payload("never_recorded")
    assert erased["receipt_url"].endswith("/receipts/sdk_erase") and refused.value.code == "NOT_FOUND"
    assert eraser.get("/receipts/sdk_erase").json()["payload"]["erased_at"] == erased["erased_at"]
