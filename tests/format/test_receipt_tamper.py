"""A receipt with any single field changed fails verification at a named step."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from xase import cli as xase_cli
from xase.evidence import VerificationError, verify_receipt

V1 = json.loads((Path(__file__).resolve().parent.parent / "vectors" / "evidence-v1.json").read_text())
RECEIPT = V1["receipts"][1]
TEST_KEY = V1["test_key"]["public_pem"]


def _leaf_paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaf_paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaf_paths(value, (*path, index))
    else:
        yield path


def _mutated(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value / 2
    if value is None:
        return "x"
    text = str(value)
    # flip one character in the middle, keeping hex hex and base64 base64
    middle = len(text) // 2
    replacement = "0" if text[middle] != "0" else "1"
    return text[:middle] + replacement + text[middle + 1 :]


def _set(receipt: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    node: Any = receipt
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


EXPECTED_STEP = {
    "record": "record_hash",
    "record_hash": "record_hash",
    "chain_position": "position",
    "block": "block_hash",
    "inclusion_proof": "position",
    "public_key": "public_key",
    "receipt_version": "format",
}


@pytest.mark.parametrize("path", list(_leaf_paths(RECEIPT)), ids=lambda p: ".".join(map(str, p)))
def test_any_changed_field_fails_at_a_named_step(path: tuple[Any, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    receipt = copy.deepcopy(RECEIPT)
    _set(receipt, path, _mutated(_get(receipt, path)))
    with pytest.raises(VerificationError) as caught:
        verify_receipt(receipt, trusted_keys=[TEST_KEY])
    step = caught.value.step
    (tmp_path / "receipt.json").write_text(json.dumps(receipt))
    (tmp_path / "key.pem").write_text(TEST_KEY)
    assert xase_cli.main(["verify", str(tmp_path / "receipt.json"), "--key", str(tmp_path / "key.pem")]) == 1
    assert f"verification FAILED at step {step}" in capsys.readouterr().err  # the auditor's command names the same step
    # Specific expectations where one check owns the field; any named step otherwise.
    owner = path[0]
    if owner == "record" and path[1] in ("seq", "v"):
        assert step in ("format", "record_hash")
    elif owner == "block" and path[1] == "signature":
        assert step == "signature"
    elif owner == "block" and path[1] in ("first_seq", "last_seq", "tenant_id"):
        assert step in ("position", "block_hash")
    elif owner == "block" and path[1] in ("v", "algorithm"):
        assert step == "format"
    elif owner == "block" and path[1] == "merkle_root":
        assert step == "inclusion_proof"
    elif owner == "inclusion_proof" and path[1] == "audit_path":
        assert step == "inclusion_proof"
    elif owner == "record" and path[1] in ("policy_id", "recorded_at", "input_hash", "transaction_id"):
        assert step == "record_hash"
    else:
        assert step in {EXPECTED_STEP[owner], "format", "position", "public_key", "block_hash"}
    assert str(caught.value).startswith(("record seq", "receipt", "block"))


def _get(receipt: dict[str, Any], path: tuple[Any, ...]) -> Any:
    node: Any = receipt
    for key in path:
        node = node[key]
    return node


def test_untrusted_key_is_refused() -> None:
    with pytest.raises(VerificationError) as caught:
        verify_receipt(RECEIPT, trusted_keys=["sha256:" + "0" * 64])
    assert caught.value.step == "public_key"


@pytest.mark.parametrize("name", ["input", "output", "context"])
def test_wrong_original_payload_fails_its_commitment(name: str) -> None:
    originals = copy.deepcopy(V1["originals"])
    originals[name] = {"tampered": True}
    with pytest.raises(VerificationError) as caught:
        verify_receipt(RECEIPT, trusted_keys=[TEST_KEY], **originals)
    assert caught.value.step == f"{name}_hash"


def test_added_member_is_a_format_error() -> None:
    receipt = copy.deepcopy(RECEIPT)
    receipt["record"]["extra"] = 1
    with pytest.raises(VerificationError, match="unexpected \\['extra'\\]"):
        verify_receipt(receipt)


def test_receipt_of_another_key_with_consistent_swap_fails_trust() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = other.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    receipt = copy.deepcopy(RECEIPT)
    receipt["public_key"] = {"key_id": "x", "pem": pem}
    with pytest.raises(VerificationError) as caught:
        verify_receipt(receipt, trusted_keys=[TEST_KEY])
    assert caught.value.step == "public_key"
