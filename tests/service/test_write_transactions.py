"""write_transaction's SQLite details (issue 12): writers take turns, and a non-durable write leaves no relaxed connection behind."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ledger_service.db import _SQLITE_WRITERS, make_engine, write_transaction


def test_a_non_durable_write_restores_the_configured_synchronous_mode(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}", sqlite_synchronous="FULL")
    with write_transaction(engine, durable=False) as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        conn.exec_driver_sql("CREATE TABLE t (a)")
    with write_transaction(engine) as conn:  # the same pooled connection
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    engine.dispose()


def test_writers_take_turns_in_arrival_order(tmp_path: Path) -> None:
    """A writer that begins again at once (an upload's next chunk) waits behind one that was already waiting."""
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with write_transaction(engine) as conn:
        conn.exec_driver_sql("CREATE TABLE log (who)")
    order: list[str] = []
    other_waiting = threading.Event()

    def other() -> None:
        other_waiting.set()
        with write_transaction(engine) as conn:
            conn.exec_driver_sql("INSERT INTO log VALUES ('other')")
            order.append("other")

    with write_transaction(engine) as conn:
        thread = threading.Thread(target=other)
        thread.start()
        other_waiting.wait()
        turns = _SQLITE_WRITERS[engine]._turns
        deadline = time.monotonic() + 10
        while len(turns) < 2 and time.monotonic() < deadline:  # until it queues behind this transaction
            time.sleep(0.005)
        order.append("first")
    with write_transaction(engine) as conn:  # begins again at once: must come after the waiting writer
        order.append("again")
    thread.join()
    assert order == ["first", "other", "again"]
    engine.dispose()
