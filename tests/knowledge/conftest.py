"""Fixtures of the knowledge-base tests: a real ledger process and the published XTrace client pointed at it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from tests.conftest import BACKENDS, LedgerProcess

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
