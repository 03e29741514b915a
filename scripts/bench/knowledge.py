"""Encrypted knowledge bases: inserting chunks, and encrypted Hamming distances over all of them.

    python scripts/bench/knowledge.py [--chunks 100000] [--key-len 1024] [--embed-len 512]

One ledger process (gunicorn, one worker; SQLite) on a loopback port. Chunks carry a
Paillier ciphertext as the client sends it: xtrace-ai-sdk draws two primes of key_len bits,
so n has 2 * key_len bits and a ciphertext (below n^2) 4 * key_len; embed_len 512 packs into
one ciphertext. The server cannot tell random integers below n^2 from real ones, so they are
drawn at random. Times: inserting in the client's batches of 500 (each a signed evidence
record too), then one compute_hamming over every chunk, answered in msgpack. Baseline, same
run: the same products with Python ints instead of gmpy2, in this process, with no database
or HTTP at all.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import sys
import time
from pathlib import Path

import msgpack
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ledger import running_ledger

BATCH = 500


def _random_modulus(bits: int) -> int:
    return secrets.randbits(bits) | (1 << (bits - 1)) | 1


def _b64(number: int) -> str:
    return base64.b64encode(number.to_bytes((number.bit_length() + 7) // 8, "little")).decode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--key-len", type=int, default=1024)
    parser.add_argument("--embed-len", type=int, default=512)
    args = parser.parse_args()
    n_squared = _random_modulus(4 * args.key_len)
    ciphertexts_per_vector = max(1, (2 * args.embed_len + 2 * args.key_len - 1) // (2 * args.key_len))  # chunks of 2 * key_len bits
    context = {"type": "PaillierClient", "sk": "aes-ciphertext-of-the-secret-key", "pk": json.dumps({"n_squared": str(n_squared)}),
               "config": json.dumps({"embed_len": args.embed_len, "key_len": args.key_len})}  # fmt: skip
    vectors = [[secrets.randbelow(n_squared) for _ in range(ciphertexts_per_vector)] for _ in range(min(args.chunks, 5000))]
    with running_ledger(scopes=["admin"], workers=1) as ledger:  # gunicorn, one worker process
        root = ledger.base_url.split("/api/")[0] + "/xtrace/v1"
        admin = requests.Session()
        admin.headers.update({"x-xtrace-key": ledger.api_key, "x-xtrace-org-id": "bench"})
        kb_id = admin.post(f"{root}/kbs", json={"name": "bench"}, timeout=30).json()["id"]
        data = requests.Session()
        data.headers["x-api-key"] = ledger.api_key  # an admin-scope key may use every base
        assert data.post(f"{root}/exec_context/bench", json={"data": context, "context_id": "bench-ctx"}, timeout=30).status_code == 200
        bodies = []
        for first in range(0, args.chunks, BATCH):
            chunks = [{"chunk_content": "gAAAAABn" + secrets.token_urlsafe(180), "index": [_b64(c) for c in vectors[n % len(vectors)]],
                       "meta_data": {"tag1": f"t{n % 10}"}, "name": f"chunk-{n}"} for n in range(first, min(first + BATCH, args.chunks))]  # fmt: skip
            bodies.append(json.dumps({"kb_id": kb_id, "chunks": chunks, "context_id": "bench-ctx"}).encode())
        start = time.perf_counter()
        for body in bodies:
            response = data.post(f"{root}/chunk/bench", data=body, headers={"Content-Type": "application/json"}, timeout=120)
            assert response.status_code == 200, response.text[:300]
        inserting = time.perf_counter() - start
        query = [_b64(secrets.randbelow(n_squared)) for _ in range(ciphertexts_per_vector)]
        timings = []
        for _ in range(3):
            start = time.perf_counter()
            response = data.post(f"{root}/compute_hamming/bench", json={"kb_id": kb_id, "query": query, "context_id": "bench-ctx"}, timeout=300)
            distances = msgpack.unpackb(response.content)
            timings.append(time.perf_counter() - start)
            assert response.status_code == 200 and len(distances) == args.chunks
        hamming = min(timings)
    numbers = [int.from_bytes(base64.b64decode(q), "little") for q in query]
    start = time.perf_counter()
    for n in range(args.chunks):
        stored = vectors[n % len(vectors)]
        [(q * s % n_squared).to_bytes((n_squared.bit_length() + 7) // 8, "little") for q, s in zip(numbers, stored)]
    naive = time.perf_counter() - start
    print(f"{args.chunks} chunks, key_len {args.key_len}, embed_len {args.embed_len}: {ciphertexts_per_vector} ciphertext(s) of {4 * args.key_len} bits each")
    print(f"insert, batches of {BATCH} over HTTP, each with its evidence record: {inserting:.2f} s = {args.chunks / inserting:,.0f} chunks/s")
    print(f"compute_hamming over every chunk, HTTP round trip, msgpack answer of {len(response.content) / 1e6:.1f} MB: "
          f"{hamming:.2f} s = {args.chunks / hamming:,.0f} distances/s (best of 3)")  # fmt: skip
    print(f"baseline: the same products with Python ints, in process, no database or HTTP: {naive:.2f} s = {args.chunks / naive:,.0f} distances/s")
    print(f"ratio: the server's whole round trip / the naive in-process loop = {naive / hamming:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
