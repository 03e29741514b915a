"""A query a client shapes runs at most XASE_STATEMENT_TIMEOUT_MS, on both backends (issue 12); other reads are not bounded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ledger_service.db import bounded_read, make_engine, read_connection
from ledger_service.errors import ValidationFailed
from tests.conftest import BACKENDS, PostgresDatabase

SLOW = {
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000000) SELECT count(*) FROM n",
    "postgresql": "SELECT pg_sleep(2)",
}
A_LITTLE_SLOW = {
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000) SELECT count(*) FROM n",
    "postgresql": "SELECT pg_sleep(0.3)",
}


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    database = PostgresDatabase() if request.param == "postgresql" else None
    engine = make_engine(database.url if database else f"sqlite:///{tmp_path / 'db.sqlite'}", statement_timeout_ms=100)
    yield engine
    engine.dispose()
    if database:
        database.drop()


def test_a_bounded_read_past_the_timeout_is_a_400_naming_the_cap(engine: Engine) -> None:
    with pytest.raises(ValidationFailed) as caught, bounded_read(engine) as conn:
        conn.execute(text(SLOW[engine.dialect.name]))
    assert caught.value.details == {"cap": "statement_timeout_ms", "limit": 100}
    with bounded_read(engine) as conn:  # the connection went back to the pool usable
        assert conn.execute(text("SELECT 1")).scalar() == 1


def test_other_reads_are_not_bounded(engine: Engine) -> None:
    for _ in range(2):  # also on a pooled connection a bounded read used before
        with bounded_read(engine) as conn:
            conn.execute(text("SELECT 1"))
        with read_connection(engine) as conn:
            conn.execute(text(A_LITTLE_SLOW[engine.dialect.name]))
