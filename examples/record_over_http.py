"""Record a few decisions on a ledger over plain HTTP, then save one receipt and the ledger's key.

    XASE_BASE_URL=http://127.0.0.1:3000/api/xase/v1 XASE_API_KEY=xase_pk_... \
        python examples/record_over_http.py OUT_DIR

Writes OUT_DIR/receipt.json and OUT_DIR/ledger-key.pem for `xase verify`.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

import requests


def main(out_dir: Path) -> int:
    base_url = os.environ.get("XASE_BASE_URL", "http://localhost:3000/api/xase/v1")
    session = requests.Session()
    session.headers["X-API-Key"] = os.environ["XASE_API_KEY"]

    applicants = [{"user_id": f"u_{n}", "amount": 10_000 * n, "credit_score": 640 + 20 * n} for n in range(1, 6)]
    batch = [
        {
            "policy": "credit_policy_v4",
            "policy_version": "4.2",
            "decision_type": "loan_approval",
            "input": applicant,
            "output": {"decision": "APPROVED" if applicant["credit_score"] >= 700 else "DENIED"},
            "confidence": 0.94,
            "transaction_id": f"loan_{applicant['user_id']}",
            "idempotency_key": str(uuid.uuid4()),
        }
        for applicant in applicants
    ]
    response = session.post(f"{base_url}/records/batch", json={"records": batch}, timeout=10)
    response.raise_for_status()
    for result in response.json()["results"]:
        print(f"recorded {result['transaction_id']:<12} seq {result['seq']}  {result['record_hash'][:16]}…")

    single = session.post(
        f"{base_url}/records",
        json={"policy": "fraud_detection_v2", "input": {"amount": 912.5, "country": "PT"}, "output": {"is_fraud": False},
              "confidence": 0.87, "transaction_id": "txn_fraud_0001"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
        timeout=10,
    )  # fmt: skip
    single.raise_for_status()
    result = single.json()
    print(f"recorded {result['transaction_id']} ({result['chain_position']}); receipt at {result['receipt_url']}")

    receipt = session.get(result["receipt_url"], timeout=10)
    receipt.raise_for_status()
    keys = session.get(f"{base_url}/keys", timeout=10).json()
    current = next(key for key in keys["keys"] if key["key_id"] == keys["current_key_id"])
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "receipt.json").write_text(json.dumps(receipt.json(), indent=2))
    (out_dir / "ledger-key.pem").write_text(current["pem"])
    print(f"saved {out_dir / 'receipt.json'} and the ledger's public key {current['key_id'][:23]}…")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".")))
