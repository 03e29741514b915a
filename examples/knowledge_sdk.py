"""Retrieve, decide, record, verify: the full provenance of one decision with xase.knowledge, no second vendor's SDK.

    xase-ledger create-api-key --tenant acme --scopes admin     # prints the admin key
    XTRACE_ADMIN_KEY=xase_pk_... XTRACE_ORG_ID=acme XTRACE_URL=http://127.0.0.1:3000/xtrace \
        XASE_BASE_URL=http://127.0.0.1:3000/api/xase/v1 python examples/knowledge_sdk.py

Encrypts eight policy snippets and their binary embeddings here (generated: no model), searches
them by encrypted Hamming distance, decrypts the nearest, records the decision citing the
retrieval's evidence, then verifies both receipts offline with the ledger's pinned key.
Needs `pip install "xase-sdk[knowledge]"`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os

import requests

from xase import XaseClient, verify_receipt
from xase.knowledge import DataLoader, ExecutionContext, Retriever, XTraceIntegration

EMBEDDING = 64
DOCUMENTS = [
    "Loans above 50,000 need a second reviewer.", "Applicants under 18 are declined.", "Debt-to-income above 0.45 is high risk.",
    "Returning customers keep their previous rate.", "Self-employed applicants show two years of income.",
    "Collateral is valued by an approved surveyor.", "Rates are fixed for the first 36 months.", "Fraud flags pause every decision.",
]  # fmt: skip


def embed(text: str) -> list[float]:
    """A stand-in for an embedding model: a deterministic +-1 vector per word, summed."""
    totals = [0.0] * EMBEDDING
    for word in text.lower().split():
        digest = hashlib.sha256(word.strip(".,").encode()).digest()
        for i in range(EMBEDDING):
            totals[i] += 1.0 if digest[i % 32] >> (i // 32) & 1 else -1.0
    return [value or 1.0 for value in totals]


async def main() -> None:
    url, org = os.environ.get("XTRACE_URL", "http://127.0.0.1:3000/xtrace"), os.environ["XTRACE_ORG_ID"]
    async with XTraceIntegration(org_id=org, api_key="-", admin_key=os.environ["XTRACE_ADMIN_KEY"], api_url=url) as admin:
        kb = await admin.create_kb("lending-" + os.urandom(3).hex(), "what the loan agent may read")
        key = await admin.create_api_key("loan-agent")
        await admin.set_key_permission(key["apiKey"]["hash"], kb["id"], 3)
    secret = key["secretKey"]
    context = ExecutionContext.create("keep this passphrase safe", "paillier_lookup", EMBEDDING, key_len=512)
    async with XTraceIntegration(org_id=org, api_key=secret, api_url=url) as xtrace:
        await context.save_to_remote(xtrace)
        loader = DataLoader(context, xtrace)
        index, db = await loader.load_data_from_memory([{"chunk_content": text} for text in DOCUMENTS], [embed(text) for text in DOCUMENTS])
        await loader.dump_db(db, index, kb["id"])
        retriever = Retriever(context, xtrace)
        ids = await retriever.nn_search_for_ids(embed("debt-to-income above 0.45"), k=2, kb_id=kb["id"])
        knowledge = await retriever.retrieve_and_decrypt(ids, kb["id"])
    for document in knowledge:
        print("retrieved:", document["chunk_content"])

    ledger = os.environ.get("XASE_BASE_URL", "http://127.0.0.1:3000/api/xase/v1")
    xase = XaseClient({"api_key": secret, "base_url": ledger, "fire_and_forget": False})
    decision = xase.record({"policy": "loan_agent_v1", "input": {"applicant": "a-17", "dti": 0.52}, "output": {"decision": "REVIEW"},
                            "context": {"retrieval": retriever.evidence_ids}})  # the search's and the fetch's evidence  # fmt: skip
    assert decision is not None
    xase.close()
    keys = requests.get(f"{ledger}/keys", timeout=10).json()
    pinned = next(k["pem"] for k in keys["keys"] if k["key_id"] == keys["current_key_id"])  # in production: pinned once, out of band
    for transaction_id in (*retriever.evidence_ids, decision["transaction_id"]):
        receipt = requests.get(f"{ledger}/receipts/{transaction_id}", headers={"X-API-Key": secret}, timeout=10).json()
        verify_receipt(receipt, trusted_keys=[pinned])
        print(f"receipt verified: {transaction_id} ({receipt['record']['policy_id']})")


if __name__ == "__main__":
    asyncio.run(main())
