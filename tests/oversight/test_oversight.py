"""Human oversight (EU AI Act Article 14) and explanations (Article 86), through the SDK and HTTP against a real
ledger: events linked to the decisions they act on, the two-person rule, idempotent retries, every refusal a 4xx,
and an explanation page that a person reads and that escapes what clients sent."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.conftest import Api, LedgerProcess, decision
from xase import XaseClient, XaseError, evidence


@pytest.fixture
def officers(ledger: LedgerProcess) -> tuple[Api, XaseClient]:
    api = Api(ledger, ledger.new_api_key())
    return api, XaseClient(api_key=api.key, base_url=ledger.base_url, fire_and_forget=False)


def _decide(api: Api, policy: str = "credit_policy_v4", **extra: Any) -> str:
    answer = api.post("/records", json=decision(secrets.randbelow(10**6), policy_id=policy, **extra))
    assert answer.status_code == 201, answer.text
    return str(answer.json()["transaction_id"])


def test_an_override_is_evidence_linked_to_its_decision(officers: tuple[Api, XaseClient]) -> None:
    api, client = officers
    tx = _decide(api)
    event = client.record_oversight(tx, "override", "officer-7", "income verified by phone", details={"new_outcome": "APPROVED"})
    assert (event["decision_id"], event["status"], event["needs_confirmation"]) == (tx, "final", False)
    assert event["event_id"].startswith("ovs_")
    receipt = client.get_receipt(event["event_id"])
    evidence.verify_receipt(receipt)
    record = api.get(f"/records/{event['event_id']}").json()
    assert record["record"]["policy_id"] == "xase.oversight" and record["record"]["decision_type"] == "oversight.override"
    assert record["context"]["oversight"]["decision_record_hash"] == api.get(f"/records/{tx}").json()["record_hash"]
    assert [e["event_id"] for e in api.get(f"/records/{tx}/oversight").json()["events"]] == [event["event_id"]]
    assert api.get("/verify").json()["ok"] is True


def test_the_two_person_rule_holds_an_override_until_another_person_confirms(officers: tuple[Api, XaseClient]) -> None:
    api, client = officers
    policy = "biometric_match_" + secrets.token_hex(3)
    rule = client.set_oversight_rule(policy, two_person=True)
    assert rule["two_person"] is True and api.get(f"/records/{rule['evidence_id']}").json()["record"]["policy_id"] == "xase.oversight.rule"
    tx = _decide(api, policy)
    held = client.record_oversight(tx, "override", "officer-7", "not the same person")
    assert (held["status"], held["needs_confirmation"]) == ("awaiting_confirmation", True)
    with pytest.raises(XaseError) as same_person:
        client.record_oversight(tx, "confirm", "officer-7", confirms=held["event_id"])
    assert same_person.value.status_code == 409 and "two-person" in str(same_person.value)
    confirmed = client.record_oversight(tx, "confirm", "officer-9", "checked the photos", confirms=held["event_id"])
    assert confirmed["confirms"] == held["event_id"]
    events = {e["event_id"]: e for e in api.get(f"/records/{tx}/oversight").json()["events"]}
    assert events[held["event_id"]]["status"] == "confirmed" and events[held["event_id"]]["confirmed_by"] == confirmed["event_id"]
    with pytest.raises(XaseError) as twice:
        client.record_oversight(tx, "confirm", "officer-11", confirms=held["event_id"])
    assert twice.value.status_code == 409
    assert client.record_oversight(_decide(api, policy), "escalate", "officer-7")["status"] == "final"  # the rule holds overrides and stops


def test_a_retry_records_one_event_and_a_reused_key_for_another_is_refused(officers: tuple[Api, XaseClient]) -> None:
    api, client = officers
    tx = _decide(api)
    first = client.record_oversight(tx, "stop", "officer-7", "model drift", idempotency_key="retry-key-0123456789")
    again = api.post(f"/records/{tx}/oversight", json={"action": "stop", "actor": "officer-7", "reason": "model drift"},
                     headers={"Idempotency-Key": "retry-key-0123456789"})  # fmt: skip
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true" and again.json()["event_id"] == first["event_id"]
    other = api.post(f"/records/{tx}/oversight", json={"action": "stop", "actor": "officer-8", "reason": "model drift"},
                     headers={"Idempotency-Key": "retry-key-0123456789"})  # fmt: skip
    assert other.status_code == 409
    assert len(api.get(f"/records/{tx}/oversight").json()["events"]) == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"action": "approve", "actor": "o"}, 400),
        ({"action": "override", "actor": "o"}, 400),  # an override says why
        ({"action": "override", "actor": "", "reason": "r"}, 400),
        ({"action": "override", "actor": "o\u202e", "reason": "r"}, 400),
        ({"action": "escalate", "actor": "o", "confirms": "ovs_" + "0" * 24}, 400),
        ({"action": "confirm", "actor": "o"}, 400),
        ({"action": "confirm", "actor": "o", "confirms": "ovs_" + "0" * 24}, 404),
        ({"action": "escalate", "actor": "o", "details": {"x": "y" * 20_000}}, 400),
        ({"action": "escalate", "actor": "o", "extra": 1}, 400),
    ],
)
def test_what_is_no_oversight_event_is_a_4xx_that_changes_nothing(officers: tuple[Api, XaseClient], body: dict[str, Any], status: int) -> None:
    api, _ = officers
    tx = _decide(api)
    before = api.get("/stats").json()["records"]
    answer = api.post(f"/records/{tx}/oversight", json=body)
    assert answer.status_code == status and answer.json()["error"]["code"], answer.text
    assert api.get("/stats").json()["records"] == before


def test_oversight_acts_only_on_the_organisation_s_own_decisions(ledger: LedgerProcess, officers: tuple[Api, XaseClient]) -> None:
    api, client = officers
    other = Api(ledger, ledger.new_api_key())
    theirs = _decide(other)
    body = {"action": "escalate", "actor": "officer-7"}
    assert api.post(f"/records/{theirs}/oversight", json=body).status_code == 404
    assert api.post("/records/no_such_decision/oversight", json=body).status_code == 404
    event = client.record_oversight(_decide(api), "escalate", "officer-7")
    assert api.post(f"/records/{event['event_id']}/oversight", json=body).status_code == 400  # not a decision: the ledger's own record
    forged = api.post("/records", json=decision(1, transaction_id="ovs_" + "1" * 24))
    assert forged.status_code == 400  # nothing a client sends passes for an oversight event
    assert api.post("/records", json=decision(2, policy_id="xase.oversight")).status_code == 400


def test_an_explanation_gathers_the_decision_what_it_cites_and_its_oversight(officers: tuple[Api, XaseClient]) -> None:
    api, client = officers
    hostile = '<script>alert("x")</script>'
    tx = _decide(api, context={"channel": hostile, "retrieval": "ret_" + "0" * 24}, store_payload=True)
    client.record_oversight(tx, "override", "officer-7", "documents arrived <b>late</b>")
    explained = client.get_explanation(tx)
    assert explained["decision"]["transaction_id"] == tx and explained["commitments"]["input_hash"]
    assert explained["payload"]["input"] == {"user": explained["payload"]["input"]["user"], "amount": explained["payload"]["input"]["amount"]}
    assert explained["references"] == [{"kind": "retrieval", "transaction_id": "ret_" + "0" * 24, "resolves": False,
                                        "problem": "ret_" + "0" * 24 + " is not in this chain"}]  # fmt: skip
    assert [event["action"] for event in explained["oversight"]] == ["override"]
    evidence.verify_receipt(explained["receipt"])
    page = api.get(f"/records/{tx}/explanation", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "Human oversight" in page.text and "documents arrived &lt;b&gt;late&lt;/b&gt;" in page.text and "officer-7" in page.text
    assert hostile not in page.text and "\\u003cscript\\u003e" in page.text  # JSON in the page is HTML-safe
    assert api.get("/records/nope/explanation").status_code == 404
