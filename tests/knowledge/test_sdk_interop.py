"""xase.knowledge and the published xtrace-ai-sdk 0.1.1 read each other's contexts, ciphertexts and bases, both ways."""

from __future__ import annotations

import base64
import http.server
import os
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.knowledge.conftest import Org, run
from xase import evidence
from xase.knowledge import (
    AESCipher,
    AWSKMSKeyProvider,
    DataLoader,
    ExecutionContext,
    KnowledgeError,
    PassphraseKeyProvider,
    Retriever,
    XTraceIntegration,
    paillier,
)

pytest.importorskip("xtrace_sdk")
from xtrace_sdk.integrations.xtrace import XTraceIntegration as TheirIntegration
from xtrace_sdk.x_vec.crypto.encryption.aes import AESClient
from xtrace_sdk.x_vec.crypto.key_provider import PassphraseKeyProvider as TheirPassphrase
from xtrace_sdk.x_vec.data_loaders.loader import DataLoader as TheirLoader
from xtrace_sdk.x_vec.retrievers.retriever import Retriever as TheirRetriever
from xtrace_sdk.x_vec.utils.execution_context import ExecutionContext as TheirContext

EMBED = 32
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PASSPHRASE = "correct horse battery"
SCHEMES = ["paillier", "paillier_lookup"]


def _vectors(count: int, seed: int) -> list[list[float]]:
    rng = random.Random(seed)
    return [[rng.choice([-1.0, 1.0]) for _ in range(EMBED)] for _ in range(count)]


def _hamming(a: list[float], b: list[float]) -> int:
    return sum((x > 0) != (y > 0) for x, y in zip(a, b))


# ---------------------------------------------------------------- without a server


def test_aes_tokens_and_passphrase_keys_are_the_published_ones() -> None:
    ours, theirs = PassphraseKeyProvider(PASSPHRASE), TheirPassphrase(PASSPHRASE)
    assert ours.get_key() == theirs.get_key() and ours.wrap_key() == theirs.wrap_key()
    salted = PassphraseKeyProvider(PASSPHRASE, salt=b"another salt")
    assert salted.get_key() == TheirPassphrase(PASSPHRASE, salt=b"another salt").get_key()
    assert AESClient(ours.get_key()).decrypt(AESCipher(ours.get_key()).encrypt("émoji 🙂 text")) == "émoji 🙂 text"
    assert AESCipher(ours.get_key()).decrypt(AESClient(theirs.get_key()).encrypt("from them")) == "from them"


@pytest.mark.parametrize("scheme", SCHEMES)
def test_contexts_load_in_either_client_with_the_same_id(scheme: str) -> None:
    ours = ExecutionContext.create(PASSPHRASE, scheme, EMBED, 128)
    theirs_of_ours = TheirContext._from_serialized_exec_context(ours.to_dict_enc(), passphrase=PASSPHRASE)
    assert theirs_of_ours.hash() == ours.id
    theirs = TheirContext.create(passphrase=PASSPHRASE, homomorphic_client_type=scheme, embedding_length=EMBED, key_len=128)
    assert ExecutionContext.from_dict(theirs.to_dict_enc(), passphrase=PASSPHRASE).id == theirs.id
    rng = random.Random(1)
    a, b = [rng.randint(0, 1) for _ in range(EMBED)], [rng.randint(0, 1) for _ in range(EMBED)]
    summed = [x * y % ours.keys.n_squared for x, y in zip(ours.keys.encrypt_vector(a), theirs_of_ours.homomorphic.encrypt_vec_one(b))]
    expected = sum(x != y for x, y in zip(a, b))
    assert ours.keys.decode_hamming(summed) == theirs_of_ours.homomorphic.decode_hamming_client_one([int(c) for c in summed]) == expected


@pytest.mark.parametrize("bits, key_len", [(8, 16), (40, 16), (33, 16)])
def test_packing_spans_chunks_as_the_published_client_packs(bits: int, key_len: int) -> None:
    rng = random.Random(bits)
    vector = [rng.randint(0, 1) for _ in range(bits)]
    chunks = paillier.pack(vector, key_len)
    slots = "".join("0" + str(bit) for bit in vector)
    assert chunks == [int(slots[i : i + 2 * key_len], 2) for i in range(0, len(slots), 2 * key_len)][: paillier.chunk_count(bits, key_len)]
    assert paillier.hamming(chunks) == sum(vector)


# ---------------------------------------------------------------- both ways through a real ledger


def _ours(org: Org, key: str) -> XTraceIntegration:
    return XTraceIntegration(org_id=org.name, api_key=key, api_url=org.url)


def _theirs(org: Org, key: str) -> Any:
    return TheirIntegration(org_id=org.name, api_key=key, api_url=org.url, admin_api_url=org.url)


def _chunks(count: int) -> list[dict[str, Any]]:
    return [{"chunk_content": f"document {n}", "name": f"doc-{n}", "meta_data": {"tag1": "even" if n % 2 == 0 else "odd"}} for n in range(count)]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_base_written_by_xase_is_searched_and_decrypted_by_the_published_client(org: Org, scheme: str) -> None:
    kb_id = org.new_kb()
    secret, _ = org.new_key(kb_id, 7)
    vectors, query = _vectors(16, seed=2), _vectors(1, seed=3)[0]
    context = ExecutionContext.create(PASSPHRASE, scheme, EMBED, 128)

    async def write() -> None:
        async with _ours(org, secret) as client:
            await context.save_to_remote(client)
            loader = DataLoader(context, client)
            index, db = await loader.load_data_from_memory(_chunks(16), vectors)
            await loader.dump_db(db, index, kb_id)

    async def read() -> tuple[Any, Any, list[dict[str, Any]]]:
        async with _theirs(org, secret) as client:
            loaded = await TheirContext.load_from_remote(passphrase=PASSPHRASE, context_id=context.id, integration=client)
            retriever = TheirRetriever(loaded, client)
            ids, scores = await retriever.nn_search_for_ids(query, k=3, kb_id=kb_id, include_scores=True)
            return ids, scores, await retriever.retrieve_and_decrypt(ids, kb_id)

    run(write())
    ids, scores, documents = run(read())
    assert list(scores) == [_hamming(query, v) for v in vectors]
    assert [d["chunk_content"] for d in documents] == [f"document {i - 1}" for i in ids]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_base_written_by_the_published_client_is_searched_and_decrypted_by_xase(org: Org, scheme: str) -> None:
    kb_id = org.new_kb()
    secret, _ = org.new_key(kb_id, 7)
    vectors, query = _vectors(16, seed=4), _vectors(1, seed=5)[0]
    context = TheirContext.create(passphrase=PASSPHRASE, homomorphic_client_type=scheme, embedding_length=EMBED, key_len=128)

    async def write() -> None:
        async with _theirs(org, secret) as client:
            await context.save_to_remote(client)
            loader = TheirLoader(context, client)
            index, db = await loader.load_data_from_memory(_chunks(16), vectors, disable_progress=True)
            await loader.dump_db(db, index, kb_id)

    async def read() -> tuple[Any, Any, list[dict[str, Any]], list[str]]:
        async with _ours(org, secret) as client:
            loaded = await ExecutionContext.load_from_remote(passphrase=PASSPHRASE, context_id=context.id, integration=client)
            retriever = Retriever(loaded, client)
            ids, scores = await retriever.nn_search_for_ids(query, k=3, kb_id=kb_id, include_scores=True)
            documents = await retriever.retrieve_and_decrypt(ids, kb_id)
            return ids, scores, documents, retriever.evidence_ids

    run(write())
    ids, scores, documents, evidence_ids = run(read())
    plain = [_hamming(query, v) for v in vectors]
    assert scores == plain and sorted(plain[i - 1] for i in ids) == sorted(plain)[:3]
    assert [d["chunk_content"] for d in documents] == [f"document {i - 1}" for i in ids]
    assert len(evidence_ids) == 2  # the search and the fetch
    for evidence_id in evidence_ids:
        receipt = requests.get(f"{org.ledger.base_url}/receipts/{evidence_id}", headers={"X-API-Key": secret}, timeout=10).json()
        evidence.verify_receipt(receipt)
        assert receipt["record"]["policy_id"] == "xase.retrieval"


def test_failures_are_knowledge_errors_with_the_status(org: Org) -> None:
    kb_id = org.new_kb()
    reader, _ = org.new_key(kb_id, 1)

    async def attempts() -> list[KnowledgeError]:
        errors = []
        async with _ours(org, reader) as client:
            for call in (client.delete_chunks([1], kb_id), client.get_kb(kb_id), client.get_serialized_exec_context("missing")):
                try:
                    await call
                except KnowledgeError as error:
                    errors.append(error)
        return errors

    forbidden, no_admin_key, missing = run(attempts())
    assert (forbidden.status, forbidden.code) == (403, "FORBIDDEN")
    assert no_admin_key.code == "VALIDATION_ERROR" and "admin_key" in no_admin_key.message
    assert (missing.status, missing.code) == (404, "NOT_FOUND")


def test_the_sdk_example_runs_as_written(org: Org) -> None:
    env = {**os.environ, "XTRACE_ADMIN_KEY": org.admin_key, "XTRACE_ORG_ID": org.name, "XTRACE_URL": org.url, "XASE_BASE_URL": org.ledger.base_url}
    done = subprocess.run([sys.executable, str(EXAMPLES / "knowledge_sdk.py")], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "retrieved: Debt-to-income above 0.45 is high risk." in done.stdout
    assert done.stdout.count("receipt verified:") == 3 and done.stdout.count("(xase.retrieval)") == 2


@pytest.fixture
def kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    moto = pytest.importorskip("moto", reason="moto is not installed")
    import boto3

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with moto.mock_aws():
        client = boto3.client("kms")
        yield client, client.create_key(KeySpec="SYMMETRIC_DEFAULT")["KeyMetadata"]["KeyId"]


def test_a_context_under_an_aws_kms_key_loads_in_either_client(kms: tuple[Any, str]) -> None:
    from xtrace_sdk.x_vec.crypto.key_provider import AWSKMSKeyProvider as TheirKMS

    client, key_id = kms
    provider = AWSKMSKeyProvider.create(client, key_id)
    ours = ExecutionContext.create(homomorphic_client_type="paillier", embedding_length=EMBED, key_len=128, key_provider=provider)
    stored = ours.to_dict_enc()
    assert stored["key_provider"] == "aws_kms" and "phi" not in stored["sk"]
    unwrapped = TheirKMS.from_wrapped(base64.b64decode(stored["wrapped_key"]), kms_client=client, key_id=key_id)
    theirs = TheirContext._from_serialized_exec_context(stored, key_provider=unwrapped)
    assert theirs.hash() == ours.id
    assert ExecutionContext.from_dict(stored, kms_client=client, kms_key_id=key_id).id == ours.id
    with pytest.raises(ValueError, match="kms_client"):
        ExecutionContext.from_dict(stored)


def test_redirects_are_never_followed_with_the_key() -> None:
    """A server that redirects elsewhere gets an error back, and the key never reaches the other host."""
    seen: list[str] = []

    class Elsewhere(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(str(self.headers.get("x-api-key")))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    elsewhere = http.server.HTTPServer(("127.0.0.1", 0), Elsewhere)

    class Redirecting(Elsewhere):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{elsewhere.server_port}/steal")
            self.end_headers()

    redirecting = http.server.HTTPServer(("127.0.0.1", 0), Redirecting)
    for server in (elsewhere, redirecting):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = XTraceIntegration(org_id="acme", api_key="xase_pk_secret", api_url=f"http://127.0.0.1:{redirecting.server_port}/xtrace", max_retries=1)

        async def attempt() -> KnowledgeError:
            async with client:
                try:
                    await client.list_exec_contexts()
                except KnowledgeError as error:
                    return error
            raise AssertionError("a redirect was followed")

        error = run(attempt())
        assert (error.code, error.status) == ("UNEXPECTED_REDIRECT", 302) and seen == []
    finally:
        for server in (elsewhere, redirecting):
            server.shutdown()


def test_parallel_decoding_gives_the_same_distances(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    from xase.knowledge import loader

    kb_id = org.new_kb()
    secret, _ = org.new_key(kb_id, 7)
    vectors, query = _vectors(12, seed=6), _vectors(1, seed=7)[0]
    context = ExecutionContext.create(PASSPHRASE, "paillier_lookup", EMBED, 128)
    monkeypatch.setattr(loader, "PARALLEL_ANSWERS", 1)

    async def scenario() -> tuple[Any, Any]:
        async with _ours(org, secret) as client:
            await context.save_to_remote(client)
            index, db = await DataLoader(context, client).load_data_from_memory(_chunks(12), vectors)
            await DataLoader(context, client).dump_db(db, index, kb_id)
            one = await Retriever(context, client, parallel=False).nn_search_for_ids(query, k=4, kb_id=kb_id, include_scores=True)
            many = await Retriever(context, client).nn_search_for_ids(query, k=4, kb_id=kb_id, include_scores=True)  # threads by default
            return one, many

    one, many = run(scenario())
    assert one == many and list(one[1]) == [_hamming(query, v) for v in vectors]


def test_ids_are_one_quoted_path_segment_each_and_changes_carry_an_idempotency_key() -> None:
    seen: list[tuple[str, str, str]] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.append((self.command, self.path, str(self.headers.get("Idempotency-Key"))))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"context_ids": [], "kb_ids": [], "success": true}')

        do_GET = do_DELETE = do_POST = do_PATCH = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hostile = "../../chunk/acme?kb_id=kb_1&chunk_ids=3"
    try:
        client = XTraceIntegration(org_id="acme/../other", api_key="xase_pk_x", api_url=f"http://127.0.0.1:{server.server_port}/xtrace")

        async def calls() -> None:
            async with client:
                await client.delete_exec_context(hostile)
                await client.get_ctx_for_kb(hostile)
                await client.register_kb_binding(hostile, "ctx")
                await client.delete_chunks([1], "kb_1")
                await client.delete_chunks([1], "kb_1")

        run(calls())
    finally:
        server.shutdown()
    quoted = "..%2F..%2Fchunk%2Facme%3Fkb_id%3Dkb_1%26chunk_ids%3D3"
    org = "acme%2F..%2Fother"
    assert [(method, path) for method, path, _ in seen[:3]] == [
        ("DELETE", f"/xtrace/v1/exec_context/{org}/{quoted}"),
        ("GET", f"/xtrace/v1/exec_context/{org}/{quoted}/context"),
        ("POST", f"/xtrace/v1/exec_context/{org}/{quoted}/bind/ctx"),
    ]
    assert seen[0][2] == seen[1][2] == "None"  # reads and context calls carry no key
    assert seen[3][2] != seen[4][2] and seen[3][2].startswith("kc_")  # one key per call, fixed across its retries
    with pytest.raises(ValueError, match="not an id"):  # a ValidationError, before anything is sent
        run(client.delete_exec_context(".."))
