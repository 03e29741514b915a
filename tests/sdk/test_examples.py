"""Every example in examples/ runs as written against a real ledger."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Api

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(api: Api, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XASE_API_KEY": api.key, "XASE_BASE_URL": api.ledger.base_url}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "example, expected_output, records",
    [
        ("loan_approval.py", "'sent': 5", 5),
        ("fraud_detection.py", "Receipt URL: http", 2),
        ("type_safe.py", "refused as expected: VALIDATION_ERROR", 1),
        ("callbacks_metrics.py", "'xase.records.error.IDEMPOTENCY_CONFLICT': 1", 20),
    ],
)
def test_example_runs_and_records(api: Api, example: str, expected_output: str, records: int) -> None:
    done = _run(api, str(EXAMPLES / example))
    assert done.returncode == 0, done.stderr
    assert expected_output in done.stdout
    assert api.get("/stats").json()["records"] == records


def test_auditor_example_verifies_a_receipt(api: Api, tmp_path: Path) -> None:
    assert _run(api, str(EXAMPLES / "fraud_detection.py")).returncode == 0
    done = _run(api, str(EXAMPLES / "verify_receipt.py"), "txn_0002", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "txn_0002: fraud_detection_v2" in done.stdout
    assert (tmp_path / "receipt.json").exists() and (tmp_path / "ledger-key.pem").exists()
