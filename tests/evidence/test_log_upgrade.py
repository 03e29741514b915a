"""Evidence from before the log keeps verifying after it. tests/vectors/before-log/ holds what the release before the
log (commit 5e33cbb, schema 0008) wrote and served: its SQLite database of 300 records, three receipts, an export
and its public key. Today's verifier accepts them unchanged, and today's ledger upgrades that database, builds its
tree and serves every old record with its place in the log."""

from __future__ import annotations

import gzip
import json
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import Api, LedgerProcess
from xase import cli, evidence

BEFORE = Path(__file__).resolve().parents[1] / "vectors" / "before-log"
CAPTURED = (0, 150, 299)


def _gunzip(name: str, target: Path) -> Path:
    with gzip.open(BEFORE / name) as source, open(target, "wb") as out:
        shutil.copyfileobj(source, out)
    return target


def test_receipts_and_an_export_captured_before_the_log_verify_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = str(BEFORE / "public-key.pem")
    for n in CAPTURED:
        assert "tlog" not in json.loads((BEFORE / f"receipt-{n}.json").read_text())
        assert cli.main(["verify", str(BEFORE / f"receipt-{n}.json"), "--key", key]) == 0
    assert cli.main(["verify", str(_gunzip("export.jsonl.gz", tmp_path / "export.jsonl")), "--key", key]) == 0
    assert capsys.readouterr().out.count("receipt verified") == len(CAPTURED)


def test_a_ledger_from_before_the_log_upgrades_and_serves_its_records_in_the_log(tmp_path: Path) -> None:
    ledger = LedgerProcess(tmp_path)
    _gunzip("ledger.db.gz", ledger.database_path)
    upgraded = ledger.cli("db", "upgrade")
    assert "schema revision 0013" in upgraded.stdout and "256/300 records" in upgraded.stderr and "1 tiles written" in upgraded.stderr, upgraded
    ledger.start()  # a new signing key: the old one signed the old blocks, and the ledger still knows its public half
    try:
        api = Api(ledger, ledger.new_api_key("acme"))
        for _ in range(100):
            if "\n300\n" in api.get("/log/checkpoint").text:
                break
            time.sleep(0.05)
        keys = [key["pem"] for key in api.get("/keys").json()["keys"]]
        assert len(keys) == 2
        for n in CAPTURED:
            captured = json.loads((BEFORE / f"receipt-{n}.json").read_text())
            receipt = api.get(f"/receipts/pre_{n}").json()
            assert {member: value for member, value in receipt.items() if member != "tlog"} == captured  # the v1 receipt, unchanged
            assert receipt["tlog"]["index"] == n and "\n300\n" in receipt["tlog"]["checkpoint"]
            evidence.verify_receipt(receipt, trusted_keys=keys)
        assert ledger.cli("verify", check=False).returncode == 0
    finally:
        ledger.destroy()
