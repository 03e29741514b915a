"""Any change to a stored byte is found by `xase-ledger verify`, which names the first broken seq.

One chain per backend is built once; each test tampers with its own copy of the database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, Api, LedgerProcess, cloned_database, decision, ledger_cli, tamper
from xase import cli as xase_cli

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


@pytest.fixture(scope="module", params=BACKENDS)
def pristine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerProcess]:
    ledger = LedgerProcess(tmp_path_factory.mktemp("pristine"), backend=request.param).start()
    api = Api(ledger, ledger.new_api_key("acme"))
    api.post("/records/batch", json={"records": [decision(i, context={"ip": "10.0.0.1"}) for i in range(4)]})
    api.post("/records/batch", json={"records": [decision(i, context={"ip": "10.0.0.1"}) for i in range(4, 8)]})
    api.record(context={"ip": "10.0.0.1"})
    api.record(context={"ip": "10.0.0.1"})
    ledger.stop()
    yield ledger
    ledger.destroy()


@pytest.fixture
def chain(pristine: LedgerProcess, tmp_path: Path) -> Iterator[str]:
    """A copy of the pristine chain's database, to tamper with."""
    with cloned_database(pristine, tmp_path) as url:
        yield url


def test_untouched_chain_verifies(chain: str, pristine: LedgerProcess, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = ledger_cli(chain, pristine.key_path, capsys, "verify", "--tenant", "acme")
    assert code == 0 and "OK (10 records, 4 blocks)" in out, out


@pytest.mark.parametrize("change", sorted(TAMPERING))
def test_tampering_is_detected_at_the_first_broken_seq(chain: str, pristine: LedgerProcess, capsys: pytest.CaptureFixture[str], change: str) -> None:
    statement, broken_seq = TAMPERING[change]
    tamper(chain, statement)
    code, out, _ = ledger_cli(chain, pristine.key_path, capsys, "verify", "--tenant", "acme")
    assert code == 1, out
    assert f"BROKEN at seq {broken_seq}:" in out


def test_inserted_record_is_detected(chain: str, pristine: LedgerProcess, capsys: pytest.CaptureFixture[str]) -> None:
    (row,) = tamper(chain, "SELECT * FROM records WHERE seq = 9")
    forged = {**row, "seq": 10, "transaction_id": "inserted", "idempotency_key": None}
    tamper(chain, f"INSERT INTO records ({', '.join(forged)}) VALUES ({', '.join(':' + name for name in forged)})", **forged)
    code, out, _ = ledger_cli(chain, pristine.key_path, capsys, "verify")
    assert code == 1 and "BROKEN at seq 10:" in out


def test_tampered_export_fails_offline_verification(chain: str, pristine: LedgerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tamper(chain, TAMPERING["record policy_id"][0])
    bundle = tmp_path / "export.jsonl"
    assert ledger_cli(chain, pristine.key_path, capsys, "export", "--tenant", "acme", "-o", str(bundle))[0] == 0
    assert xase_cli.main(["verify", str(bundle)]) == 1
    assert "record seq 5: record_hash" in capsys.readouterr().err


def test_verify_endpoint_reports_the_break(chain: str, pristine: LedgerProcess, tmp_path: Path) -> None:
    tamper(chain, TAMPERING["block signature"][0])
    ledger = LedgerProcess(tmp_path, backend=pristine.backend, shared_database_url=chain)
    ledger.key_path.write_bytes(pristine.key_path.read_bytes())  # the ledger that signed the chain serves its copy
    ledger.start()
    try:
        report = Api(ledger, ledger.new_api_key("acme")).get("/verify").json()
        assert report["ok"] is False and report["first_broken_seq"] == 8
        assert report["error"]["step"] == "signature"
    finally:
        ledger.stop()
