"""evidence.py against the independent vectors of EVIDENCE-FORMAT.md and a peer's RFC 6962 data."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from xase import _merkle, evidence

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
V1 = json.loads((VECTORS / "evidence-v1.json").read_text())
PEER = json.loads((VECTORS / "rfc6962-peer.json").read_text())


@pytest.mark.parametrize("case", V1["jcs"], ids=lambda c: c["canonical"][:30])
def test_jcs_vectors(case: dict[str, Any]) -> None:
    canonical = evidence.canonicalize(case["value"])
    assert canonical.decode("utf-8") == case["canonical"]
    assert hashlib.sha256(canonical).hexdigest() == case["sha256"]


@pytest.mark.parametrize("case", V1["commitments"], ids=lambda c: c["sha256"][:12])
def test_commitment_vectors(case: dict[str, Any]) -> None:
    assert evidence.commitment(case["value"]) == case["sha256"]
    assert evidence.commitment(case["value"], bytes.fromhex(case["hmac_key_hex"])) == case["hmac_sha256"]


@pytest.mark.parametrize("case", V1["merkle"], ids=lambda c: f"{len(c['leaves'])}-leaves")
def test_merkle_vectors(case: dict[str, Any]) -> None:
    assert evidence.merkle_root(case["leaves"]) == case["root"]
    for proof in case.get("proofs", []):
        assert evidence.inclusion_proof(case["leaves"], proof["leaf_index"]) == proof["audit_path"]
        evidence.verify_inclusion(case["leaves"][proof["leaf_index"]], proof["leaf_index"], proof["tree_size"], proof["audit_path"], case["root"])


def test_every_inclusion_proof_for_up_to_8_leaves_is_covered() -> None:
    covered = {(p["leaf_index"], p["tree_size"]) for case in V1["merkle"] for p in case.get("proofs", [])}
    assert covered == {(i, n) for n in range(1, 9) for i in range(n)}


def test_peer_tree_roots() -> None:
    inputs = [bytes.fromhex(x) for x in PEER["tree_roots"]["leaf_inputs_hex"]]
    for size, expected in enumerate(PEER["tree_roots"]["root_by_size_hex"]):
        assert _merkle.root(inputs[:size]).hex() == expected


def _b64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


@pytest.mark.parametrize("case", PEER["inclusion"], ids=lambda c: c["name"])
def test_peer_inclusion_cases(case: dict[str, Any]) -> None:
    args = (_b64(case["leafHash"]), case["leafIdx"], case["treeSize"], [_b64(p) for p in case["proof"] or []], _b64(case["root"]))
    if case["wantErr"]:
        with pytest.raises(_merkle.MerkleError):
            _merkle.verify_inclusion(*args)
    else:
        _merkle.verify_inclusion(*args)


def test_key_fingerprint_vector() -> None:
    assert evidence.key_fingerprint(V1["test_key"]["public_pem"]) == V1["test_key"]["key_id"]


@pytest.mark.parametrize("case", V1["records"], ids=lambda c: f"seq-{c['body']['seq']}")
def test_record_hash_vectors(case: dict[str, Any]) -> None:
    evidence.check_record_body(case["body"])
    assert evidence.record_hash(case["body"]) == case["record_hash"]


def test_block_vector_hash_and_signature() -> None:
    block = V1["block"]
    assert evidence.block_hash(block).hex() == block["block_hash"]
    assert evidence.verify_signature(V1["test_key"]["public_pem"], bytes.fromhex(block["block_hash"]), block["signature"])
    hashes = [r["record_hash"] for r in V1["records"]]
    assert evidence.merkle_root(hashes) == block["merkle_root"]


def test_signing_with_the_test_key_verifies() -> None:
    private = serialization.load_pem_private_key(V1["test_key"]["private_pem"].encode(), None)
    digest = bytes.fromhex(V1["block"]["block_hash"])
    signature = evidence.sign_digest(private, digest)  # type: ignore[arg-type]
    assert evidence.verify_signature(V1["test_key"]["public_pem"], digest, signature)


@pytest.mark.parametrize("receipt", V1["receipts"], ids=lambda r: f"seq-{r['record']['seq']}")
def test_receipt_vectors_verify(receipt: dict[str, Any]) -> None:
    originals = V1["originals"]
    evidence.verify_receipt(receipt, trusted_keys=[V1["test_key"]["public_pem"]], **originals)
    evidence.verify_receipt(receipt)  # self-contained key
    evidence.verify_receipt(receipt, trusted_keys=[V1["test_key"]["key_id"]])


def test_chain_verifier_accepts_the_vector_chain() -> None:
    verifier = evidence.ChainVerifier("ten_acme", {V1["test_key"]["key_id"]: V1["test_key"]["public_pem"]})
    for case in V1["records"]:
        verifier.add_record(case["body"], case["record_hash"])
    verifier.add_block(V1["block"])
    verifier.finish()
    assert (verifier.records, verifier.blocks) == (3, 1)


def test_chain_verifier_names_a_deleted_record() -> None:
    verifier = evidence.ChainVerifier("ten_acme", {V1["test_key"]["key_id"]: V1["test_key"]["public_pem"]})
    verifier.add_record(V1["records"][0]["body"], V1["records"][0]["record_hash"])
    with pytest.raises(evidence.VerificationError) as caught:
        verifier.add_record(V1["records"][2]["body"], V1["records"][2]["record_hash"])
    assert (caught.value.step, caught.value.seq) == ("seq", 1)


def test_chain_verifier_rejects_records_no_block_covers() -> None:
    verifier = evidence.ChainVerifier("ten_acme", {})
    verifier.add_record(V1["records"][0]["body"], V1["records"][0]["record_hash"])
    with pytest.raises(evidence.VerificationError, match="record seq 0: block"):
        verifier.finish()


def test_vectors_are_the_shared_ones_unchanged() -> None:
    shared = Path(__file__).resolve().parents[3] / "shared" / "design" / "vectors" / "evidence-v1.json"
    if not shared.exists():
        pytest.skip(f"{shared} is not beside this checkout")
    assert (VECTORS / "evidence-v1.json").read_bytes() == shared.read_bytes()


def test_mutated_vector_block_fails() -> None:
    block = copy.deepcopy(V1["block"])
    block["last_seq"] = 3
    assert evidence.block_hash(block).hex() != V1["block"]["block_hash"]


def test_shipped_format_document_is_the_shared_one() -> None:
    shipped = Path(__file__).resolve().parents[2] / "docs" / "evidence-format.md"
    shared = Path(__file__).resolve().parents[3] / "shared" / "design" / "EVIDENCE-FORMAT.md"
    if not shared.exists():
        pytest.skip(f"{shared} is not beside this checkout")
    assert shipped.read_text().startswith(shared.read_text())  # version 1 as designed; version 2 follows it (section 8)
