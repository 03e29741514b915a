"""`xase verify` never prints a stored field raw: terminal escapes cannot forge lines on an auditor's screen (issue 12)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ledger_service.db import read_connection
from ledger_service.evidence import audit
from ledger_service.evidence.chain import append
from ledger_service.evidence.intake import parse_record
from ledger_service.evidence.signing import LocalSigner
from tests.conftest import decision
from xase import cli as xase_cli

# Signed by a ledger that predates the intake rules (or a hostile one): the receipt verifies, the text is hostile.
HOSTILE = "credit\x1b[2K\r\ntenant          ten_victim\u202e"


def test_hostile_fields_of_a_valid_receipt_are_escaped(chain: tuple[Engine, LocalSigner, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    engine, signer, tenant_id = chain
    item = dataclasses.replace(parse_record(decision(1, transaction_id="t_1")), policy_id=HOSTILE, policy_version="v\x07")
    (outcome,) = append(engine, signer, tenant_id, [item])
    assert outcome.error is None
    with read_connection(engine) as conn:
        receipt = audit.receipt(conn, tenant_id, "t_1")
    (tmp_path / "receipt.json").write_text(json.dumps(receipt))
    (tmp_path / "key.pub").write_text(signer.public_pem)

    assert xase_cli.main(["verify", str(tmp_path / "receipt.json"), "--key", str(tmp_path / "key.pub")]) == 0
    printed = capsys.readouterr().out
    assert "\x1b" not in printed and "\r" not in printed and "\u202e" not in printed and "\x07" not in printed
    assert "\\x1b[2K\\r\\ntenant" in printed and "\\u202e" in printed
    assert [line for line in printed.splitlines() if line.startswith("tenant")] == [f"tenant          {tenant_id}"]
