"""xase-ledger init / create-api-key / verify / export as an operator uses them."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.conftest import Api, LedgerProcess, decision


def test_init_creates_key_0600_and_shows_the_admin_key_once(tmp_path: Path) -> None:
    ledger = LedgerProcess(tmp_path)
    first = ledger.cli("init")
    admin_key = first.stdout.strip()
    assert admin_key.startswith("xase_admin_") and len(first.stdout.splitlines()) == 1
    assert stat.S_IMODE(os.stat(ledger.key_path).st_mode) == 0o600
    second = ledger.cli("init")
    assert second.stdout == "" and "not shown again" in second.stderr
    ledger.env["XASE_ADMIN_KEY"] = ""
    ledger.admin_key = admin_key
    ledger.start()
    try:
        assert ledger.admin("GET", "/tenants").status_code == 200
    finally:
        ledger.stop()


def test_create_api_key_prints_the_secret_alone_and_reuses_the_tenant(fresh_ledger: LedgerProcess) -> None:
    first = fresh_ledger.cli("create-api-key", "--tenant", "acme").stdout
    second = fresh_ledger.cli("create-api-key", "--tenant", "acme", "--scopes", "records:read").stdout
    assert first.startswith("xase_pk_") and first.count("\n") == 1
    writer, reader = Api(fresh_ledger, first.strip()), Api(fresh_ledger, second.strip())
    writer.record(transaction_id="x1")
    assert reader.get("/records/x1").status_code == 200  # same tenant
    assert reader.post("/records", json=decision(1)).status_code == 403


def test_export_writes_a_bundle_the_verifier_accepts(fresh_ledger: LedgerProcess, tmp_path: Path) -> None:
    api = Api(fresh_ledger, fresh_ledger.new_api_key("acme"))
    api.post("/records/batch", json={"records": [decision(i) for i in range(3)]})
    bundle = tmp_path / "acme.jsonl"
    fresh_ledger.cli("export", "--tenant", "acme", "-o", str(bundle))
    assert bundle.read_bytes().count(b"\n") == 1 + 3 + 1 + 1
    assert fresh_ledger.cli("verify", "--tenant", "acme").returncode == 0
    assert fresh_ledger.cli("verify", "--tenant", "nobody", check=False).returncode != 0


def test_serve_runs_gunicorn_with_a_worker_per_core_by_default(tmp_path: Path) -> None:
    ledger = LedgerProcess(tmp_path)
    port_file = tmp_path / "port"
    process = subprocess.Popen([sys.executable, "-m", "ledger_service.cli", *ledger.cli_args(), "serve", "--port", "0", "--port-file", str(port_file)],
                               env=ledger.process_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        for _ in range(300):
            if port_file.exists() and port_file.read_text():
                break
            time.sleep(0.05)
        ledger.port = int(port_file.read_text())
        assert requests.get(ledger.base_url + "/health", timeout=5).status_code == 200
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert f"with {min(4, os.cpu_count() or 1)} workers" in output
