"""The Host header cannot choose where receipt URLs point (issue 12): XASE_PUBLIC_URL, else an allow-list."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Api, LedgerProcess, decision


@pytest.fixture
def served(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Api]:
    ledger = LedgerProcess(tmp_path, env=getattr(request, "param", {})).start()
    yield Api(ledger, ledger.new_api_key())
    ledger.destroy()


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.evil.example", "localhost.evil.example:3000"])
def test_an_untrusted_host_is_refused_before_anything_is_applied(api: Api, host: str) -> None:
    response = api.post("/records", json=decision(1, transaction_id="t_1"), headers={"Host": host})
    assert response.status_code == 400 and response.json()["error"]["details"] == {"header": "Host"}
    assert api.get("/records/t_1").status_code == 404


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:3000", "127.0.0.1:9"])
def test_local_hosts_are_trusted_by_default(api: Api, host: str) -> None:
    response = api.post("/records", json=decision(1), headers={"Host": host})
    assert response.status_code == 201 and response.json()["receipt_url"].lower().startswith(f"http://{host.lower()}/api/xase/v1/receipts/")


@pytest.mark.parametrize("served", [{"XASE_ALLOWED_HOSTS": ".example.com"}], indirect=True)
def test_the_allow_list_admits_its_hosts(served: Api) -> None:
    assert served.post("/records", json=decision(1), headers={"Host": "api.example.com"}).status_code == 201
    assert served.post("/records", json=decision(2), headers={"Host": "example.org"}).status_code == 400


@pytest.mark.parametrize("served", [{"XASE_PUBLIC_URL": "https://ledger.example.com/"}], indirect=True)
def test_the_public_url_wins_over_any_host(served: Api) -> None:
    response = served.post("/records", json=decision(1, transaction_id="t_1"), headers={"Host": "evil.example"})
    assert response.status_code == 201
    assert response.json()["receipt_url"] == "https://ledger.example.com/api/xase/v1/receipts/t_1"
