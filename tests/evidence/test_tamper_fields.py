"""Every stored column of records and blocks, changed by one character directly in the database, is caught.

One pristine chain per backend is built once; each case tampers with a clone of
its database, then runs `xase-ledger verify` and the offline verification of an
export (`xase verify bundle.jsonl`), both in-process, and checks that each names
a broken seq inside the tampered record or block.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy

from ledger_service import cli as ledger_cli
from ledger_service.evidence.tables import Block, Record
from tests.conftest import BACKENDS, Api, LedgerProcess, cloned_database, decision
from xase import cli as xase_cli

# Not evidence, so not covered by any hash: it only lets the ledger answer a retry
# with the record it already holds. Changing it can at worst let a later retry
# append a second record, which is then itself in the chain for all to see.
OPERATIONAL = {("records", "idempotency_key")}
# A pointer the export does not carry (bundles group records by block ranges), so
# an export of such a database is still the true chain; verify and receipts catch it.
NOT_EXPORTED = {("records", "block_seq")}

# Which row each column is changed in: the chain has records 0..9 in blocks [0..3], [4..7], [8], [9].
RECORD_ROW, BLOCK_ROW = 5, 1
LAST_RECORD, LAST_BLOCK = 9, 3
BLOCK_RANGES = {1: (4, 7), 3: (9, 9)}


@dataclass
class Case:
    table: str
    column: str
    statement: str
    broken: tuple[int, int]  # the first broken seq must fall within this range

    def __str__(self) -> str:
        return f"{self.table}.{self.column}"


def _one_character_changed(column: str) -> str:
    return f"CASE WHEN substr({column}, 1, 1) = 'a' THEN 'b' ELSE 'a' END || substr({column}, 2)"


def _cases() -> list[Case]:
    cases = []
    for table, model, row_key, row, last in (("records", Record, "seq", RECORD_ROW, LAST_RECORD), ("blocks", Block, "block_seq", BLOCK_ROW, LAST_BLOCK)):
        for column in model.__table__.columns:
            if (table, column.name) in OPERATIONAL:
                continue
            at = last if column.name == row_key else row  # moving a position up is only possible at the end
            if column.name == "tenant_id":
                change = "(SELECT id FROM tenants WHERE name = 'other')"
            elif isinstance(column.type, (sqlalchemy.Integer, sqlalchemy.Float)):
                change = f"{column.name} + 1"
            else:
                change = _one_character_changed(column.name)
            broken = (at, at) if table == "records" else BLOCK_RANGES[at]
            cases.append(Case(table, column.name, f"UPDATE {table} SET {column.name} = {change} WHERE tenant_id = :tenant AND {row_key} = {at}", broken))
    return cases


CASES = _cases()


@dataclass
class Pristine:
    ledger: LedgerProcess
    tenant_id: str


@pytest.fixture(scope="module", params=BACKENDS)
def pristine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pristine]:
    ledger = LedgerProcess(tmp_path_factory.mktemp("pristine"), backend=request.param).start()
    api = Api(ledger, ledger.new_api_key("acme"))
    ledger.new_api_key("other")
    full = {"policy_version": "4.2", "decision_type": "loan", "processing_time_ms": 12.5, "store_payload": True, "context": {"ip": "10.0.0.1"}}
    for first, size in ((0, 4), (4, 4), (8, 1), (9, 1)):
        items = [decision(n, transaction_id=f"tx_{n}", idempotency_key=f"idem-key-{n:08d}", **full) for n in range(first, first + size)]
        assert api.post("/records/batch", json={"records": items}).status_code in (200, 201)
    tenant_id = api.get("/receipts/tx_0").json()["record"]["tenant_id"]
    ledger.stop()
    yield Pristine(ledger, tenant_id)
    ledger.destroy()


@pytest.fixture
def clone(pristine: Pristine, tmp_path: Path) -> Iterator[str]:
    """A database URL holding a copy of the pristine store."""
    with cloned_database(pristine.ledger, tmp_path) as url:
        yield url


def _tamper(url: str, statement: str, tenant_id: str) -> None:
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:
        assert conn.execute(sqlalchemy.text(statement), {"tenant": tenant_id}).rowcount == 1
    engine.dispose()


def _ledger_verify(url: str, key: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = ledger_cli.main(["--database-url", url, "--signing-key", str(key), "verify", "--tenant", "acme"])
    return code, capsys.readouterr().out


def _export_verify(url: str, key: Path, bundle: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    assert ledger_cli.main(["--database-url", url, "--signing-key", str(key), "export", "--tenant", "acme", "-o", str(bundle)]) == 0
    capsys.readouterr()
    code = xase_cli.main(["verify", str(bundle)])
    return code, capsys.readouterr().err


def test_the_pristine_chain_verifies_both_ways(pristine: Pristine, clone: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _ledger_verify(clone, pristine.ledger.key_path, capsys) == (0, f"{pristine.tenant_id}: OK (10 records, 4 blocks)\n")
    assert _export_verify(clone, pristine.ledger.key_path, tmp_path / "bundle.jsonl", capsys)[0] == 0


def test_every_column_is_covered() -> None:
    covered = {(case.table, case.column) for case in CASES} | OPERATIONAL
    assert covered == {(table.name, column.name) for table in (Record.__table__, Block.__table__) for column in table.columns}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_one_changed_character_is_caught_by_verify_and_by_the_export(
    case: Case, pristine: Pristine, clone: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _tamper(clone, case.statement, pristine.tenant_id)
    low, high = case.broken

    code, out = _ledger_verify(clone, pristine.ledger.key_path, capsys)
    found = re.search(r"BROKEN at seq (\d+)", out)
    assert code == 1 and found and low <= int(found.group(1)) <= high, out

    code, err = _export_verify(clone, pristine.ledger.key_path, tmp_path / "bundle.jsonl", capsys)
    if (case.table, case.column) in NOT_EXPORTED:
        assert code == 0, err
        return
    named = re.search(r"first broken seq (\d+)", err)
    assert code == 1 and named and low <= int(named.group(1)) <= high, err
