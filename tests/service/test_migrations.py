"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from ledger_service.db import MIGRATIONS, current_revision, head_revision, make_engine, migrate
from ledger_service.schema import metadata
from tests.conftest import BACKENDS, PostgresDatabase


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgresql":
        database = PostgresDatabase()
        yield database.url
        database.drop()
    else:
        yield f"sqlite:///{tmp_path / 'empty.db'}"


def _differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata))


def test_migrating_an_empty_database_matches_the_models(empty_database: str) -> None:
    engine = make_engine(empty_database)
    assert current_revision(engine) is None
    migrate(engine)
    assert current_revision(engine) == "0013"
    assert set(inspect(engine).get_table_names()) >= set(metadata.tables)
    assert _differences(engine) == []
    migrate(engine)  # idempotent
    engine.dispose()


def test_db_upgrade_command_and_concurrent_starts(empty_database: str, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "ledger_service.cli", "--database-url", empty_database, "--signing-key", str(tmp_path / "k.pem")]
    racers = [subprocess.Popen([*command, "db", "upgrade"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [racer.communicate(timeout=120) for racer in racers]
    assert all(racer.returncode == 0 for racer in racers), outputs
    done = subprocess.run([*command, "db", "current"], capture_output=True, text=True, timeout=60, check=True)
    assert "schema revision 0013" in done.stdout


def test_0003_commits_every_record_uploaded_before_it(empty_database: str) -> None:
    engine = make_engine(empty_database)
    migrate(engine, "0002")
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO tenants (id, name, created_at) VALUES ('ten_1', 'holder', 'now')")
        for dataset, records in (("ds_full", 3), ("ds_empty", 0)):
            conn.exec_driver_sql(f"INSERT INTO datasets (id, tenant_id, name, description, hash_key, created_at) "
                                 f"VALUES ('{dataset}', 'ten_1', '{dataset}', '', 'k', 'now')")  # fmt: skip
            for seq in range(records):
                conn.exec_driver_sql(f"INSERT INTO dataset_records (dataset_id, seq, record_id, body, created_at) "
                                     f"VALUES ('{dataset}', {seq}, 'r{seq}', '{{}}', 'now')")  # fmt: skip
    migrate(engine)
    with engine.connect() as conn:
        committed = dict(conn.exec_driver_sql("SELECT id, committed_seq FROM datasets").all())
    assert committed == {"ds_full": 2, "ds_empty": -1}
    engine.dispose()


def test_the_head_revision_read_from_file_names_is_alembics() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()


@pytest.mark.parametrize("command", [["verify"], ["export", "--tenant", "acme", "-o", "out.jsonl"]])
def test_read_only_commands_never_migrate_and_name_an_old_schema(empty_database: str, tmp_path: Path, command: list[str]) -> None:
    engine = make_engine(empty_database)
    migrate(engine, "0002")
    done = subprocess.run([sys.executable, "-m", "ledger_service.cli", "--database-url", empty_database, *command],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)  # fmt: skip
    assert done.returncode != 0 and "schema revision 0002, expected 0013: run `xase-ledger db upgrade` first" in done.stderr
    assert current_revision(engine) == "0002"
    engine.dispose()
