"""Loan approval, fire-and-forget (seed 001): recording costs microseconds; atexit flushes.

XASE_API_KEY=xase_pk_... XASE_BASE_URL=http://127.0.0.1:3000/api/xase/v1 python examples/loan_approval.py
"""

from __future__ import annotations

import atexit
import os
from typing import Any

from xase import XaseClient

xase = XaseClient({
    "api_key": os.getenv("XASE_API_KEY"),
    "fire_and_forget": True,  # zero latency impact
})  # fmt: skip
atexit.register(lambda: xase.flush(2.0))  # the SDK also flushes at exit on its own bounded budget


def approve_loan(user_data: dict[str, Any]) -> str:
    decision = "APPROVED" if user_data["credit_score"] >= 700 else "DENIED"
    xase.record({
        "policy": "credit_policy_v4",
        "input": user_data,
        "output": {"decision": decision},
        "confidence": 0.94,
        "transaction_id": f"loan_{user_data['user_id']}",
    })  # fmt: skip
    return decision  # returned at once: the worker thread delivers in the background


if __name__ == "__main__":
    for n, score in enumerate([640, 710, 755, 690, 802], start=1):
        print(f"loan_u_{n}: {approve_loan({'user_id': f'u_{n}', 'amount': 10_000 * n, 'credit_score': score})}")
    xase.flush(5.0)
    print(f"delivered: {xase.get_stats()}")
