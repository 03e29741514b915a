"""Every stored column of the context store's turns and blobs, changed in a sealed store, is caught, or is listed as not evidence.

One pristine store per backend (three turns, a compressed and a plain blob, every head sealed) is built
once; each case changes one value of one row in a clone of its database and runs `xase-ledger verify`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from ledger_service import cli as ledger_cli
from ledger_service.contexts.tables import Blob, Turn
from tests.conftest import BACKENDS, LedgerProcess, cloned_database
from tests.contexts.conftest import Store, new_store

# Not evidence (docs/contexts.md section 3 says why): nothing is hashed over them.
OPERATIONAL = {("cxdb_turns", "context_id"), ("cxdb_turns", "idempotency_key"), ("cxdb_turns", "created_at"), ("cxdb_blobs", "created_at")}
TABLES = {"cxdb_turns": (Turn, "turn_id"), "cxdb_blobs": (Blob, "content_hash")}
BIG = "x" * 4096  # compressed at rest


@dataclass
class Pristine:
    ledger: LedgerProcess
    tenant_id: str
    rows: dict[str, Any]  # table -> the key of the row each case changes


@pytest.fixture(scope="module", params=BACKENDS)
def pristine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pristine]:
    ledger = LedgerProcess(tmp_path_factory.mktemp("cxdb-pristine"), backend=request.param, env={"XASE_CXDB_SEAL_INTERVAL": "0"}).start()
    store: Store = new_store(ledger)
    ledger.new_api_key("other")
    context = store.call("POST", "/v1/contexts/create", json={"base_turn_id": "0"}).json()["context_id"]
    store.append(context, "hello")
    middle = store.append(context, BIG, idempotency_key="middle-turn-key")  # the compressed blob, in the middle of the history
    store.append(context, "bye", role="assistant")
    tenant_id = ledger.sql("SELECT tenant_id FROM cxdb_turns LIMIT 1")[0]["tenant_id"]
    ledger.stop()
    assert "sealed 1 context head(s)" in ledger.cli("seal-contexts").stdout
    yield Pristine(ledger, tenant_id, {"cxdb_turns": int(middle["turn_id"]), "cxdb_blobs": middle["content_hash"]})
    ledger.destroy()


@pytest.fixture
def clone(pristine: Pristine, tmp_path: Path) -> Iterator[str]:
    """A database URL holding a copy of the pristine store."""
    with cloned_database(pristine.ledger, tmp_path) as url:
        yield url


def _changed(value: Any, column: str, other_tenant: str) -> Any:
    if column == "tenant_id":
        return other_tenant
    if isinstance(value, bool) or value is None:
        raise AssertionError(f"no rule to change {column}={value!r}")
    if isinstance(value, int):
        return value + (1000 if column == "turn_id" else 1)  # a key moves past every other row
    if isinstance(value, (bytes, memoryview)):
        raw = bytes(value)
        return raw[:-1] + bytes([raw[-1] ^ 1])
    return ("b" if value[0] == "a" else "a") + value[1:]


def _tamper(url: str, table: str, column: str, pristine: Pristine) -> None:
    key = TABLES[table][1]
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:
        where = f"tenant_id = :tenant AND {key} = :row"
        params = {"tenant": pristine.tenant_id, "row": pristine.rows[table]}
        value = conn.execute(sqlalchemy.text(f"SELECT {column} FROM {table} WHERE {where}"), params).scalar_one()
        other = conn.execute(sqlalchemy.text("SELECT id FROM tenants WHERE name = 'other'")).scalar_one()
        changed = conn.execute(sqlalchemy.text(f"UPDATE {table} SET {column} = :value WHERE {where}"), {**params, "value": _changed(value, column, other)})
        assert changed.rowcount == 1
    engine.dispose()


def _verify(url: str, pristine: Pristine, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = ledger_cli.main(["--database-url", url, "--signing-key", str(pristine.ledger.key_path), "verify", "--tenant", pristine.tenant_id])
    return code, capsys.readouterr().out


CASES = [(table, column.name) for table, (model, _) in TABLES.items() for column in model.__table__.columns if (table, column.name) not in OPERATIONAL]


def test_every_column_is_evidence_or_listed_as_not() -> None:
    assert set(CASES) | OPERATIONAL == {(table, column.name) for table, (model, _) in TABLES.items() for column in model.__table__.columns}


def test_the_pristine_store_verifies(pristine: Pristine, clone: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _verify(clone, pristine, capsys)
    assert code == 0 and "contexts OK (3 turns, 3 blobs, 1 contexts, 1 sealed heads)" in out, out


@pytest.mark.parametrize(("table", "column"), CASES, ids=[f"{t}.{c}" for t, c in CASES])
def test_a_changed_value_is_caught(pristine: Pristine, clone: str, table: str, column: str, capsys: pytest.CaptureFixture[str]) -> None:
    _tamper(clone, table, column, pristine)
    code, out = _verify(clone, pristine, capsys)
    assert code == 1 and "contexts BROKEN" in out, out


@pytest.mark.parametrize(("table", "column"), sorted(OPERATIONAL), ids=[f"{t}.{c}" for t, c in sorted(OPERATIONAL)])
def test_a_column_that_is_not_evidence_changes_no_verdict(pristine: Pristine, clone: str, table: str, column: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    _tamper(clone, table, column, pristine)
    assert _verify(clone, pristine, capsys)[0] == 0
