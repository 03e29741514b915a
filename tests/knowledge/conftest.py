"""Fixtures of the knowledge-base tests: a real ledger process and the published XTrace client pointed at it; an
in-process ledger whose signer fails on demand (`knowledge`), spoken to in raw HTTP."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import gmpy2
import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from ledger_service import auth
from ledger_service.db import write_transaction
from ledger_service.evidence import audit
from ledger_service.tenants import create_tenant
from tests.conftest import BACKENDS, FlakySigner, LedgerProcess, in_process_app

xtrace = pytest.importorskip("xtrace_sdk.integrations.xtrace", reason="xtrace-ai-sdk 0.1.1 (a dev dependency, Python 3.11+) is not installed")

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


@dataclass
class Org:
    """A tenant as the XTrace client sees it: its id, its admin key, and a client for each plane."""

    ledger: LedgerProcess
    name: str
    admin_key: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ledger.port}/xtrace"

    def admin(self) -> Any:
        """The client with only the admin key (the data-plane key is a placeholder)."""
        return xtrace.XTraceIntegration(org_id=self.name, api_key="unused", admin_key=self.admin_key, api_url=self.url, admin_api_url=self.url)

    def client(self, api_key: str) -> Any:
        return xtrace.XTraceIntegration(org_id=self.name, api_key=api_key, api_url=self.url, admin_api_url=self.url)

    def new_key(self, kb_id: str | None = None, permission: int = 7) -> tuple[str, str]:
        """(secret, hash) of a new data-plane key, with `permission` on `kb_id`."""

        async def create() -> tuple[str, str]:
            async with self.admin() as admin:
                created = await admin.create_api_key("test key", "made by a test")
                if kb_id is not None:
                    await admin.set_key_permission(created["apiKey"]["hash"], kb_id, permission)
                return created["secretKey"], created["apiKey"]["hash"]

        return run(create())

    def new_kb(self) -> str:
        async def create() -> str:
            async with self.admin() as admin:
                return str((await admin.create_kb("kb-" + secrets.token_hex(4), "a test base"))["id"])

        return run(create())


def new_org(ledger: LedgerProcess) -> Org:
    name = "org-" + secrets.token_hex(4)
    return Org(ledger, name, ledger.new_api_key(name, scopes=["admin"]))


@pytest.fixture(scope="module", params=BACKENDS)
def knowledge_ledger(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerProcess]:
    ledger = LedgerProcess(tmp_path_factory.mktemp("knowledge"), backend=request.param).start()
    yield ledger
    ledger.destroy()


@pytest.fixture
def org(knowledge_ledger: LedgerProcess) -> Org:
    return new_org(knowledge_ledger)


KNOWLEDGE_TABLES = ("knowledge_bases", "knowledge_chunks", "knowledge_contexts", "knowledge_bindings", "knowledge_keys", "knowledge_permissions", "api_keys")
N = (1 << 127) - 1  # a Mersenne prime: a real modulus is not needed, the server only multiplies modulo n^2


def ciphertext(value: int, n: int = N) -> str:
    number = value % (n * n)
    return base64.b64encode(number.to_bytes((number.bit_length() + 7) // 8 or 1, "little")).decode("ascii")


def context_data(n: int = N) -> dict[str, Any]:
    return {"type": "PaillierClient", "sk": "AES-encrypted secret key", "pk": json.dumps({"n_squared": gmpy2.mpz(n * n).digits()}),
            "config": json.dumps({"embed_len": 8, "key_len": n.bit_length()})}  # fmt: skip


def chunk(n: int, tag: str = "a") -> dict[str, Any]:
    return {"chunk_content": f"ciphertext {n}", "index": [ciphertext(n + 2)], "meta_data": {"tag": tag}, "name": f"chunk {n}"}


@dataclass
class Knowledge:
    client: FlaskClient
    signer: FlakySigner
    tenant_id: str
    key: str
    kb_id: str = ""
    reader: str = ""  # the hash of a second knowledge key

    def data(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"X-API-Key": self.key, **kwargs.pop("headers", {})}
        return self.client.open(f"/xtrace/v1/{path}/acme", method=method, headers=headers, **kwargs)

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.client.open(f"/xtrace/v1/{path}", method=method, headers={"X-Xtrace-Key": self.key, "X-Xtrace-Org-Id": "acme"}, **kwargs)

    def state(self) -> dict[str, list[Any]]:
        """Every row of every knowledge table and the chain's length: what a change may touch."""
        with self.client.application.extensions["xase"].engine.connect() as conn:
            rows = {table: sorted(map(repr, conn.execute(text(f"SELECT * FROM {table}")).all())) for table in KNOWLEDGE_TABLES}
            rows["records"] = [audit.stats(conn, self.tenant_id)["records"]]
        return rows


@pytest.fixture(params=BACKENDS)
def knowledge(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Knowledge]:
    with in_process_app(tmp_path, request.param) as (app, signer):
        with write_transaction(app.extensions["xase"].engine) as conn:
            tenant_id = create_tenant(conn, "acme")["id"]
            key = auth.create_api_key(conn, tenant_id, "admin", ["admin"])["secret"]
        setup = Knowledge(app.test_client(), signer, tenant_id, key)
        setup.kb_id = setup.admin("POST", "kbs", json={"name": "kb", "description": ""}).get_json()["id"]
        setup.reader = setup.admin("POST", "keys", json={"name": "reader"}).get_json()["apiKey"]["hash"]
        for context_id in ("ctx", "spare"):
            assert setup.data("POST", "exec_context", json={"context_id": context_id, "data": context_data()}).status_code == 200
        answer = setup.data("POST", "chunk", json={"kb_id": setup.kb_id, "context_id": "ctx", "chunks": [chunk(n, "ab"[n % 2]) for n in range(4)]})
        assert answer.status_code == 200, answer.get_json()
        yield setup
