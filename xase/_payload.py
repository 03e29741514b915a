"""A RecordPayload's two lives: checked and snapshotted on the caller's thread, then put in
wire form (commitments computed) on the worker thread.

The caller's thread does the least possible: type checks and one C-speed copy.
Hashing, key generation and JSON all happen later, off the decision path.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import platform
import random
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

from xase import evidence, wire
from xase._version import __version__
from xase.errors import ValidationError
from xase.references import BadReference, parse_references

__all__ = ["QueuedRecord", "assign_key", "check_idempotency_key", "snapshot", "wire_item", "runtime_context"]

_FIELDS = frozenset(
    {"policy", "input", "output", "confidence", "context", "transaction_id", "policy_version", "decision_type",
     "processing_time", "store_payload"}
)  # fmt: skip
_OPTIONAL_TEXT = ("policy_version", "decision_type")


@dataclass
class QueuedRecord:
    """A validated snapshot waiting for the worker. The key is fixed the first time it is sent."""

    payload: dict[str, Any]
    idempotency_key: Optional[str] = None
    deferred_since: Optional[float] = None  # when the ledger first could not take it (kept in memory, no spool)


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError(f"{field}: {message}", {"field": field})


def check_idempotency_key(key: Any) -> Optional[str]:
    if key is None:
        return None
    if not wire.is_idempotency_key(key):
        raise _invalid("idempotency_key", wire.IDEMPOTENCY_KEY_RULE)
    return key


def _is_number_within(value: Any, high: float) -> bool:
    return type(value) in (int, float) and math.isfinite(value) and 0 <= value <= high


def _is_short_text(value: Any) -> bool:
    return type(value) is str and 0 < len(value) <= 256 and not value.isspace() and (value.isascii() or _is_utf8(value))


def _is_utf8(text: str) -> bool:
    """False for a lone surrogate, which no JSON encoder can send."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check(payload: Mapping[str, Any]) -> None:
    if not _FIELDS.issuperset(payload):
        unknown = sorted((set(payload) - _FIELDS), key=repr)  # keys may be of any type: sort what cannot be compared
        raise ValidationError(f"unknown field(s) {unknown}; RecordPayload has {sorted(_FIELDS)}", {"fields": unknown})
    get = payload.get
    if not _is_short_text(get("policy")):
        raise _invalid("policy", "must be a non-empty string of valid Unicode, at most 256 characters")
    if type(get("input")) is not dict and not isinstance(get("input"), dict):
        raise _invalid("input", "must be a dict")
    if type(get("output")) is not dict and not isinstance(get("output"), dict):
        raise _invalid("output", "must be a dict")
    if len(payload) > 3:  # the optional members
        _check_optional(payload)


def _check_optional(payload: Mapping[str, Any]) -> None:
    get = payload.get
    context = get("context")
    if context is not None and not isinstance(context, dict):
        raise _invalid("context", "must be a dict or None")
    try:
        parse_references(context)
    except BadReference as exc:
        raise _invalid(exc.field, exc.reason) from None
    if get("confidence") is not None and not _is_number_within(get("confidence"), 1.0):
        raise _invalid("confidence", "must be a number within [0, 1]")
    if get("processing_time") is not None and not _is_number_within(get("processing_time"), 1e12):
        raise _invalid("processing_time", "must be a number within [0, 1e+12]")
    for field in _OPTIONAL_TEXT:
        if get(field) is not None and not _is_short_text(get(field)):
            raise _invalid(field, "must be a non-empty string of valid Unicode, at most 256 characters, or None")
    transaction_id = get("transaction_id")
    if transaction_id is not None and not wire.is_transaction_id(transaction_id):
        raise _invalid("transaction_id", "must be 1-128 characters of A-Z a-z 0-9 . _ : @ - starting with a letter or digit")
    store = get("store_payload")
    if store is not None and type(store) is not bool:
        raise _invalid("store_payload", "must be True, False or None")


_IMMUTABLE = frozenset({str, int, float, bool, type(None)})


def _copy(value: Any) -> Any:
    """Deep copy of a JSON-like tree that shares the (immutable) scalars: twice as fast as marshal."""
    kind = type(value)
    if kind is dict:
        copied = value.copy()
        for key, item in copied.items():
            if type(item) not in _IMMUTABLE:
                copied[key] = _copy(item)
        return copied
    if kind is list:
        return [item if type(item) in _IMMUTABLE else _copy(item) for item in value]
    if kind in _IMMUTABLE:
        return value
    return copy.deepcopy(value)  # anything else: correct first, fast where it matters


def snapshot(payload: Any) -> dict[str, Any]:
    """Validate a RecordPayload and return a deep copy the caller can no longer change."""
    if type(payload) is not dict and not isinstance(payload, Mapping):
        raise ValidationError(f"payload must be a dict (RecordPayload), got {type(payload).__name__}")
    _check(payload)
    copied = dict(payload)  # the top-level scalars were just checked to be immutable
    for field in ("input", "output", "context"):
        if copied.get(field) is not None:
            copied[field] = _copy(copied[field])
    return copied


def runtime_context() -> dict[str, Any]:
    """Captured once per process (and again in a forked child), not per record."""
    return {
        "runtime": {
            "sdk": "xase-python",
            "sdk_version": __version__,
            "python_version": platform.python_version(),
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
        }
    }


def assign_key(record: QueuedRecord) -> str:
    """Fix the record's idempotency key (once): every retry, and every replay from the spool, reuses it."""
    if record.idempotency_key is None:
        record.idempotency_key = _key_for(record)
    return record.idempotency_key


# A key must be unique, not secret: a generator of its own, seeded from os.urandom (a tenth of its cost per key),
# never the `random` module's, which an application may seed (random.seed(42)) and so repeat keys across runs;
# seeded again in a forked child, which would otherwise draw its parent's keys.
_KEY_BITS = random.Random()  # noqa: S311 - uniqueness, not secrecy
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_KEY_BITS.seed)


def _key_for(record: QueuedRecord) -> str:
    transaction_id = record.payload.get("transaction_id")
    if transaction_id:
        # Stable across processes and restarts, as the seed promises for transaction ids.
        return "tx_" + hashlib.sha256(transaction_id.encode("utf-8")).hexdigest()[:40]
    # Time-ordered (milliseconds, then 80 random bits): the ledger's unique index on keys grows at its end.
    return f"k{time.time_ns() // 1_000_000:012x}{_KEY_BITS.getrandbits(80):020x}"


def wire_item(record: QueuedRecord, runtime: Optional[dict[str, Any]], hmac_key: Optional[bytes]) -> dict[str, Any]:
    """The JSON object POSTed for this record. Raw input/output leave only with store_payload.

    Raises evidence.CanonicalizationError for values JSON cannot carry exactly.
    """
    assign_key(record)
    payload = record.payload
    context = payload.get("context") or {}
    item: dict[str, Any] = {
        "policy_id": payload["policy"],
        "idempotency_key": record.idempotency_key,
        "context": {**runtime, **context} if runtime else context,
    }
    for field in ("transaction_id", "policy_version", "decision_type", "confidence", "processing_time"):
        if payload.get(field) is not None:
            item[field] = payload[field]
    if payload.get("store_payload"):
        evidence.canonicalize([payload["input"], payload["output"]])  # fail here, not at the ledger
        item.update(input=payload["input"], output=payload["output"], store_payload=True)
    else:
        item["input_hash"] = evidence.commitment(payload["input"], hmac_key)
        item["output_hash"] = evidence.commitment(payload["output"], hmac_key)
        item["commitment"] = "hmac-sha256" if hmac_key else "sha256"
    if context:
        evidence.canonicalize(context)  # one bad context must fail alone, not its whole batch
    return item
