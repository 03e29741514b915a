"""xase.contexts.history against tests/vectors/contexts-v1.json, built from docs/contexts.md with hashlib, rfc8785 and blake3
alone: the turn hash format cannot drift silently."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from xase.contexts import content_hash, turn_hash, verify_decision_context, verify_history
from xase.evidence import VerificationError

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "contexts-v1.json").read_text())


def test_content_and_turn_hashes_match_the_vectors() -> None:
    parent = None
    for turn in VECTORS["turns"]:
        assert content_hash(base64.b64decode(turn["bytes_b64"])) == turn["content_hash_b3"]
        declared = turn["declared_type"]
        parent = turn_hash(parent, turn["depth"], declared["type_id"], declared["type_version"], turn["content_hash_b3"])
        assert parent == turn["turn_hash"]


def test_the_vector_history_verifies_in_any_order() -> None:
    head = VECTORS["turns"][-1]
    assert verify_history(list(reversed(VECTORS["turns"])))["turn_id"] == head["turn_id"]
    assert verify_history(VECTORS["turns"], "2")["turn_id"] == "2"  # a prefix is a history too
    ref = {"cxdb": {"context_id": "1", "turn_id": head["turn_id"], "turn_hash": head["turn_hash"]}}
    assert verify_decision_context(ref, VECTORS["turns"]) == head


def _mutated(index: int, **changes: Any) -> list[dict[str, Any]]:
    turns = copy.deepcopy(VECTORS["turns"])
    turns[index].update(changes)
    return turns


@pytest.mark.parametrize(("turns", "step"), [
    (_mutated(0, bytes_b64=base64.b64encode(b"\x80").decode()), "content_hash_b3"),
    (_mutated(1, content_hash_b3="0" * 64), "content_hash_b3"),
    (_mutated(1, encoding=2), "turn_hash"),
    (_mutated(1, declared_type={"type_id": "com.example.Message", "type_version": 2}), "turn_hash"),
    (_mutated(2, parent_turn_id="1"), "depth"),
    (_mutated(0, parent_turn_id="9"), "parent"),
    (_mutated(2, bytes_b64=None), "bytes_b64"),
    (_mutated(2, depth="3"), "format"),
    ([], "format"),
])  # fmt: skip
def test_every_mutation_is_named(turns: list[dict[str, Any]], step: str) -> None:
    with pytest.raises(VerificationError) as failure:
        verify_history(turns)
    assert failure.value.step == step, failure.value


def test_a_decision_naming_another_history_fails() -> None:
    other = {"cxdb": {"context_id": "1", "turn_id": "3", "turn_hash": "f" * 64}}
    with pytest.raises(VerificationError, match="turn_hash"):
        verify_decision_context(other, VECTORS["turns"])
    with pytest.raises(VerificationError, match="cxdb"):
        verify_decision_context({"user": "x"}, VECTORS["turns"])
