"""Receipts, blocks, checkpoint and keys from a real ledger verify offline, and fail when altered."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import Api, decision
from xase import evidence


def _xase_verify(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "xase.cli", "verify", *args], capture_output=True, text=True, timeout=60)


def _published_key(api: Api, tmp_path: Path) -> Path:
    keys = api.get("/keys").json()
    pem = next(key["pem"] for key in keys["keys"] if key["key_id"] == keys["current_key_id"])
    path = tmp_path / "ledger.pem"
    path.write_text(pem)
    return path


def test_receipt_verifies_with_the_published_key_and_originals(api: Api) -> None:
    payload = {"input": {"user_id": "u_1", "amount": 5}, "output": {"decision": "DENIED"}, "context": {"ip": "1.2.3.4"}}
    api.post("/records/batch", json={"records": [decision(i) for i in range(6)]})
    api.record(transaction_id="loan_7", **payload)
    receipt = api.get("/receipts/loan_7").json()
    keys = [key["pem"] for key in api.get("/keys").json()["keys"]]
    evidence.verify_receipt(receipt, trusted_keys=keys, **payload)
    assert receipt["chain_position"] == "chained" and receipt["record"]["seq"] == 6


def test_every_receipt_in_a_multi_record_block_verifies(api: Api) -> None:
    results = api.post("/records/batch", json={"records": [decision(i) for i in range(11)]}).json()["results"]
    for result in results:
        receipt = api.get(f"/receipts/{result['transaction_id']}").json()
        evidence.verify_receipt(receipt)
        assert receipt["inclusion_proof"]["tree_size"] == 11


def test_xase_verify_cli_accepts_a_fetched_receipt(api: Api, tmp_path: Path) -> None:
    api.record(transaction_id="cli_1")
    receipt_path = tmp_path / "receipt.json"
    receipt_path.write_text(api.get("/receipts/cli_1").text)
    done = _xase_verify(str(receipt_path), "--key", str(_published_key(api, tmp_path)))
    assert done.returncode == 0, done.stderr
    assert "receipt verified" in done.stdout and "cli_1" in done.stdout


@pytest.mark.parametrize(
    "path, step",
    [
        (("record", "output_hash"), "record_hash"),
        (("record_hash",), "record_hash"),
        (("block", "sealed_at"), "block_hash"),
        (("block", "signature"), "signature"),
        (("inclusion_proof", "leaf_index"), "position"),
        (("public_key", "key_id"), "public_key"),
    ],
)
def test_xase_verify_cli_names_the_failed_step(api: Api, tmp_path: Path, path: tuple[str, ...], step: str) -> None:
    api.post("/records/batch", json={"records": [decision(i, transaction_id=f"t_{i}") for i in range(3)]})
    receipt = api.get("/receipts/t_1").json()
    node = receipt
    for key in path[:-1]:
        node = node[key]
    value = node[path[-1]]
    if isinstance(value, int):
        node[path[-1]] = value + 1
    elif path[-1] == "signature":
        stranger = ec.generate_private_key(ec.SECP256R1())
        node[path[-1]] = evidence.sign_digest(stranger, bytes.fromhex(receipt["block"]["block_hash"]))
    else:
        node[path[-1]] = value[:-1] + ("0" if value[-1] != "0" else "1")
    receipt_path = tmp_path / "receipt.json"
    receipt_path.write_text(json.dumps(receipt))
    done = _xase_verify(str(receipt_path), "--key", str(_published_key(api, tmp_path)))
    assert done.returncode == 1
    assert f"at step {step}" in done.stderr


def test_receipt_from_another_ledger_key_is_not_trusted(api: Api, tmp_path: Path) -> None:
    api.record(transaction_id="pin_1")
    receipt_path = tmp_path / "receipt.json"
    receipt_path.write_text(api.get("/receipts/pin_1").text)
    stranger = tmp_path / "other.pem"
    vectors = json.loads((Path(__file__).parents[1] / "vectors" / "evidence-v1.json").read_text())
    stranger.write_text(vectors["test_key"]["public_pem"])
    done = _xase_verify(str(receipt_path), "--key", str(stranger))
    assert done.returncode == 1 and "at step public_key" in done.stderr


def test_block_checkpoint_and_keys(api: Api) -> None:
    api.post("/records/batch", json={"records": [decision(i) for i in range(4)]})
    api.record()
    block = api.get("/blocks/1").json()
    assert (block["first_seq"], block["last_seq"]) == (4, 4)
    assert block["prev_block_hash"] == api.get("/blocks/0").json()["block_hash"]
    checkpoint = api.get("/checkpoint").json()
    assert (checkpoint["records"], checkpoint["blocks"]) == (5, 2)
    assert checkpoint["block"] == block and checkpoint["head_record_hash"] == block["head_record_hash"]
    keys = api.get("/keys").json()
    current = next(key for key in keys["keys"] if key["key_id"] == keys["current_key_id"])
    assert evidence.key_fingerprint(current["pem"]) == current["key_id"] == block["key_id"]
    assert current["first_signed_at"] is not None
    assert evidence.verify_signature(current["pem"], bytes.fromhex(block["block_hash"]), block["signature"])


def test_empty_chain_checkpoint(api: Api) -> None:
    checkpoint = api.get("/checkpoint").json()
    assert (checkpoint["records"], checkpoint["blocks"], checkpoint["block"]) == (0, 0, None)


def test_receipt_as_html_page_shows_the_verdict(api: Api) -> None:
    api.record(transaction_id="html_1")
    page = api.get("/receipts/html_1", headers={"Accept": "text/html"})
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Verified" in page.text and "html_1" in page.text


def test_verify_endpoint_and_export_bundle(api: Api, tmp_path: Path) -> None:
    api.post("/records/batch", json={"records": [decision(i) for i in range(7)]})
    api.record(context={"k": "v"})
    report = api.get("/verify").json()
    assert report == {"ok": True, "status": "OK", "tenant_id": report["tenant_id"], "records": 8, "blocks": 2, "first_broken_seq": None, "error": None,
                      "contexts": {"ok": True, "turns": 0, "blobs": 0, "contexts": 0, "sealed_heads": 0},
                      "claims": {"ok": True, "references": 0, "unresolved": 0, "listed": []}}  # fmt: skip
    bundle = tmp_path / "export.jsonl"
    bundle.write_bytes(api.get("/export").content)
    lines = bundle.read_bytes().splitlines()
    assert len(lines) == 1 + 8 + 2 + 1
    done = _xase_verify(str(bundle), "--key", str(_published_key(api, tmp_path)))
    assert done.returncode == 0, done.stderr
    assert "8 records, 2 blocks" in done.stdout


def test_truncated_export_fails_verification(api: Api, tmp_path: Path) -> None:
    api.post("/records/batch", json={"records": [decision(i) for i in range(3)]})
    api.record()
    lines = api.get("/export").content.splitlines(keepends=True)
    bundle = tmp_path / "cut.jsonl"
    bundle.write_bytes(b"".join(lines[:-3]))  # drop the last record, its block and the end line
    done = _xase_verify(str(bundle))
    assert done.returncode == 1 and "at step end" in done.stderr
