"""Fraud detection, synchronous (seed 001): wait for the ledger and print the receipt URL.

XASE_API_KEY=xase_pk_... XASE_BASE_URL=http://127.0.0.1:3000/api/xase/v1 python examples/fraud_detection.py
"""

from __future__ import annotations

import os
from typing import Any

from xase import XaseClient

xase = XaseClient({
    "api_key": os.getenv("XASE_API_KEY"),
    "fire_and_forget": False,  # synchronous mode: record() returns the RecordResult
})  # fmt: skip


def detect_fraud(transaction: dict[str, Any]) -> dict[str, Any]:
    is_fraud = transaction["amount"] > 5_000 and transaction["country"] != transaction["card_country"]
    result = xase.record({
        "policy": "fraud_detection_v2",
        "input": transaction,
        "output": {"is_fraud": is_fraud},
        "confidence": 0.87,
        "transaction_id": f"txn_{transaction['id']}",
    })  # fmt: skip
    assert result is not None
    print(f"Evidence recorded: {result['transaction_id']}")
    print(f"Receipt URL: {result['receipt_url']}")
    return {"is_fraud": is_fraud, "evidence": result}


if __name__ == "__main__":
    detect_fraud({"id": "0001", "amount": 912.5, "country": "PT", "card_country": "PT"})
    detect_fraud({"id": "0002", "amount": 7_300, "country": "BR", "card_country": "DE"})
    xase.close()
