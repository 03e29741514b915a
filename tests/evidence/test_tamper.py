"""Any change to a stored byte is found by `xase-ledger verify`, which names the first broken seq."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Api, LedgerProcess, decision

# (statement, first broken seq); the chain has records 0..9 in blocks [0..3], [4..7], [8], [9].
# One changed character in each column is test_tamper_fields.py; here are the forgeries that
# keep values well-formed (swapped hashes and signatures, forged JSON) and deletions.
TAMPERING = {
    "record policy_id": ("UPDATE records SET policy_id = 'credit_policy_v5' WHERE seq = 5", 5),
    "record prev_hash": ("UPDATE records SET prev_hash = (SELECT record_hash FROM records WHERE seq = 1) WHERE seq = 3", 3),
    "record context": ('UPDATE records SET context_json = \'{"ip":"6.6.6.6"}\' WHERE seq = 4', 4),
    "deleted record": ("DELETE FROM records WHERE seq = 5", 5),
    "deleted last record": ("DELETE FROM records WHERE seq = 9", 9),
    "block signature": ("UPDATE blocks SET signature = (SELECT signature FROM blocks WHERE block_seq = 0) WHERE block_seq = 2", 8),
    "block range": ("UPDATE blocks SET last_seq = 2 WHERE block_seq = 0", 0),
    "deleted block": ("DELETE FROM blocks WHERE block_seq = 2", 8),
}


@pytest.fixture
def chain(fresh_ledger: LedgerProcess) -> Iterator[LedgerProcess]:
    api = Api(fresh_ledger, fresh_ledger.new_api_key("acme"))
    api.post("/records/batch", json={"records": [decision(i, context={"ip": "10.0.0.1"}) for i in range(4)]})
    api.post("/records/batch", json={"records": [decision(i, context={"ip": "10.0.0.1"}) for i in range(4, 8)]})
    api.record(context={"ip": "10.0.0.1"})
    api.record(context={"ip": "10.0.0.1"})
    fresh_ledger.stop()
    yield fresh_ledger


def test_untouched_chain_verifies(chain: LedgerProcess) -> None:
    done = chain.cli("verify", "--tenant", "acme")
    assert "OK (10 records, 4 blocks)" in done.stdout


@pytest.mark.parametrize("change", sorted(TAMPERING))
def test_tampering_is_detected_at_the_first_broken_seq(chain: LedgerProcess, change: str) -> None:
    statement, broken_seq = TAMPERING[change]
    chain.sql(statement)
    done = chain.cli("verify", "--tenant", "acme", check=False)
    assert done.returncode == 1, done.stdout
    assert f"BROKEN at seq {broken_seq}:" in done.stdout


def test_inserted_record_is_detected(chain: LedgerProcess) -> None:
    (row,) = chain.sql("SELECT * FROM records WHERE seq = 9")
    forged = {**row, "seq": 10, "transaction_id": "inserted", "idempotency_key": None}
    columns = ", ".join(forged)
    chain.sql(f"INSERT INTO records ({columns}) VALUES ({', '.join(':' + name for name in forged)})", **forged)
    done = chain.cli("verify", check=False)
    assert done.returncode == 1 and "BROKEN at seq 10:" in done.stdout


def test_tampered_export_fails_offline_verification(chain: LedgerProcess, tmp_path: Path) -> None:
    chain.sql(TAMPERING["record policy_id"][0])
    bundle = tmp_path / "export.jsonl"
    chain.cli("export", "--tenant", "acme", "-o", str(bundle))
    done = subprocess.run([sys.executable, "-m", "xase.cli", "verify", str(bundle)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "record seq 5: record_hash" in done.stderr


def test_verify_endpoint_reports_the_break(chain: LedgerProcess) -> None:
    chain.sql(TAMPERING["block signature"][0])
    chain.start()
    key = chain.cli("create-api-key", "--tenant", "acme").stdout.strip()
    report = Api(chain, key).get("/verify").json()
    assert report["ok"] is False and report["first_broken_seq"] == 8
    assert report["error"]["step"] == "signature"
