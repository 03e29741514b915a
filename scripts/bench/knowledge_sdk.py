"""xase.knowledge against the published xtrace-ai-sdk 0.1.1, same run: encrypting vectors, and one encrypted kNN end to end.

    python scripts/bench/knowledge_sdk.py [--vectors 10000] [--chunks 100000] [--scheme paillier_lookup]

Both clients share one execution context (created by ours, loaded by theirs from its stored
form), embed_len 512, key_len 1024. Encryption: --vectors random binary embeddings through each
client's own encryption. kNN: --chunks chunks stored in a local ledger (gunicorn, one worker,
SQLite) as random ciphertexts below the context's n^2 (the server cannot tell; inserting real
ones would time encryption again), then one `nn_search_for_ids(k=10)` by each client: encrypt the
query, the server's distances, and decrypting every one of them on the client (ours by default on a
thread per core, then with parallel=False on one).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ledger import running_ledger

from xase.knowledge import ExecutionContext, Retriever, XTraceIntegration

EMBED, KEY_LEN, PASSPHRASE = 512, 1024, "bench passphrase"


def _published() -> Any:
    try:
        from xtrace_sdk.x_vec.utils.execution_context import ExecutionContext as Theirs
    except ImportError:
        return None
    return Theirs


def _encrypt_rates(ours: ExecutionContext, theirs: Any, count: int) -> tuple[float, float | None]:
    vectors = [[random.randint(0, 1) for _ in range(EMBED)] for _ in range(count)]
    ours.keys.encrypt_vector(vectors[0])  # build the window table once, as either client does at load
    start = time.perf_counter()
    for vector in vectors:
        ours.keys.encrypt_vector(vector)
    mine = count / (time.perf_counter() - start)
    if theirs is None:
        return mine, None
    start = time.perf_counter()
    for vector in vectors:
        theirs.homomorphic.encrypt_vec_one(vector)
    return mine, count / (time.perf_counter() - start)


def _store_random_chunks(root: str, key: str, kb_id: str, context: ExecutionContext, count: int) -> None:
    session = requests.Session()
    session.headers["x-api-key"] = key
    n_squared = int(context.keys.n_squared)
    pool = [base64.b64encode(secrets.randbelow(n_squared).to_bytes(4 * KEY_LEN // 8, "little")).decode() for _ in range(2000)]
    for first in range(0, count, 500):
        chunks = [{"chunk_content": "x", "index": [pool[n % len(pool)]], "meta_data": {}, "name": str(n)} for n in range(first, min(first + 500, count))]
        assert session.post(f"{root}/chunk/bench", json={"kb_id": kb_id, "chunks": chunks, "context_id": context.id}, timeout=120).status_code == 200


async def _knn_ours(url: str, key: str, context: ExecutionContext, kb_id: str, parallel: bool = True) -> float:
    async with XTraceIntegration(org_id="bench", api_key=key, api_url=url, timeout_s=600) as client:
        start = time.perf_counter()
        await Retriever(context, client, parallel=parallel).nn_search_for_ids([random.choice([-1.0, 1.0]) for _ in range(EMBED)], k=10, kb_id=kb_id)
        return time.perf_counter() - start


async def _knn_theirs(url: str, key: str, context: Any, kb_id: str) -> float:
    from xtrace_sdk.integrations.xtrace import XTraceIntegration as TheirIntegration
    from xtrace_sdk.x_vec.retrievers.retriever import Retriever as TheirRetriever

    async with TheirIntegration(org_id="bench", api_key=key, api_url=url) as client:
        start = time.perf_counter()
        await TheirRetriever(context, client).nn_search_for_ids([random.choice([-1.0, 1.0]) for _ in range(EMBED)], k=10, kb_id=kb_id)
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=10_000)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--scheme", default="paillier_lookup", choices=["paillier", "paillier_lookup"])
    args = parser.parse_args()
    start = time.perf_counter()
    ours = ExecutionContext.create(PASSPHRASE, args.scheme, EMBED, KEY_LEN)
    keygen = time.perf_counter() - start
    published = _published()
    theirs = published._from_serialized_exec_context(ours.to_dict_enc(), passphrase=PASSPHRASE) if published else None
    print(f"{args.scheme}, embed_len {EMBED}, key_len {KEY_LEN}; our key generation {keygen:.1f} s")
    mine, their_rate = _encrypt_rates(ours, theirs, args.vectors)
    print(f"encrypt {args.vectors} vectors: xase.knowledge {mine:,.0f} vectors/s" +
          (f"; xtrace-ai-sdk {their_rate:,.0f} vectors/s; ratio {mine / their_rate:.2f}" if their_rate else "; xtrace-ai-sdk not installed"))  # fmt: skip
    with running_ledger(scopes=["admin"], workers=1) as ledger:
        url = ledger.base_url.split("/api/")[0] + "/xtrace"
        admin = {"x-xtrace-key": ledger.api_key, "x-xtrace-org-id": "bench"}
        kb_id = requests.post(f"{url}/v1/kbs", json={"name": "bench"}, headers=admin, timeout=30).json()["id"]
        body = {"data": ours.to_dict_enc(), "context_id": ours.id}
        assert requests.post(f"{url}/v1/exec_context/bench", json=body, headers={"x-api-key": ledger.api_key}, timeout=30).status_code == 200
        _store_random_chunks(f"{url}/v1", ledger.api_key, kb_id, ours, args.chunks)
        mine_knn = asyncio.run(_knn_ours(url, ledger.api_key, ours, kb_id))
        one_thread = asyncio.run(_knn_ours(url, ledger.api_key, ours, kb_id, parallel=False))
        their_knn = asyncio.run(_knn_theirs(url, ledger.api_key, theirs, kb_id)) if theirs is not None else None
    print(f"one kNN over {args.chunks} chunks, end to end, each client's defaults: xase.knowledge {mine_knn:.2f} s (decoding on a thread per core)" +
          (f"; xtrace-ai-sdk {their_knn:.2f} s; ratio {their_knn / mine_knn:.2f}" if their_knn else ""))  # fmt: skip
    print(f"the same with Retriever(parallel=False), decoding on one thread: {one_thread:.2f} s; defaults / one thread = {one_thread / mine_knn:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
