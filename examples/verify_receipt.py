"""Verify a receipt as an auditor: fetch it once, then check it offline against a pinned key.

    XASE_API_KEY=xase_pk_... XASE_BASE_URL=http://127.0.0.1:3000/api/xase/v1 \
        python examples/verify_receipt.py TRANSACTION_ID [OUT_DIR]

Writes OUT_DIR/receipt.json and OUT_DIR/ledger-key.pem, then verifies the
receipt with nothing but those two files, as `xase verify` does.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import requests

from xase import VerificationError, verify_receipt


def fetch(transaction_id: str, out_dir: Path) -> tuple[Path, Path]:
    base_url = os.environ.get("XASE_BASE_URL", "http://localhost:3000/api/xase/v1")
    headers = {"X-API-Key": os.environ["XASE_API_KEY"]}
    receipt = requests.get(f"{base_url}/receipts/{transaction_id}", headers=headers, timeout=10)
    receipt.raise_for_status()
    keys = requests.get(f"{base_url}/keys", timeout=10).json()
    current = next(key for key in keys["keys"] if key["key_id"] == keys["current_key_id"])
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "receipt.json").write_text(json.dumps(receipt.json(), indent=2))
    (out_dir / "ledger-key.pem").write_text(current["pem"])  # pin this key; mirror it outside the ledger
    return out_dir / "receipt.json", out_dir / "ledger-key.pem"


def audit(receipt_path: Path, key_path: Path) -> bool:
    receipt = json.loads(receipt_path.read_text())
    try:
        verify_receipt(receipt, trusted_keys=[key_path.read_text()])
    except VerificationError as failure:
        print(f"REJECTED at step {failure.step}: {failure}")
        return False
    record = receipt["record"]
    print(f"{record['transaction_id']}: {record['policy_id']} at {record['recorded_at']}, seq {record['seq']} "
          f"in block {receipt['block']['block_seq']}, signed by {receipt['block']['key_id'][:23]}…")  # fmt: skip
    return True


if __name__ == "__main__":
    receipt_file, key_file = fetch(sys.argv[1], Path(sys.argv[2] if len(sys.argv) > 2 else "."))
    sys.exit(0 if audit(receipt_file, key_file) else 1)
