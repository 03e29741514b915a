"""Start a throwaway ledger process on a free loopback port for a benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
import requests

from xase import evidence


def _sdk_key() -> str:
    """An idempotency key as the SDK makes one: time-ordered, then random."""
    return f"k{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


def sdk_like_batch(first: int, size: int) -> bytes:
    """A /records/batch body like the SDK sends: commitments, keys and a small runtime context."""
    records = [
        {
            "policy": "credit_policy_v4", "policy_version": "4.2", "decision_type": "loan",
            "input_hash": evidence.sha256_hex(f"in-{n}".encode()), "output_hash": evidence.sha256_hex(b"APPROVED"),
            "confidence": 0.94, "processing_time": 12.5, "transaction_id": f"loan_{n}", "idempotency_key": _sdk_key(),
            "context": {"runtime": {"python": "3.11.7", "hostname": "bench-host", "pid": 4242, "sdk": "0.1.0"}, "request_id": f"r{n}"},
        }
        for n in range(first, first + size)
    ]  # fmt: skip
    return orjson.dumps({"records": records})  # as the SDK writes it


@dataclass
class BenchLedger:
    base_url: str
    api_key: str
    directory: Path
    cli: list[str]


@contextmanager
def postgres_database(admin_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/test") -> Iterator[str]:
    """A throwaway PostgreSQL database for one benchmark run."""
    import secrets

    import sqlalchemy

    name = "xase_bench_" + secrets.token_hex(6)
    admin = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextmanager
def running_ledger(
    extra_env: dict[str, str] | None = None, database_url: str | None = None, workers: int | None = 0, scopes: list[str] | None = None
) -> Iterator[BenchLedger]:
    with tempfile.TemporaryDirectory(prefix="xase-bench-") as tmp:
        directory = Path(tmp)
        cli = [sys.executable, "-m", "ledger_service.cli", "--database-url", database_url or f"sqlite:///{directory / 'ledger.db'}",
               "--signing-key", str(directory / "key.pem")]  # fmt: skip
        env = {**os.environ, "XASE_RATE_LIMIT": "", **(extra_env or {})}
        create = [*cli, "create-api-key", "--tenant", "bench", *(["--scopes", *scopes] if scopes else [])]
        key = subprocess.run(create, env=env, capture_output=True, text=True, check=True).stdout.strip()
        port_file = directory / "port"
        log = open(directory / "ledger.log", "wb")
        # workers None: as `xase-ledger serve` starts by default; 0: the development server
        serve = [*cli, "serve", "--port", "0", "--port-file", str(port_file), *(["--workers", str(workers)] if workers is not None else [])]
        process = subprocess.Popen(serve, env=env, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 30
            while not (port_file.exists() and port_file.read_text()):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError((directory / "ledger.log").read_text())
                time.sleep(0.05)
            base_url = f"http://127.0.0.1:{port_file.read_text()}/api/xase/v1"
            while True:
                try:
                    requests.get(base_url + "/health", timeout=1).raise_for_status()
                    break
                except requests.ConnectionError:
                    time.sleep(0.05)
            yield BenchLedger(base_url, key, directory, cli)
        finally:
            process.terminate()
            process.wait(timeout=30)
