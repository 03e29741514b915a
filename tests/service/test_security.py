"""Issue 6's security guarantees, each proved against a real ledger process."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from tests.conftest import Api, LedgerProcess, decision
from tests.fuzz.fuzzer import ROUTES, World
from xase import XaseClient, XaseError


def test_every_route_is_404_for_another_tenants_ids(ledger: LedgerProcess) -> None:
    """A's key on any id of B: simply not found, never 403 or 410 (which would confirm B's id exists)."""
    world = World.build(ledger)
    b = world.b
    theirs = {"transaction_id": b.transaction_ids[0], "dataset_ref": b.dataset_id, "grant_id": b.grant_id, "session_id": b.session_id}
    alice = Api(ledger, world.a.key)
    swept = 0
    for route in ROUTES:
        names = re.findall(r"{(\w+)}", route.template)
        if route.template.startswith("/admin") or not set(names) & set(theirs):
            continue
        path = route.template
        for name in names:
            path = path.replace("{" + name + "}", quote(theirs.get(name, world.c_record_ids[0]), safe=""))
        body = route.body(world) if route.body else None
        response = alice.request(route.method, path, json=body)
        assert response.status_code == 404, (route.method, path, response.text)
        assert response.json()["error"]["code"] == "NOT_FOUND"
        swept += 1
    assert swept >= 15
    for by_name in (f"/datasets/{b.dataset_name}", f"/datasets/{b.dataset_name}/grants"):  # names are ids too
        assert alice.get(by_name).status_code == 404


@pytest.fixture
def gunicorn_ledger(tmp_path: Path) -> Iterator[LedgerProcess]:
    process = LedgerProcess(tmp_path, workers=3).start()
    yield process
    process.destroy()


def test_a_revoked_key_is_refused_at_once_by_every_worker(gunicorn_ledger: LedgerProcess) -> None:
    key = gunicorn_ledger.new_api_key("revoked-tenant")
    key_id = gunicorn_ledger.admin("GET", "/tenants/revoked-tenant/api-keys").json()["api_keys"][0]["id"]
    sessions = [requests.Session() for _ in range(6)]  # separate connections reach different workers
    for session in sessions:
        session.headers["X-API-Key"] = key
        assert session.get(gunicorn_ledger.base_url + "/stats", timeout=10).status_code == 200
    assert gunicorn_ledger.admin("POST", f"/api-keys/{key_id}/revoke").status_code == 200
    statuses = {session.post(gunicorn_ledger.base_url + "/records", json=decision(n), timeout=10).status_code
                for n, session in enumerate(sessions * 5)}  # fmt: skip
    assert statuses == {401}


def test_no_secret_reaches_the_logs_or_any_answer_after_creation(gunicorn_ledger: LedgerProcess, caplog: pytest.LogCaptureFixture) -> None:
    ledger = gunicorn_ledger
    created = ledger.admin("POST", "/tenants", json={"name": "quiet"}).json()
    key_answer = ledger.admin("POST", "/tenants/quiet/api-keys", json={"name": "k"})
    secret = key_answer.json()["secret"]
    answers = [created, key_answer.json()]
    for headers in ({"X-API-Key": secret}, {"X-API-Key": secret + "x"}, {"X-API-Key": secret[:-1]}):
        for method, path in (("POST", "/records"), ("GET", "/stats"), ("GET", "/records"), ("GET", "/export")):
            answers.append(requests.request(method, ledger.base_url + path, json=decision(1), headers=headers, timeout=10).text)
    answers += [ledger.admin("GET", "/tenants/quiet/api-keys").text, ledger.admin("GET", "/tenants").text,
                requests.get(ledger.base_url + "/admin/tenants", headers={"X-Admin-Key": ledger.admin_key[:-1]}, timeout=10).text]  # fmt: skip
    with caplog.at_level(logging.DEBUG):
        client = XaseClient(api_key=secret + "x", base_url=ledger.base_url, max_retries=0, fire_and_forget=False)
        with pytest.raises(XaseError) as refused:
            client.record({"policy": "p", "input": {}, "output": {}})
        client.close()
    ledger.stop()  # flush its log
    log = (ledger.directory / "ledger.log").read_text()
    for text in [log, caplog.text, str(refused.value), repr(client), repr(client.config), *map(str, answers[1:])]:
        assert ledger.admin_key not in text
    assert secret in str(answers[1])  # shown once, at creation
    for text in [log, caplog.text, str(refused.value), repr(client), repr(client.config), *map(str, answers[2:])]:
        assert secret not in text and secret[12:] not in text
