"""With XASE_RATE_LIMIT_STORAGE=redis://..., every ledger process shares one budget per API key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REDIS_SKIP, REDIS_URL, Api, LedgerProcess, decision

pytestmark = pytest.mark.skipif(REDIS_SKIP is not None, reason=str(REDIS_SKIP))


def _two_ledgers(tmp_path: Path, storage: str) -> tuple[LedgerProcess, LedgerProcess]:
    env = {"XASE_RATE_LIMIT": "10 per minute", "XASE_RATE_LIMIT_STORAGE": storage}
    first = LedgerProcess(tmp_path / "a", env=env)
    first.directory.mkdir()
    second = LedgerProcess(tmp_path / "b", env=env, shared_database_url=first.database_url, admin_key=first.admin_key)
    second.directory.mkdir()
    return first.start(), second.start()


@pytest.fixture
def ledgers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[LedgerProcess, LedgerProcess]]:
    pair = _two_ledgers(tmp_path, request.param)
    yield pair
    for ledger in pair:
        ledger.destroy()


@pytest.mark.parametrize("ledgers", [REDIS_URL], indirect=True)
def test_two_processes_share_one_budget_through_redis(ledgers: tuple[LedgerProcess, LedgerProcess]) -> None:
    first, second = ledgers
    key = first.new_api_key()
    on_first = [Api(first, key).post("/records", json=decision(n)).status_code for n in range(6)]
    on_second = [Api(second, key).post("/records", json=decision(100 + n)).status_code for n in range(6)]
    assert on_first == [201] * 6
    assert on_second == [201] * 4 + [429] * 2  # the other process already spent 6 of the 10


@pytest.mark.parametrize("ledgers", ["memory://"], indirect=True)
def test_without_redis_each_process_has_its_own_budget(ledgers: tuple[LedgerProcess, LedgerProcess]) -> None:
    first, second = ledgers
    key = first.new_api_key()
    assert [Api(first, key).post("/records", json=decision(n)).status_code for n in range(6)] == [201] * 6
    assert [Api(second, key).post("/records", json=decision(100 + n)).status_code for n in range(6)] == [201] * 6
