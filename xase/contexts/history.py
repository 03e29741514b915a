"""Tamper-evident agent context history (docs/contexts.md): the one implementation of turn hashes.

Pure functions, no I/O: the ledger computes turn hashes with them, `xase verify` and auditors
check histories with them, and tests/vectors/contexts-v1.json pins them.

    content_hash_b3 = hex(BLAKE3(uncompressed msgpack bytes of the turn's payload))
    turn_hash       = hex(SHA-256(JCS({"v": 1, "parent_turn_hash": <64 hex, zeros at depth 1>,
                                       "depth": n, "type_id": ..., "type_version": n,
                                       "encoding": 1, "content_hash_b3": <64 hex>})))

A turn hash commits to its parent's, so one turn hash names the whole history below it (a Merkle
DAG: forks share their ancestors' hashes). Turn ids are local numbers and are not hashed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from blake3 import blake3

from xase.evidence import ZERO_HASH, VerificationError, canonicalize

__all__ = ["ENCODING_MSGPACK", "ROOT_TURN_ID", "content_hash", "turn_hash", "verify_history", "verify_decision_context", "turn_ref"]

ENCODING_MSGPACK = 1
ROOT_TURN_ID = "0"  # the parent of every depth-1 turn, the head of an empty context


def content_hash(payload: bytes) -> str:
    """`content_hash_b3`: BLAKE3 of the uncompressed payload bytes, lowercase hex."""
    return str(blake3(payload).hexdigest())


def turn_hash(parent_turn_hash: str | None, depth: int, type_id: str, type_version: int, content_hash_b3: str,
              encoding: int = ENCODING_MSGPACK) -> str:  # fmt: skip
    """The hash of a turn; `parent_turn_hash` None (or zeros) for a depth-1 turn."""
    body = {"v": 1, "parent_turn_hash": parent_turn_hash or ZERO_HASH, "depth": depth, "type_id": type_id,
            "type_version": type_version, "encoding": encoding, "content_hash_b3": content_hash_b3}  # fmt: skip
    return hashlib.sha256(bytes(canonicalize(body))).hexdigest()


def turn_ref(context_id: str, turn_id: str, turn_hash_: str, depth: int) -> dict[str, Any]:
    """What a decision record's context names a turn with: `XaseClient.record(..., context={"cxdb": turn_ref(...)})`."""
    return {"context_id": context_id, "turn_id": turn_id, "turn_hash": turn_hash_, "depth": depth}


def _field(turn: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = turn.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise VerificationError(f"turn {turn.get('turn_id')}", "format", f"{name}: expected {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def _check_content(turn: Mapping[str, Any]) -> str:
    """The turn's content hash, checked against its bytes when the turn carries them (view raw or both)."""
    declared: str = _field(turn, "content_hash_b3", str)
    encoded = turn.get("bytes_b64")
    if encoded is None:
        return declared
    try:
        payload = base64.b64decode(encoded, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise VerificationError(f"turn {turn.get('turn_id')}", "bytes_b64", "not valid base64") from None
    actual = content_hash(payload)
    if actual != declared:
        raise VerificationError(f"turn {turn.get('turn_id')}", "content_hash_b3", f"expected {declared}, got {actual}")
    return declared


def verify_history(turns: Iterable[Mapping[str, Any]], head_turn_id: str | None = None, *, require_bytes: bool = True) -> Mapping[str, Any]:
    """Check that `turns` (as `get_turns(view="raw"|"both")` answers them, any order) form one complete history
    from `head_turn_id` (default: the deepest turn) down to depth 1, each turn's bytes matching its content hash
    and each turn hash recomputed from its parent's. Returns the head turn; raises VerificationError."""
    by_id: dict[str, Mapping[str, Any]] = {}
    for turn in turns:
        by_id[str(_field(turn, "turn_id", str))] = turn
    if not by_id:
        raise VerificationError("history", "format", "expected at least one turn, got none")
    head_id = head_turn_id if head_turn_id is not None else max(by_id.values(), key=lambda t: _field(t, "depth", int))["turn_id"]
    if head_id not in by_id:
        raise VerificationError("history", "head", f"expected turn {head_id} among the turns, got {sorted(by_id)[:5]}...")
    chain = []
    current = by_id[head_id]
    while True:  # head down to depth 1
        chain.append(current)
        parent_id = _field(current, "parent_turn_id", str)
        if parent_id == ROOT_TURN_ID:
            break
        if parent_id not in by_id:
            raise VerificationError(f"turn {current['turn_id']}", "parent", f"expected parent turn {parent_id} among the turns, got none")
        current = by_id[parent_id]
    parent_hash = None
    for depth, turn in enumerate(reversed(chain), start=1):
        subject = f"turn {turn['turn_id']}"
        if _field(turn, "depth", int) != depth:
            raise VerificationError(subject, "depth", f"expected {depth}, got {turn['depth']}")
        if require_bytes and turn.get("bytes_b64") is None:
            raise VerificationError(subject, "bytes_b64", "expected the turn's bytes (view raw or both), got none")
        declared = turn.get("declared_type")
        if not isinstance(declared, Mapping):
            raise VerificationError(subject, "format", f"declared_type: expected an object, got {declared!r}")
        actual = turn_hash(parent_hash, depth, _field(declared, "type_id", str), _field(declared, "type_version", int), _check_content(turn),
                           _field(turn, "encoding", int))  # fmt: skip
        if turn.get("turn_hash") != actual:
            raise VerificationError(subject, "turn_hash", f"expected {actual}, got {turn.get('turn_hash')}")
        parent_hash = actual
    return chain[0]


def verify_decision_context(context: Mapping[str, Any], turns: Iterable[Mapping[str, Any]]) -> Mapping[str, Any]:
    """Check that the history in `turns` is exactly the one a decision's context names (`context["cxdb"]`,
    a `turn_ref`): its turn's recomputed hash equals the committed `turn_hash`. Returns the named turn."""
    ref = context.get("cxdb") if isinstance(context, Mapping) else None
    if not isinstance(ref, Mapping):
        raise VerificationError("context", "cxdb", "expected a cxdb turn reference in the decision's context, got none")
    turn_id, committed = ref.get("turn_id"), ref.get("turn_hash")
    if not isinstance(turn_id, str) or not isinstance(committed, str):
        raise VerificationError("context", "cxdb", f"expected turn_id and turn_hash strings, got {dict(ref)!r}")
    head = verify_history(turns, turn_id)
    if head["turn_hash"] != committed:
        raise VerificationError(f"turn {turn_id}", "turn_hash", f"expected the decision's {committed}, got {head['turn_hash']}")
    return head
