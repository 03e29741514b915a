"""Type-safe usage (seed 001): RecordPayload is a TypedDict; mypy checks your payloads.

XASE_API_KEY=xase_pk_... XASE_BASE_URL=http://127.0.0.1:3000/api/xase/v1 python examples/type_safe.py
"""

from __future__ import annotations

import os
from typing import Any

from xase import RecordPayload, XaseClient, XaseError

xase = XaseClient({"api_key": os.getenv("XASE_API_KEY")})


def process_loan(application: dict[str, Any]) -> dict[str, Any]:
    decision: dict[str, Any] = {"decision": "APPROVED" if application["credit_score"] >= 700 else "DENIED"}
    payload: RecordPayload = {
        "policy": "credit_policy_v4",
        "policy_version": "4.2",
        "input": application,
        "output": decision,
        "confidence": application["credit_score"] / 850,
        "decision_type": "loan_approval",
    }
    try:
        xase.record(payload)
    except XaseError as error:  # invalid payloads are refused at once, before anything is queued
        print(f"Failed: {error.code} - {error.message}")
        raise
    return decision


if __name__ == "__main__":
    print(process_loan({"user_id": "u_77", "amount": 25_000, "credit_score": 731}))
    try:
        xase.record({"policy": "credit_policy_v4", "input": {}, "output": {}, "confidence": 1.7})
    except XaseError as error:
        print(f"refused as expected: {error.code}: {error.message}")
    xase.close()
