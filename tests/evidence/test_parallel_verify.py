"""Verification in segments, one process each, says exactly what one process says.

The segmented pass may only ever report a chain as intact; any break (in a
segment, or where two segments meet) is left to the sequential pass, which
names it. So the property that matters is: no tampering passes the segmented
pass. Every column of the records and blocks on either side of a segment
boundary is changed, rows are deleted and inserted, export lines are changed,
dropped, repeated and swapped around the split points; each case must fail the
segmented pass and give the same report by either path.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import Engine

from ledger_service.db import flush_sqlite_log, make_engine, migrate, write_transaction
from ledger_service.evidence import audit
from ledger_service.evidence import chain as ledger_chain
from ledger_service.evidence.intake import parse_record
from ledger_service.evidence.signing import LocalSigner
from ledger_service.evidence.tables import Block, Record
from ledger_service.tenants import create_tenant
from tests.conftest import BACKENDS, PostgresDatabase, decision
from xase import bundle, evidence

JOBS = 3
BLOCKS = 8  # of 3 records each: with 3 jobs, segments of blocks [0, 2), [2, 5), [5, 8)
BOUNDARY_BLOCKS = (1, 2)  # the last and first block either side of the first boundary (the second is alike)
BOUNDARY_RECORDS = (5, 6)  # their last and first records
OPERATIONAL = {"idempotency_key"}  # not evidence (see test_tamper_fields.py)

FULL = {"policy_version": "4.2", "decision_type": "loan", "processing_time_ms": 12.5, "store_payload": True, "context": {"ip": "10.0.0.1"}}

Chain = tuple[Engine, str]


def _build(url: str, key_path: Path) -> None:
    engine = make_engine(url)
    migrate(engine)
    signer = LocalSigner.from_path(key_path)
    ledger_chain.register_signer(engine, signer)
    with write_transaction(engine) as conn:
        tenant_id = create_tenant(conn, "acme")["id"]
        create_tenant(conn, "other")
    for block in range(BLOCKS):
        ledger_chain.append(engine, signer, tenant_id, [parse_record(decision(block * 3 + n, **FULL)) for n in range(3)])
    flush_sqlite_log(engine)
    engine.dispose()


def _tenant(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(sqlalchemy.text("SELECT id FROM tenants WHERE name = 'acme'")).scalar_one())


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite ledger of BLOCKS blocks, built once; each test works on a copy."""
    directory = tmp_path_factory.mktemp("pristine")
    _build(f"sqlite:///{directory / 'ledger.db'}", directory / "key.pem")
    return directory / "ledger.db"


@pytest.fixture
def built(pristine: Path, tmp_path: Path) -> Iterator[tuple[Engine, str]]:
    shutil.copyfile(pristine, tmp_path / "ledger.db")
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield engine, _tenant(engine)
    engine.dispose()


def _sequential(engine: Engine, tenant_id: str) -> dict[str, Any]:
    return audit.verify_chain(engine, tenant_id, jobs=1)


def _changed(column: sqlalchemy.Column[Any]) -> str:
    if column.name == "tenant_id":
        return "(SELECT id FROM tenants WHERE name = 'other')"
    if column.name in ("seq", "block_seq"):
        return f"{column.name} + 1000"  # moved (+ 1 would collide with the next row)
    if isinstance(column.type, (sqlalchemy.Integer, sqlalchemy.Float)):
        return f"{column.name} + 1"
    return f"CASE WHEN substr({column.name}, 1, 1) = 'a' THEN 'b' ELSE 'a' END || substr({column.name}, 2)"


def _statements() -> list[str]:
    statements = []
    for table, key, rows in ((Record.__table__, "seq", BOUNDARY_RECORDS), (Block.__table__, "block_seq", BOUNDARY_BLOCKS)):
        for column in table.columns:
            if column.name in OPERATIONAL:
                continue
            statements += [f"UPDATE {table.name} SET {column.name} = {_changed(column)} WHERE {key} = {row}" for row in rows]
    statements += [f"DELETE FROM records WHERE seq = {seq}" for seq in BOUNDARY_RECORDS]
    statements += [f"DELETE FROM blocks WHERE block_seq = {block}" for block in (*BOUNDARY_BLOCKS, BLOCKS - 1)]
    statements += ["UPDATE chain_heads SET next_seq = next_seq + 1", "UPDATE chain_heads SET next_block_seq = next_block_seq - 1"]
    return statements


def test_an_intact_chain_passes_in_segments_with_the_sequential_report(built: Chain) -> None:
    engine, tenant_id = built
    expected = _sequential(engine, tenant_id)
    assert expected["ok"] and expected["records"] == 3 * BLOCKS
    assert audit._verify_in_segments(engine, tenant_id, JOBS) == expected
    assert audit.verify_chain(engine, tenant_id, jobs=JOBS) == expected


def test_more_jobs_than_blocks_still_verifies(built: Chain) -> None:
    engine, tenant_id = built
    assert audit._verify_in_segments(engine, tenant_id, BLOCKS + 5) == _sequential(engine, tenant_id)


@pytest.mark.parametrize("backend", BACKENDS[1:])
def test_postgresql_segments_verify_and_a_boundary_break_is_left_to_the_sequential_pass(backend: str, tmp_path: Path) -> None:
    database = PostgresDatabase()
    try:
        _build(database.url, tmp_path / "key.pem")
        engine = make_engine(database.url)
        tenant_id = _tenant(engine)
        intact = _sequential(engine, tenant_id)
        assert intact["ok"] and audit._verify_in_segments(engine, tenant_id, JOBS) == intact
        with engine.begin() as conn:
            forged = "UPDATE blocks SET head_record_hash = record_hash FROM records WHERE records.seq = 0 AND blocks.block_seq = :block"
            conn.execute(sqlalchemy.text(forged), {"block": BOUNDARY_BLOCKS[0]})
        assert audit._verify_in_segments(engine, tenant_id, JOBS) is None
        assert not _sequential(engine, tenant_id)["ok"]
        engine.dispose()
    finally:
        database.drop()


@pytest.mark.parametrize("statement", _statements())
def test_tampering_at_a_segment_boundary_never_passes_the_segmented_pass(built: Chain, statement: str) -> None:
    engine, tenant_id = built
    with engine.begin() as conn:
        assert conn.execute(sqlalchemy.text(statement)).rowcount >= 1
    expected = _sequential(engine, tenant_id)
    assert not expected["ok"], statement
    assert audit._verify_in_segments(engine, tenant_id, JOBS) is None
    assert audit.verify_chain(engine, tenant_id, jobs=JOBS) == expected


def test_a_record_inserted_past_the_head_never_passes_the_segmented_pass(built: Chain) -> None:
    engine, tenant_id = built
    with engine.begin() as conn:
        row = dict(conn.execute(sqlalchemy.select(Record).where(Record.seq == 3 * BLOCKS - 1)).mappings().one())
        conn.execute(sqlalchemy.insert(Record).values({**row, "seq": 3 * BLOCKS, "transaction_id": "inserted", "idempotency_key": None}))
    expected = _sequential(engine, tenant_id)
    assert not expected["ok"] and expected["first_broken_seq"] == 3 * BLOCKS
    assert audit._verify_in_segments(engine, tenant_id, JOBS) is None


# ---------------------------------------------------------------- export bundles


@pytest.fixture
def exported(built: Chain) -> list[bytes]:
    engine, tenant_id = built
    return list(audit.export_lines(engine, tenant_id))


def _outcome(path: Path, jobs: int) -> Any:
    try:
        return bundle.verify_bundle_file(path, jobs=jobs)
    except evidence.VerificationError as failure:
        return (failure.step, failure.seq, str(failure))
    except ValueError as failure:  # what the sequential pass raises on unreadable JSON
        return (type(failure).__name__, str(failure))


def _split_lines(lines: list[bytes], path: Path) -> list[int]:
    """Indexes of the lines that start a segment."""
    path.write_bytes(b"".join(lines))
    offsets = {start for start, _ in bundle._split_after_blocks(str(path), len(lines[0]), JOBS)}
    position, indexes = 0, []
    for index, line in enumerate(lines):
        if position in offsets:
            indexes.append(index)
        position += len(line)
    return indexes


def _mutations(lines: list[bytes], splits: list[int]) -> Iterator[tuple[str, list[bytes]]]:
    for split in splits:
        for index in range(split - 2, split + 2):
            line = lines[index]
            for at in range(1, len(line) - 1, max(1, len(line) // 5)):
                flipped = line[:at] + (b"1" if line[at : at + 1] != b"1" else b"2") + line[at + 1 :]
                yield f"line {index} byte {at}", [*lines[:index], flipped, *lines[index + 1 :]]
            yield f"line {index} dropped", [*lines[:index], *lines[index + 1 :]]
            yield f"line {index} repeated", [*lines[: index + 1], line, *lines[index + 1 :]]
            yield f"lines {index} and {index + 1} swapped", [*lines[:index], lines[index + 1], line, *lines[index + 2 :]]
        yield f"end line before line {split}", [*lines[:split], lines[-1], *lines[split:]]
    yield "truncated", lines[:-1]


def test_an_intact_export_passes_in_segments_with_the_sequential_report(exported: list[bytes], tmp_path: Path) -> None:
    path = tmp_path / "bundle.jsonl"
    assert len(_split_lines(exported, path)) == JOBS - 1
    report = bundle._verify_in_segments(str(path), None, JOBS)
    assert report == bundle.verify_bundle_file(path, jobs=1) == bundle.BundleReport(report.tenant_id if report else "", 3 * BLOCKS, BLOCKS)


def test_changed_export_lines_around_the_split_points_never_pass_the_segmented_pass(exported: list[bytes], tmp_path: Path) -> None:
    path = tmp_path / "bundle.jsonl"
    splits = _split_lines(exported, path)
    cases = 0
    for name, lines in _mutations(exported, splits):
        path.write_bytes(b"".join(lines))
        sequential = _outcome(path, 1)
        assert not isinstance(sequential, bundle.BundleReport), name
        assert bundle._verify_in_segments(str(path), None, JOBS) is None, name
        assert _outcome(path, JOBS) == sequential, name
        cases += 1
    assert cases > 40
