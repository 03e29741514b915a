"""What the ledger leaves on disk and in its logs (issue 12): owner-only database files, no parameters in errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from ledger_service.db import make_engine, migrate, write_transaction
from ledger_service.tables import LedgerMeta
from tests.conftest import Api, LedgerProcess


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_sqlite_database_and_its_wal_are_owner_only(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate(engine)
    with write_transaction(engine) as conn:
        conn.execute(insert(LedgerMeta).values(key="k", value="v"))
    for name in ("ledger.db", "ledger.db-wal", "ledger.db-shm"):
        assert _mode(tmp_path / name) == 0o600, name
    engine.dispose()


def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    (tmp_path / "old.db").touch(mode=0o644)
    (tmp_path / "old.db").chmod(0o644)
    make_engine(f"sqlite:///{tmp_path / 'old.db'}").dispose()
    assert _mode(tmp_path / "old.db") == 0o600


def test_a_served_ledgers_database_is_owner_only(tmp_path: Path) -> None:
    ledger = LedgerProcess(tmp_path).start()
    try:
        Api(ledger, ledger.new_api_key()).record()
        assert _mode(ledger.database_path) == 0o600 and _mode(ledger.database_path.with_name("ledger.db-wal")) == 0o600
    finally:
        ledger.destroy()


def test_failed_statements_do_not_carry_their_parameters(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate(engine)
    secret = "payload-that-must-not-reach-a-log"
    with write_transaction(engine) as conn:
        conn.execute(insert(LedgerMeta).values(key="dup", value=secret))
    with pytest.raises(IntegrityError) as caught, write_transaction(engine) as conn:
        conn.execute(insert(LedgerMeta).values(key="dup", value=secret))
    assert secret not in str(caught.value)
    engine.dispose()
