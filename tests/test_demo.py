"""The README's demo command runs end to end and ends with `receipt verified`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_script_ends_with_a_verified_receipt() -> None:
    env = {**os.environ, "XASE_VENV": sys.prefix}  # the venv running the tests, already installed
    done = subprocess.run([str(ROOT / "scripts" / "demo.sh")], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert "receipt verified" in lines[-1]
    assert any("OK (7 records" in line for line in lines)
    assert any("Receipt URL: http://127.0.0.1:" in line for line in lines)
