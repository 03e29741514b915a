"""Engines and transactions: SQLite in WAL mode by default, PostgreSQL via XASE_DATABASE_URL.

`write_transaction` is how every append starts: on SQLite it takes the write
lock up front (BEGIN IMMEDIATE), so two appenders never both read the same
chain head; on PostgreSQL the appender locks the head row (SELECT ... FOR UPDATE).
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Optional

from sqlalchemy import Connection, Engine, Table, create_engine, event, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from ledger_service.errors import over_cap

try:
    import fcntl
except ImportError:  # Windows: SQLite's own lock alone
    fcntl = None  # type: ignore[assignment]

__all__ = ["make_engine", "migrate", "write_transaction", "read_connection", "bounded_read", "bulk_insert", "insert_statement", "flush_sqlite_log"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_MIGRATION_LOCK = 0x58415345  # "XASE": one PostgreSQL advisory lock id for schema changes

_WRITE = "xase_write"
_TIMER = "xase_timer"  # per SQLite connection: {"deadline": monotonic seconds, 0 = none}
_STATEMENT_TIMEOUT_MS: weakref.WeakKeyDictionary[Engine, int] = weakref.WeakKeyDictionary()


def _sqlite_pragmas(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how each transaction starts.
        dbapi_connection.isolation_level = None
        timer = record.info[_TIMER] = {"deadline": 0.0}
        # Called every 10k VM steps: a non-zero answer interrupts the statement (bounded_read's deadline).
        dbapi_connection.set_progress_handler(lambda: int(0 < timer["deadline"] < time.monotonic()), 10_000)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA secure_delete=ON")  # an erased payload's bytes are zeroed in the file, not just unlinked
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.info.get(_WRITE) else "BEGIN")


def _owner_only(database: str) -> None:
    """The database file (and SQLite's -wal/-shm, which copy its mode) readable by its owner only:
    it holds payloads, anonymization keys and the cursor secret."""
    path = Path(database)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and file.stat().st_mode & 0o077:
            file.chmod(0o600)


def make_engine(url: str, *, sqlite_synchronous: str = "FULL", statement_timeout_ms: int = 10_000) -> Engine:
    """An engine that never logs a failed statement's parameters (they may hold payloads).

    `statement_timeout_ms` bounds each `bounded_read` (queries a client shapes: filters, pipelines).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            _owner_only(parsed.database)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True)
        _sqlite_pragmas(engine, sqlite_synchronous)
        _SQLITE_WRITERS[engine] = _TakeTurns(_writers_lock_path(parsed.database))
        _SYNCHRONOUS[engine] = sqlite_synchronous
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, hide_parameters=True)
    _STATEMENT_TIMEOUT_MS[engine] = statement_timeout_ms
    return engine


def _alembic_config(connection: Connection) -> object:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` with Alembic. Safe when many processes start at once:
    PostgreSQL serializes on an advisory lock, SQLite on its write lock."""
    from alembic import command

    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({_MIGRATION_LOCK})")
            connection.commit()
        connection.info[_WRITE] = True
        try:
            with connection.begin():
                command.upgrade(_alembic_config(connection), revision)  # type: ignore[arg-type]
        finally:
            connection.info.pop(_WRITE, None)
            if postgres:
                connection.exec_driver_sql(f"SELECT pg_advisory_unlock({_MIGRATION_LOCK})")
                connection.commit()


def current_revision(engine: Engine) -> str | None:
    """The revision the schema is at (Alembic's version table), or None for an empty database; without importing Alembic."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def head_revision() -> str:
    """The newest migration's revision: each file name starts with its revision id (a test holds the two equal)."""
    return max(path.name.split("_", 1)[0] for path in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def insert_statement(conn: Connection, table: Any) -> Any:
    """An INSERT that can say ON CONFLICT DO NOTHING / DO UPDATE, in the connection's dialect."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def bulk_insert(conn: Connection, table: Table, rows: Sequence[Sequence[Any]]) -> None:
    """INSERT many rows, each a tuple in the order of `table.columns`, through the driver's executemany:
    no per-row parameter processing by SQLAlchemy, which costs more than the insert itself on the append path."""
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    names = ", ".join(column.name for column in table.columns)
    statement = f"INSERT INTO {table.name} ({names}) VALUES ({', '.join([marker] * len(table.columns))})"  # noqa: S608 - names from the schema
    conn.exec_driver_sql(statement, list(rows))


def flush_sqlite_log(engine: Engine, wait_ms: int = 250) -> None:
    """SQLite: copy the write-ahead log into the database file and truncate it, so that bytes just
    overwritten (an erased payload) do not linger in the log. Waits at most `wait_ms` for readers
    (other writers wait that long at worst: erasures are rare); if readers keep the log busy, its
    old frames are overwritten as the log cycles. No-op on PostgreSQL."""
    if not is_sqlite(engine):
        return
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        raw.execute(f"PRAGMA busy_timeout={int(wait_ms)}")  # type: ignore[union-attr]
        try:
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()  # type: ignore[union-attr]
        finally:
            raw.execute("PRAGMA busy_timeout=30000")  # type: ignore[union-attr]


def _writers_lock_path(database: Optional[str]) -> Optional[Path]:
    """The file the writers of every process serving this SQLite database take turns on (none in memory)."""
    if fcntl is None or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database + "-writers")


class _TakeTurns:
    """A first-come, first-served gate for one SQLite database's writers in this process, then a lock across
    processes (gunicorn's workers) on a file beside the database.

    SQLite's own busy handler retries on a fixed schedule (sleeps of 1, 2, 5, 10, then 25 to 100 ms): a writer
    that commits and at once begins again (an upload's next chunk) can starve the others, and a writer that finds
    the lock taken sleeps on long after it was freed. Here they take turns, and each is woken when the lock is free.
    """

    def __init__(self, lock_path: Optional[Path] = None) -> None:
        self._turns: deque[object] = deque()
        self._changed = threading.Condition()
        self._lock_path = lock_path
        self._lock_fd, self._lock_pid = -1, 0

    @contextmanager
    def turn(self) -> Iterator[None]:
        ticket = object()
        with self._changed:
            self._turns.append(ticket)
            self._changed.wait_for(lambda: self._turns[0] is ticket)
        try:
            with self._across_processes():
                yield
        finally:
            with self._changed:
                self._turns.popleft()
                self._changed.notify_all()

    @contextmanager
    def _across_processes(self) -> Iterator[None]:
        if self._lock_path is None or fcntl is None:
            yield
            return
        if self._lock_pid != os.getpid():  # a forked process opens its own: a lock belongs to an open file, shared by forks
            self._lock_fd, self._lock_pid = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)


_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, _TakeTurns] = weakref.WeakKeyDictionary()
_SYNCHRONOUS: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


@contextmanager
def write_transaction(engine: Engine, *, durable: bool = True) -> Iterator[Connection]:
    """A connection inside a transaction that holds the write lock; commits on success.

    `durable=False` skips waiting for the disk at commit (SQLite synchronous=NORMAL, PostgreSQL
    synchronous_commit=off): only for rows nothing acknowledges until a later durable commit
    (an upload's staged chunks), which makes them durable too, since logs are written in order.
    """
    gate = _SQLITE_WRITERS.get(engine)
    with gate.turn() if gate is not None else nullcontext(), engine.connect() as connection:
        connection.info[_WRITE] = True
        relaxed_sqlite = gate is not None and not durable  # PRAGMA synchronous applies outside a transaction only
        if relaxed_sqlite:
            connection.connection.driver_connection.execute("PRAGMA synchronous=NORMAL")  # type: ignore[union-attr]
        try:
            with connection.begin():
                if not durable and gate is None:
                    connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
                yield connection
        finally:
            connection.info.pop(_WRITE, None)
            if relaxed_sqlite:
                connection.connection.driver_connection.execute(f"PRAGMA synchronous={_SYNCHRONOUS[engine]}")  # type: ignore[union-attr]


@contextmanager
def read_connection(engine: Engine, *, snapshot: bool = False) -> Iterator[Connection]:
    """A read transaction. `snapshot`: every statement sees the same data (PostgreSQL REPEATABLE READ; SQLite's
    transactions in WAL mode always do), for a read that answers over several statements while others write."""
    with engine.connect() as connection:
        if snapshot and connection.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            yield connection


@contextmanager
def bounded_read(engine: Engine) -> Iterator[Connection]:
    """A read whose statements may run at most the engine's statement timeout; past it, a 400 naming the cap.

    For queries whose cost a client chooses (filters, sorts, pipelines): no request can hold the
    database for longer, whatever it asks.
    """
    timeout_ms = _STATEMENT_TIMEOUT_MS.get(engine, 10_000)
    with engine.connect() as connection, connection.begin():
        timer = connection.connection.info.get(_TIMER)
        if timer is not None:
            timer["deadline"] = time.monotonic() + timeout_ms / 1000
        else:
            connection.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
        try:
            yield connection
        except DBAPIError as exc:
            if not _timed_out(exc):
                raise
            raise over_cap("query time in milliseconds", "statement_timeout_ms", timeout_ms) from None
        finally:
            if timer is not None:
                timer["deadline"] = 0.0


def _timed_out(exc: DBAPIError) -> bool:
    """SQLite's "interrupted" (our progress handler) or PostgreSQL's query_canceled (57014)."""
    return getattr(exc.orig, "sqlstate", None) == "57014" or str(exc.orig) == "interrupted"
