"""Whose dataset a consumer opens (issue 12): ids are exact, names resolve per holder, grants can be declined."""

from __future__ import annotations

import secrets

import pytest

from tests.conftest import Api, LedgerProcess

SCOPES = ["sessions", "records:read"]


ROLES = ("victim", "hospital", "attacker")


@pytest.fixture
def names() -> dict[str, str]:
    suffix = secrets.token_hex(3)
    return {role: f"{role}-{suffix}" for role in ROLES}


@pytest.fixture
def world(ledger: LedgerProcess, names: dict[str, str]) -> dict[str, Api]:
    """A victim consumer, a real holder and a hostile one, each its own tenant."""
    return {role: Api(ledger, ledger.new_api_key(names[role], SCOPES)) for role in ROLES}


def _share(holder: Api, consumer: str, name: str) -> dict[str, str]:
    dataset = holder.post("/datasets", json={"name": name}).json()
    assert holder.post(f"/datasets/{dataset['id']}/records", json=[{"record_id": "r1", "who": name}]).status_code == 201
    grant = holder.post(f"/datasets/{dataset['id']}/grants", json={"tenant": consumer, "purposes": ["model_training"], "max_duration": "30d"})
    assert grant.status_code == 201, grant.text
    return {"dataset": dataset["id"], "grant": grant.json()["id"]}


def _open(api: Api, **body: str) -> tuple[int, dict[str, object]]:
    response = api.post("/sessions", json={"purpose": "model_training", "duration": "1h", **body})
    return response.status_code, response.json()


def test_a_squatted_name_never_substitutes_data(world: dict[str, Api], names: dict[str, str]) -> None:
    victim, hospital, attacker = world["victim"], world["hospital"], world["attacker"]
    poisoned = _share(attacker, names["victim"], "cardio-2024")  # granted first
    real = _share(hospital, names["victim"], "cardio-2024")

    status, body = _open(victim, dataset="cardio-2024")
    assert status == 409 and sorted(body["error"]["details"]["holders"]) == sorted([names["hospital"], names["attacker"]])
    for pinned in ({"dataset": f"{names['hospital']}/cardio-2024"}, {"dataset": "cardio-2024", "holder": names["hospital"]},
                   {"dataset": real["dataset"]}):  # fmt: skip
        status, body = _open(victim, **pinned)
        assert status == 201 and body["dataset_id"] == real["dataset"] and body["holder"] == names["hospital"], (pinned, body)

    assert attacker.post("/datasets", json={"name": real["dataset"]}).status_code == 400  # ids cannot be squatted as names
    assert attacker.post("/datasets", json={"name": "DS_lookalike"}).status_code == 400

    grants = victim.get("/grants").json()["grants"]
    assert {(g["holder"], g["dataset"]) for g in grants} == {(names["hospital"], "cardio-2024"), (names["attacker"], "cardio-2024")}
    assert hospital.post(f"/grants/{poisoned['grant']}/decline").status_code == 404  # only the grantee may decline
    declined = victim.post(f"/grants/{poisoned['grant']}/decline")
    assert declined.status_code == 200 and declined.json()["declined_at"]
    status, body = _open(victim, dataset="cardio-2024")
    assert status == 201 and body["dataset_id"] == real["dataset"]
    assert _open(victim, dataset=poisoned["dataset"])[0] == 404  # a declined grant never matches


def test_a_revoked_grant_never_matches(world: dict[str, Api], names: dict[str, str]) -> None:
    victim, hospital = world["victim"], world["hospital"]
    shared = _share(hospital, names["victim"], "ecg")
    assert _open(victim, dataset="ecg")[0] == 201
    revoke = hospital.post(f"/datasets/{shared['dataset']}/grants/{shared['grant']}/revoke", json={"reason": "ended", "revoked_by": "dpo"})
    assert revoke.status_code == 200
    assert _open(victim, dataset="ecg")[0] == 404 and _open(victim, dataset=shared["dataset"])[0] == 404
