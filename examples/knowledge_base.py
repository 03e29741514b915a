"""An encrypted knowledge base on a local ledger, with the published XTrace client, and a decision that cites it.

    xase-ledger create-api-key --tenant acme --scopes admin     # prints the admin key
    XTRACE_ADMIN_KEY=xase_pk_... XTRACE_ORG_ID=acme XTRACE_URL=http://127.0.0.1:3000/xtrace \
        XASE_BASE_URL=http://127.0.0.1:3000/api/xase/v1 python examples/knowledge_base.py

Creates a base and a data key (through XTrace's admin API), encrypts eight documents and
their binary embeddings on this machine (generated here: no model download), searches by
encrypted Hamming distance, decrypts the nearest documents, then records a decision that
cites the retrieval's evidence and verifies both receipts offline. Needs `pip install
xtrace-ai-sdk==0.1.1` (Python 3.11+).
"""

from __future__ import annotations

import asyncio
import hashlib
import os

import requests
from xtrace_sdk.integrations.xtrace import XTraceIntegration
from xtrace_sdk.x_vec.data_loaders.loader import DataLoader
from xtrace_sdk.x_vec.retrievers.retriever import Retriever
from xtrace_sdk.x_vec.utils.execution_context import ExecutionContext

from xase import XaseClient, verify_receipt

EMBEDDING = 64
DOCUMENTS = [
    "Loans above 50,000 need a second reviewer.", "Applicants under 18 are declined.", "Debt-to-income above 0.45 is high risk.",
    "Returning customers keep their previous rate.", "Self-employed applicants show two years of income.",
    "Collateral is valued by an approved surveyor.", "Rates are fixed for the first 36 months.", "Fraud flags pause every decision.",
]  # fmt: skip


def embed(text: str) -> list[float]:
    """A stand-in for an embedding model: a deterministic +-1 vector per word, summed (similar texts, similar signs)."""
    totals = [0.0] * EMBEDDING
    for word in text.lower().split():
        digest = hashlib.sha256(word.strip(".,").encode()).digest()
        for i in range(EMBEDDING):
            totals[i] += 1.0 if digest[i % 32] >> (i // 32) & 1 else -1.0
    return [value or 1.0 for value in totals]


async def main() -> None:
    url, org = os.environ.get("XTRACE_URL", "http://127.0.0.1:3000/xtrace"), os.environ["XTRACE_ORG_ID"]
    async with XTraceIntegration(org_id=org, api_key="-", admin_key=os.environ["XTRACE_ADMIN_KEY"], api_url=url, admin_api_url=url) as admin:
        kb = await admin.create_kb("lending-policies-" + os.urandom(3).hex(), "what the loan agent may read")
        key = await admin.create_api_key("loan-agent", "reads lending policies")
        await admin.set_key_permission(key["apiKey"]["hash"], kb["id"], 3)  # read and write
    secret = key["secretKey"]

    context = ExecutionContext.create(passphrase="keep this passphrase safe", homomorphic_client_type="paillier_lookup",
                                      embedding_length=EMBEDDING, key_len=512)  # fmt: skip
    async with XTraceIntegration(org_id=org, api_key=secret, api_url=url) as xtrace:
        await context.save_to_remote(xtrace)
        loader = DataLoader(context, xtrace)
        index, db = await loader.load_data_from_memory([{"chunk_content": text, "meta_data": {"tag1": "policy"}} for text in DOCUMENTS],
                                                       [embed(text) for text in DOCUMENTS], disable_progress=True)  # fmt: skip
        await loader.dump_db(db, index, kb["id"])
        retriever = Retriever(context, xtrace)
        ids = await retriever.nn_search_for_ids(embed("debt-to-income above 0.45"), k=2, kb_id=kb["id"])
        for document in await retriever.retrieve_and_decrypt(ids, kb["id"]):
            print("retrieved:", document["chunk_content"])

    # The fetch just made is evidence in the organisation's chain: the latest xase.retrieval record.
    ledger = os.environ.get("XASE_BASE_URL", "http://127.0.0.1:3000/api/xase/v1")
    headers = {"X-API-Key": secret}
    records = requests.get(f"{ledger}/records", params={"policy_id": "xase.retrieval", "limit": 1000}, headers=headers, timeout=10).json()
    retrieval = records["records"][-1]["transaction_id"]
    xase = XaseClient({"api_key": secret, "base_url": ledger, "fire_and_forget": False})
    decision = xase.record({"policy": "loan_agent_v1", "input": {"applicant": "a-17", "dti": 0.52}, "output": {"decision": "REVIEW"},
                            "context": {"retrieval": retrieval}})  # fmt: skip
    assert decision is not None
    xase.close()
    for transaction_id in (retrieval, decision["transaction_id"]):
        receipt = requests.get(f"{ledger}/receipts/{transaction_id}", headers=headers, timeout=10).json()
        verify_receipt(receipt)
        print(f"receipt verified: {transaction_id} ({receipt['record']['policy_id']})")


if __name__ == "__main__":
    asyncio.run(main())
