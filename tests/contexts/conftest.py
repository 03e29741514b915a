"""Fixtures of the agent context store tests: a real ledger process per backend, raw HTTP and the SDK client."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.conftest import BACKENDS, LedgerProcess
from xase.contexts import Client

SEAL_INTERVAL = 0.3  # seconds: the tests wait for seals


@dataclass
class Store:
    """One tenant's view of /cxdb: raw HTTP (`call`) and the SDK client (`client`)."""

    ledger: LedgerProcess
    key: str
    tenant: str = ""  # its name

    @property
    def tenant_id(self) -> str:
        return str(self.ledger.sql("SELECT id FROM tenants WHERE name = :name", name=self.tenant)[0]["id"])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ledger.port}/cxdb"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"X-API-Key": self.key, **kwargs.pop("headers", {})}
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def client(self) -> Client:
        return Client(self.url, api_key=self.key, max_retries=0)

    def append(self, context_id: str, text: str, role: str = "user", **extra: Any) -> dict[str, Any]:
        body = {"type_id": "com.example.Message", "type_version": 1, "data": {"role": role, "text": text}, **extra}
        response = self.call("POST", f"/v1/contexts/{context_id}/append", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())


def new_store(ledger: LedgerProcess, scopes: list[str] | None = None) -> Store:
    tenant = "cx-" + secrets.token_hex(4)
    return Store(ledger, ledger.new_api_key(tenant, scopes=scopes or ["contexts", "records:write", "records:read"]), tenant)


@pytest.fixture(scope="session", params=BACKENDS)
def contexts_ledger(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerProcess]:
    """One ledger per backend for every test here: each test works in tenants of its own."""
    ledger = LedgerProcess(tmp_path_factory.mktemp("contexts"), backend=request.param, env={"XASE_CXDB_SEAL_INTERVAL": str(SEAL_INTERVAL)}).start()
    yield ledger
    ledger.destroy()


@pytest.fixture
def store(contexts_ledger: LedgerProcess) -> Store:
    return new_store(contexts_ledger)
