"""Callbacks feeding metrics (seed 001): on_success / on_error run on the SDK's worker thread.

XASE_API_KEY=xase_pk_... XASE_BASE_URL=http://127.0.0.1:3000/api/xase/v1 python examples/callbacks_metrics.py
"""

from __future__ import annotations

import logging
import os
from collections import Counter

from xase import RecordResult, XaseClient, XaseError

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
logger = logging.getLogger("loans")
metrics: Counter[str] = Counter()


def on_success(result: RecordResult) -> None:
    metrics["xase.records.success"] += 1
    logger.debug("Evidence recorded: %s", result["transaction_id"])


def on_error(error: XaseError) -> None:
    metrics[f"xase.records.error.{error.code}"] += 1
    logger.error("Failed to record: %s %s", error.code, error.details.get("transaction_id"))


xase = XaseClient({"api_key": os.getenv("XASE_API_KEY"), "on_success": on_success, "on_error": on_error})

if __name__ == "__main__":
    for n in range(20):
        xase.record({"policy": "credit_policy_v4", "input": {"n": n}, "output": {"decision": "APPROVED"}, "transaction_id": f"cb_{n}"})
    # The same transaction id with a different decision: the ledger refuses it (409), on_error hears of it.
    xase.record({"policy": "credit_policy_v4", "input": {"n": 0}, "output": {"decision": "DENIED"}, "transaction_id": "cb_0"})
    xase.flush(5.0)
    print(dict(metrics))
    print(xase.get_stats())
    xase.close()
