"""Fixtures: real ledger processes on free loopback ports, backed by real SQLite files."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional

import pytest
import requests
import sqlalchemy

PREFIX = "/api/xase/v1"
POSTGRES_ADMIN_URL = os.environ.get("XASE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_unavailable() -> Optional[str]:
    """Why PostgreSQL tests cannot run here, or None when they can."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'xase-sdk[postgres]')"
    try:
        engine = sqlalchemy.create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:
        return f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {type(exc).__name__}"
    return None


def _redis_unavailable() -> Optional[str]:
    """Why Redis tests cannot run here, or None when they can."""
    try:
        import redis
    except ImportError:
        return "the redis client is not installed (pip install redis)"
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:  # any failure means "not reachable"
        return f"Redis is not reachable at {REDIS_URL}: {type(exc).__name__}"
    return None


REDIS_URL = os.environ.get("XASE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_SKIP = _postgres_unavailable()
REDIS_SKIP = _redis_unavailable()
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(POSTGRES_SKIP is not None, reason=str(POSTGRES_SKIP)))]


def pytest_configure(config: pytest.Config) -> None:
    """On CI (CI=true, or XASE_REQUIRE_SERVICES=1) a missing PostgreSQL or Redis fails the run: skipping stays for a laptop."""
    required = os.environ.get("CI") == "true" or os.environ.get("XASE_REQUIRE_SERVICES") == "1"
    missing = [reason for reason in (POSTGRES_SKIP, REDIS_SKIP) if reason is not None]
    if required and missing:
        raise pytest.UsageError("CI needs PostgreSQL and Redis on 127.0.0.1: " + "; ".join(missing))


class PostgresDatabase:
    """A throwaway database on the test server, dropped afterwards."""

    def __init__(self, template: Optional[str] = None) -> None:
        """`template`: the name of a database to copy (nobody may be connected to it)."""
        self.name = "xase_test_" + secrets.token_hex(6)
        self._admin = sqlalchemy.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"' + (f' TEMPLATE "{template}"' if template else ""))
        self.url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + self.name

    def drop(self) -> None:
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._admin.dispose()


@dataclass
class LedgerProcess:
    """A `xase-ledger serve` child process and the files it owns."""

    directory: Path
    env: dict[str, str] = field(default_factory=dict)
    backend: str = "sqlite"
    postgres: Optional[PostgresDatabase] = None
    workers: int = 0  # > 0: gunicorn with that many worker processes
    shared_database_url: Optional[str] = None  # run against another ledger's database
    process: Optional[subprocess.Popen[bytes]] = None
    port: int = 0
    admin_key: str = field(default_factory=lambda: "xase_admin_" + secrets.token_hex(16))

    @property
    def database_path(self) -> Path:
        return self.directory / "ledger.db"

    @property
    def key_path(self) -> Path:
        return self.directory / "signing-key.pem"

    @property
    def database_url(self) -> str:
        if self.shared_database_url:
            return self.shared_database_url
        if self.backend == "postgresql":
            if self.postgres is None:
                self.postgres = PostgresDatabase()
            return self.postgres.url
        return f"sqlite:///{self.database_path}"

    def sql(self, statement: str, **params: Any) -> list[Any]:
        """Run SQL straight against the ledger's database, as a tamperer would."""
        engine = sqlalchemy.create_engine(self.database_url)
        try:
            with engine.begin() as conn:
                result = conn.execute(sqlalchemy.text(statement), params)
                return list(result.mappings()) if result.returns_rows else []
        finally:
            engine.dispose()

    def stored_text(self) -> str:
        """Everything at rest: the raw files for SQLite, every table's rows for PostgreSQL."""
        if self.backend == "sqlite":
            files = [self.database_path, self.database_path.with_suffix(".db-wal")]
            return b"".join(f.read_bytes() for f in files if f.exists()).decode("latin-1")
        tables = ("tenants", "api_keys", "records", "blocks", "payloads", "ledger_meta", "signing_keys", "chain_heads")
        return "".join(str(self.sql(f"SELECT * FROM {table}")) for table in tables)

    def destroy(self) -> None:
        self.stop()
        if self.postgres is not None:
            self.postgres.drop()
            self.postgres = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    def cli_args(self) -> list[str]:
        return ["--database-url", self.database_url, "--signing-key", str(self.key_path)]

    def process_env(self) -> dict[str, str]:
        # Tests send bad keys on purpose; tests/service/test_failed_auth.py turns the failed-authentication limit on.
        return {**os.environ, "XASE_ADMIN_KEY": self.admin_key, "XASE_RATE_LIMIT": "100000 per second", "XASE_AUTH_FAILURE_LIMIT": "",
                **self.env}  # fmt: skip

    def start(self, port: int = 0) -> LedgerProcess:
        """Start serving; `port` > 0 comes back on a known port (a restart clients can find again)."""
        port_file = self.directory / "port"
        port_file.unlink(missing_ok=True)
        log = open(self.directory / "ledger.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ledger_service.cli", *self.cli_args(), "serve", "--host", "127.0.0.1", "--port", str(port),
             "--port-file", str(port_file), "--workers", str(self.workers)],  # 0: the development server
            env=self.process_env(), stdout=log, stderr=log,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ledger exited early:\n{(self.directory / 'ledger.log').read_text()}")
            if port_file.exists() and port_file.read_text():
                self.port = int(port_file.read_text())
                try:
                    if requests.get(self.base_url + "/health", timeout=1).status_code == 200:
                        return self
                except requests.ConnectionError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("ledger did not become healthy within 30 s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ledger_service.cli", *self.cli_args(), *args],
            env=self.process_env(), capture_output=True, text=True, check=check, timeout=120,
        )  # fmt: skip

    # -- HTTP helpers
    def admin(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"X-Admin-Key": self.admin_key, **kwargs.pop("headers", {})}
        return requests.request(method, self.base_url + "/admin" + path, headers=headers, timeout=10, **kwargs)

    def new_api_key(self, tenant: Optional[str] = None, scopes: Optional[list[str]] = None) -> str:
        tenant = tenant or "tenant-" + secrets.token_hex(4)
        if self.admin("GET", f"/tenants/{tenant}/api-keys").status_code == 404:
            assert self.admin("POST", "/tenants", json={"name": tenant}).status_code == 201
        body: dict[str, Any] = {"name": "test"}
        if scopes is not None:
            body["scopes"] = scopes
        response = self.admin("POST", f"/tenants/{tenant}/api-keys", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["secret"])


class FlakySigner:
    """A LocalSigner that fails on demand, as a KMS outage or a bug would (for an in-process app)."""

    def __init__(self, path: Path) -> None:
        from ledger_service.evidence.signing import LocalSigner

        self._inner = LocalSigner.from_path(path)
        self.key_id, self.public_pem = self._inner.key_id, self._inner.public_pem
        self.algorithm, self.kms_key_arn = self._inner.algorithm, None
        self.failure: Optional[Exception] = None

    def sign(self, canonical_body: bytes, digest: bytes) -> str:
        if self.failure is not None:
            raise self.failure
        return self._inner.sign(canonical_body, digest)


@contextmanager
def in_process_app(directory: Path, backend: str, **settings: Any) -> Iterator[tuple[Any, FlakySigner]]:
    """A ledger app in this process (for fault injection) on a fresh SQLite file or PostgreSQL database, with a FlakySigner."""
    from ledger_service.app import create_app

    postgres = PostgresDatabase() if backend == "postgresql" else None
    url = postgres.url if postgres is not None else f"sqlite:///{directory / 'ledger.db'}"
    signer = FlakySigner(directory / "key.pem")
    try:
        app = create_app({"database_url": url, "rate_limit": "", **settings}, signer=signer)
    except SystemError as error:  # CPython 3.11.7's ast.parse (werkzeug compiles URL rules with it), gh-106905: once more
        if "AST constructor recursion depth mismatch" not in str(error):
            raise
        app = create_app({"database_url": url, "rate_limit": "", **settings}, signer=signer)
    try:
        yield app, signer
    finally:
        app.extensions["xase"].engine.dispose()
        if postgres is not None:
            postgres.drop()


@contextmanager
def cloned_database(source: LedgerProcess, directory: Path) -> Iterator[str]:
    """A database URL holding a copy of a stopped ledger's database (the SQLite file with its log, or a PostgreSQL template copy)."""
    if source.backend == "sqlite":
        target = directory / "clone.db"
        for suffix in ("", "-wal", "-shm"):  # what the WAL holds is part of the database
            if Path(str(source.database_path) + suffix).exists():
                shutil.copyfile(str(source.database_path) + suffix, str(target) + suffix)
        yield f"sqlite:///{target}"
        return
    assert source.postgres is not None
    copy = PostgresDatabase(template=source.postgres.name)
    try:
        yield copy.url
    finally:
        copy.drop()


def tamper(url: str, statement: str, **params: Any) -> list[Any]:
    """Run SQL straight against a database, as a tamperer would; a change must touch at least one row."""
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(sqlalchemy.text(statement), params)
            if result.returns_rows:
                return list(result.mappings())
            assert result.rowcount >= 1, statement
            return []
    finally:
        engine.dispose()


def ledger_cli(url: str, key: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`xase-ledger --database-url URL --signing-key KEY ARGS...` in this process: (exit code, stdout, stderr)."""
    from ledger_service import cli

    code = cli.main(["--database-url", url, "--signing-key", str(key), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


class Api:
    """requests with a tenant's API key and the ledger's base URL."""

    def __init__(self, ledger: LedgerProcess, key: str) -> None:
        self.ledger = ledger
        self.key = key
        self.session = requests.Session()
        self.session.headers["X-API-Key"] = key

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.ledger.base_url + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def all_records(self) -> list[dict[str, Any]]:
        """The tenant's whole chain, oldest first, page by page."""
        records, cursor = [], None
        while True:
            page = self.get("/records", params={"limit": 1000, **({"cursor": cursor} if cursor else {})}).json()
            records += page["records"]
            cursor = page["next_cursor"]
            if not cursor:
                return records

    def record(self, **fields: Any) -> dict[str, Any]:
        payload = {"policy": "credit_policy_v4", "input": {"amount": 1}, "output": {"decision": "APPROVED"}, **fields}
        response = self.post("/records", json=payload)
        assert response.status_code in (200, 201), response.text
        return dict(response.json())


def until(condition: Any, seconds: float = 15) -> Any:
    """The first truthy value `condition()` returns, polled for up to `seconds`; the test fails after that."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s")


class ScriptedServer:
    """A loopback HTTP server whose every answer is `reply(handler)`; it logs what it was sent."""

    def __init__(self, reply: Any) -> None:
        self.seen: list[dict[str, Any]] = []
        seen, outer = self.seen, self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, headers, payload = reply(outer)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _any

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def decision(index: int, **extra: Any) -> dict[str, Any]:
    """A distinct, valid wire record."""
    return {"policy_id": "credit_policy_v4", "input": {"user": f"u_{index}", "amount": index}, "output": {"decision": "APPROVED"},
            "confidence": 0.9, **extra}  # fmt: skip


@pytest.fixture(scope="module", params=BACKENDS)
def ledger(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerProcess]:
    """One ledger process per backend shared by a test module (each test makes its own tenant)."""
    process = LedgerProcess(tmp_path_factory.mktemp("ledger"), backend=request.param).start()
    yield process
    process.destroy()


@pytest.fixture(params=BACKENDS)
def fresh_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerProcess]:
    """A ledger process of the test's own, for tests that stop, restart or tamper with it."""
    process = LedgerProcess(tmp_path, backend=request.param).start()
    yield process
    process.destroy()


AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}  # moto's: no real credentials


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    """moto's AWS (KMS, S3) on loopback, for a ledger process to reach through AWS_ENDPOINT_URL."""
    server_module = pytest.importorskip("moto.server", reason="moto[server] is not installed")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def api(ledger: LedgerProcess) -> Api:
    """A client for a brand-new tenant on the shared ledger."""
    return Api(ledger, ledger.new_api_key())
