"""An agent conversation, a fork, a decision on the forked branch: its receipt and its history, both verified offline.

    xase-ledger create-api-key --tenant acme --scopes contexts records:write records:read
    XASE_API_KEY=xase_pk_... XASE_BASE_URL=http://127.0.0.1:3000/api/xase/v1 python examples/agent_context.py

The agent's turns go to the ledger's context store (/cxdb, next to /api/xase/v1; XASE_CXDB_URL overrides).
The decision record names the turn it was made on; an auditor holding the receipt, the record's context
and the turns checks that the decision was made on exactly that history, and not on the other branch.
"""

from __future__ import annotations

import os
import secrets

import requests

from xase import XaseClient, verify_receipt
from xase.contexts import AppendedTurn, Client, verify_decision_context
from xase.evidence import VerificationError

MESSAGE = "com.example.Message"
REGISTRY = {
    "registry_version": 1,
    "bundle_id": "2026-12-03T00:00:00Z#agent",
    "types": {MESSAGE: {"versions": {"1": {"fields": {
        "1": {"name": "role", "type": "u8", "enum": "com.example.Role"},
        "2": {"name": "text", "type": "string", "optional": True},
    }}}}},
    "enums": {"com.example.Role": {"1": "system", "2": "user", "3": "assistant", "4": "tool"}},
}  # fmt: skip


def say(store: Client, context_id: str, role: str, text: str) -> AppendedTurn:
    return store.append_turn(context_id, {"type_id": MESSAGE, "type_version": 1, "data": {"role": role, "text": text}})


def main() -> None:
    base_url = os.environ.get("XASE_BASE_URL", "http://127.0.0.1:3000/api/xase/v1")
    store = Client(os.environ.get("XASE_CXDB_URL") or base_url.replace("/api/xase/v1", "/cxdb"))
    store.publish_registry(REGISTRY)  # False when it is already there

    conversation = store.create_context(tag="loan-agent")
    say(store, conversation.context_id, "user", "Can I borrow 5,000 over two years?")
    checking = say(store, conversation.context_id, "assistant", "Let me check your credit file.")
    say(store, conversation.context_id, "tool", "credit_score=712")
    print(f"context {conversation.context_id}: 3 turns")

    # The agent is re-run on a corrected tool answer: a fork shares the history up to "Let me check".
    branch = store.fork(checking.turn_id, tag="loan-agent")
    decided_on = store.append_turn(branch.context_id, {"type_id": MESSAGE, "type_version": 1, "data": {"role": "tool", "text": "credit_score=540"}})
    print(f"context {branch.context_id}: forked at turn {checking.turn_id}, decided on turn {decided_on.turn_id}")

    transaction_id = "loan-" + secrets.token_hex(4)
    with XaseClient(base_url=base_url) as xase:
        xase.record({"policy": "credit_policy_v4", "input": {"amount": 5000, "months": 24}, "output": {"decision": "DENIED"},
                     "transaction_id": transaction_id, "context": decided_on.evidence_context})  # fmt: skip
        xase.flush()

    # The auditor fetches once, then verifies offline against the ledger's pinned key.
    headers = {"X-API-Key": os.environ["XASE_API_KEY"]}
    receipt = requests.get(f"{base_url}/receipts/{transaction_id}", headers=headers, timeout=10).json()
    context = requests.get(f"{base_url}/records/{transaction_id}", headers=headers, timeout=10).json()["context"]
    keys = requests.get(f"{base_url}/keys", timeout=10).json()
    pinned = next(key["pem"] for key in keys["keys"] if key["key_id"] == keys["current_key_id"])
    turns = store.history(branch.context_id, decided_on.turn_id)

    verify_receipt(receipt, trusted_keys=[pinned], context=context)
    print(f"receipt verified: {transaction_id} at seq {receipt['record']['seq']}, context_hash matches")
    head = verify_decision_context(context, turns)
    print(f"history verified: turn {head['turn_id']} at depth {head['depth']}, {len(turns)} turns, hash {head['turn_hash'][:16]}...")
    try:
        verify_decision_context(context, store.history(conversation.context_id))
    except VerificationError as failure:
        print(f"the other branch is not what the decision saw ({failure.step}: {failure.detail[:60]})")


if __name__ == "__main__":
    main()
