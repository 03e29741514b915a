"""Intake: turn one record as sent on the wire into a validated RecordInput, or say exactly what is wrong.

Accepts the SDK's snake_case and the camelCase spelling, and either the raw
`input`/`output` (committed here, stored only with `store_payload`) or their
commitments `input_hash`/`output_hash`. A `null` optional field means "not given",
as the published seed-001 client sends absent optionals.

The `xase.` policy namespace and the transaction-id prefixes in
`LEDGER_TRANSACTION_PREFIXES` belong to the ledger's own evidence (data
access, retrievals): a client's record using them is refused, so nothing a
client sends can read back as evidence the ledger wrote.
"""

from __future__ import annotations

import functools
import math
import unicodedata
from dataclasses import dataclass
from typing import Any, Optional

from confusable_homoglyphs import confusables

from ledger_service.errors import ValidationFailed
from xase import evidence, wire
from xase.references import LEDGER_POLICY_PREFIX, BadReference, parse_references

__all__ = ["RecordInput", "parse_record", "check_idempotency_key", "LEDGER_POLICY_PREFIX", "LEDGER_TRANSACTION_PREFIXES"]

ALIASES = {
    "policy": "policy_id",
    "policyId": "policy_id",
    "policyVersion": "policy_version",
    "decisionType": "decision_type",
    "processingTime": "processing_time",
    "processing_time_ms": "processing_time",
    "processingTimeMs": "processing_time",
    "storePayload": "store_payload",
    "transactionId": "transaction_id",
    "inputHash": "input_hash",
    "outputHash": "output_hash",
    "idempotencyKey": "idempotency_key",
}
FIELDS = frozenset(
    {
        "policy_id", "policy_version", "decision_type", "confidence", "processing_time", "input", "output",
        "input_hash", "output_hash", "commitment", "context", "store_payload", "transaction_id", "idempotency_key",
    }
)  # fmt: skip

_MAX_TEXT = 256
LEDGER_TRANSACTION_PREFIXES = (
    "acc_",
    "era_",
    "ret_",
    "cxs_",
    "lgv_",
    "ovs_",
    "ovr_",
)  # data accesses, payload erasures, knowledge, context seals, log visibility, oversight events and rules
_MAX_PROCESSING_MS = 1e12
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp", "Mn", "Me"})


@dataclass(frozen=True)
class RecordInput:
    """A record ready to append: every member of the record body but its chain position."""

    transaction_id: Optional[str]
    idempotency_key: Optional[str]
    policy_id: str
    policy_version: Optional[str]
    decision_type: Optional[str]
    confidence: Optional[float]
    processing_time_ms: Optional[float]
    input_hash: str
    output_hash: str
    context_hash: str
    commitment: str
    context_json: str
    payload: Optional[bytes]  # canonical {"input": ..., "output": ...} when store_payload

    def decision(self) -> tuple[Any, ...]:
        """What must match for a replay of the same idempotency key to be the same decision."""
        return (self.policy_id, self.policy_version, self.input_hash, self.output_hash)


def _fail(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {message}", {"field": field})


def check_idempotency_key(key: Any, field: str = "idempotency_key") -> Optional[str]:
    if key is None:
        return None
    if not wire.is_idempotency_key(key):
        raise _fail(field, wire.IDEMPOTENCY_KEY_RULE)
    return key


def _normalized(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ValidationFailed(f"a record must be a JSON object, got {type(item).__name__}")
    fields: dict[str, Any] = {}
    for name, value in item.items():
        canonical = ALIASES.get(name, name)
        if canonical not in FIELDS:
            raise _fail(name, "unknown field")
        if value is None:
            continue
        if canonical in fields:
            raise _fail(name, f"given twice (as {canonical} and an alias)")
        fields[canonical] = value
    return fields


def _text(fields: dict[str, Any], name: str, *, required: bool = False) -> Optional[str]:
    value = fields.get(name)
    if value is None:
        if required:
            raise _fail(name, "is required")
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_TEXT:
        raise _fail(name, f"must be a non-empty string of at most {_MAX_TEXT} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _fail(name, "is not valid Unicode (lone surrogate)") from None
    if wire.UNPRINTABLE.search(value):
        raise _fail(name, "may not contain control or bidirectional-override characters")
    return value


def _number(fields: dict[str, Any], name: str, low: float, high: float) -> Optional[float]:
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value <= high:
        raise _fail(name, f"must be a number within [{low:g}, {high:g}]")
    return value


def _commit(fields: dict[str, Any], name: str) -> str:
    raw, given = fields.get(name), fields.get(f"{name}_hash")
    if (raw is None) == (given is None):
        raise _fail(name, f"give exactly one of {name} (raw) or {name}_hash (its commitment)")
    if given is not None:
        if not evidence.is_hex64(given):
            raise _fail(f"{name}_hash", "must be 64 lowercase hex characters")
        return given
    if not isinstance(raw, dict):
        raise _fail(name, "must be a JSON object")
    try:
        return evidence.commitment(raw)
    except evidence.CanonicalizationError as exc:
        raise _fail(name, str(exc)) from None


def _commitment_scheme(fields: dict[str, Any]) -> str:
    scheme = fields.get("commitment", "sha256")
    if scheme not in ("sha256", "hmac-sha256"):
        raise _fail("commitment", "must be 'sha256' or 'hmac-sha256'")
    if scheme == "hmac-sha256" and (fields.get("input") is not None or fields.get("output") is not None):
        raise _fail("commitment", "hmac-sha256 commitments are computed by the client: send input_hash/output_hash")
    return str(scheme)


def _context(fields: dict[str, Any]) -> tuple[str, str]:
    context = fields.get("context")
    if context is None:
        context = {}
    if not isinstance(context, dict):
        raise _fail("context", "must be a JSON object")
    try:
        parse_references(context)
    except BadReference as exc:
        raise _fail(exc.field, exc.reason) from None
    try:
        canonical = evidence.canonicalize(context)
    except evidence.CanonicalizationError as exc:
        raise _fail("context", str(exc)) from None
    return evidence.sha256_hex(canonical), canonical.decode("utf-8")


def _payload(fields: dict[str, Any]) -> Optional[bytes]:
    store = fields.get("store_payload", False)
    if not isinstance(store, bool):
        raise _fail("store_payload", "must be true or false")
    if not store:
        return None
    if not isinstance(fields.get("input"), dict) or not isinstance(fields.get("output"), dict):
        raise _fail("store_payload", "needs the raw input and output objects")
    return evidence.canonicalize({"input": fields["input"], "output": fields["output"]})


def skeleton(text: str) -> str:
    """What `text` looks like: NFKC, case-folded, without invisible, spacing or combining characters, and each
    character that looks like an ASCII one (Unicode TR39 confusables) replaced by it."""
    shown = []
    for char in unicodedata.normalize("NFKC", text).casefold():
        if unicodedata.category(char) in _INVISIBLE:
            continue
        if not char.isascii():
            char = next((alike["c"].lower() for alike in confusables.confusables_data.get(char, ()) if alike["c"].isascii()), char)
        shown.append(char)
    return "".join(shown)


@functools.lru_cache(maxsize=4096)  # a few policies, recorded again and again; a skeleton costs microseconds per character
def _looks_reserved(policy_id: str) -> bool:
    """`xase` and then anything but a letter or digit, as a reader would see it: `xase.`, with a fullwidth dot, with a
    Cyrillic `a`, with a zero-width space or a leading blank."""
    seen = skeleton(policy_id)
    word = LEDGER_POLICY_PREFIX[:-1]
    return seen.startswith(word) and (len(seen) == len(word) or not seen[len(word)].isalnum())


def _refuse_ledger_namespace(policy_id: str, transaction_id: Optional[str]) -> None:
    if _looks_reserved(policy_id):
        raise _fail("policy_id", f"policies named {LEDGER_POLICY_PREFIX}* (or anything that looks like it) are reserved for the ledger's own evidence")
    if transaction_id is not None and transaction_id.lower().startswith(LEDGER_TRANSACTION_PREFIXES):
        raise _fail("transaction_id", f"the prefixes {list(LEDGER_TRANSACTION_PREFIXES)} are reserved for the ledger's own evidence")


def parse_record(item: Any, idempotency_key: Optional[str] = None, *, written_by_ledger: bool = False) -> RecordInput:
    """Validate one wire record. `idempotency_key` is the header's (single) or None (batch: per item).

    Only the ledger itself (`written_by_ledger`) may use its reserved policy namespace and transaction prefixes.
    """
    fields = _normalized(item)
    transaction_id = fields.get("transaction_id")
    if transaction_id is not None and not wire.is_transaction_id(transaction_id):
        raise _fail("transaction_id", "must be 1-128 characters of A-Z a-z 0-9 . _ : @ - starting with a letter or digit")
    policy_id = str(_text(fields, "policy_id", required=True))
    if not written_by_ledger:
        _refuse_ledger_namespace(policy_id, transaction_id)
    key = check_idempotency_key(fields.get("idempotency_key")) if idempotency_key is None else idempotency_key
    context_hash, context_json = _context(fields)
    scheme = _commitment_scheme(fields)
    return RecordInput(
        transaction_id=transaction_id,
        idempotency_key=key,
        policy_id=policy_id,
        policy_version=_text(fields, "policy_version"),
        decision_type=_text(fields, "decision_type"),
        confidence=_number(fields, "confidence", 0.0, 1.0),
        processing_time_ms=_number(fields, "processing_time", 0.0, _MAX_PROCESSING_MS),
        input_hash=_commit(fields, "input"),
        output_hash=_commit(fields, "output"),
        context_hash=context_hash,
        commitment=scheme,
        context_json=context_json,
        payload=_payload(fields),
    )
