"""Nothing acknowledged is lost: across a clean restart, a kill -9, and concurrent appenders."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest

from ledger_service.db import make_engine, migrate, write_transaction
from ledger_service.evidence import audit
from ledger_service.evidence.chain import append, register_signer
from ledger_service.evidence.intake import parse_record
from ledger_service.evidence.signing import LocalSigner
from ledger_service.tenants import create_tenant
from tests.conftest import BACKENDS, Api, LedgerProcess, PostgresDatabase, decision


def _acknowledged(api: Api, start: int, count: int) -> list[str]:
    results = api.post("/records/batch", json={"records": [decision(i, transaction_id=f"t_{i}") for i in range(start, start + count)]})
    return [r["transaction_id"] for r in results.json()["results"]]


def test_close_and_reopen_loses_nothing_and_the_chain_continues(fresh_ledger: LedgerProcess) -> None:
    api = Api(fresh_ledger, fresh_ledger.new_api_key("acme"))
    acknowledged = _acknowledged(api, 0, 25)
    key_id = api.get("/keys").json()["current_key_id"]
    fresh_ledger.stop()
    fresh_ledger.start()
    assert api.get("/keys").json()["current_key_id"] == key_id  # the same key, not a new one
    acknowledged += _acknowledged(api, 25, 5)
    for transaction_id in acknowledged:
        assert api.get(f"/records/{transaction_id}").status_code == 200
    report = api.get("/verify").json()
    assert (report["ok"], report["records"], report["blocks"]) == (True, 30, 2)


def test_kill_9_loses_no_acknowledged_record(fresh_ledger: LedgerProcess) -> None:
    api = Api(fresh_ledger, fresh_ledger.new_api_key("acme"))
    acknowledged = _acknowledged(api, 0, 40)
    fresh_ledger.stop(signal.SIGKILL)
    fresh_ledger.start()
    assert all(api.get(f"/records/{t}").status_code == 200 for t in acknowledged)
    assert fresh_ledger.cli("verify").returncode == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_appenders_never_fork_the_chain(tmp_path: Path, backend: str) -> None:
    """Threads with their own engines (as separate processes would have) on one database."""
    database = PostgresDatabase() if backend == "postgresql" else None
    url = database.url if database else f"sqlite:///{tmp_path / 'ledger.db'}"
    try:
        _append_concurrently_and_verify(url, tmp_path)
    finally:
        if database:
            database.drop()


def _append_concurrently_and_verify(url: str, tmp_path: Path) -> None:
    signer = LocalSigner.from_path(tmp_path / "key.pem")
    setup = make_engine(url)
    migrate(setup)
    register_signer(setup, signer)
    with write_transaction(setup) as conn:
        tenant_id = create_tenant(conn, "acme")["id"]
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        engine = make_engine(url)
        try:
            for batch in range(10):
                items = [parse_record(decision(index * 1000 + batch * 10 + i)) for i in range(5)]
                append(engine, signer, tenant_id, items)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = audit.verify_chain(setup, tenant_id)
    setup.dispose()
    assert (report["ok"], report["records"], report["blocks"]) == (True, 300, 60), report
