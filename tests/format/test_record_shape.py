"""The record-body shape check: its fast path accepts only what the member rules accept, and every valid body."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from xase import evidence
from xase.evidence import RECORD_FIELDS, VerificationError, check_record_body

HEX = "0123456789abcdef"
hex64 = st.text(st.sampled_from(HEX), min_size=64, max_size=64)
valid_values: dict[str, st.SearchStrategy[Any]] = {
    "v": st.just(1),
    "tenant_id": st.text(max_size=8),
    "seq": st.integers(0, 2**53 - 1),
    "prev_hash": hex64,
    "transaction_id": st.text(max_size=8),
    "policy_id": st.text(max_size=8),
    "policy_version": st.none() | st.text(max_size=4),
    "decision_type": st.none() | st.text(max_size=4),
    "confidence": st.none() | st.floats(0, 1) | st.sampled_from([0, 1]),
    "processing_time_ms": st.none() | st.floats(0, 1e9) | st.integers(0, 10**6),
    "input_hash": hex64,
    "output_hash": hex64,
    "context_hash": hex64,
    "commitment": st.sampled_from(["sha256", "hmac-sha256"]),
    "payload_ref": st.none() | hex64,
    "recorded_at": st.text(max_size=8),
}
odd_values = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 2**64), st.floats(allow_nan=True), st.text(max_size=70),
    hex64.map(str.upper), hex64.map(lambda h: h[:-1]), hex64.map(lambda h: h + "0"), hex64.map(lambda h: h[:32] + "," + h[33:]),
    st.sampled_from(["sha256", "hmac-sha256", "SHA256", 1, [], {}]), st.lists(st.integers(), max_size=2),
)  # fmt: skip
valid_bodies = st.fixed_dictionaries(valid_values)


def _rules_accept(body: Any) -> bool:
    try:
        evidence._check_members("record", body, RECORD_FIELDS, None)
        return all(valid(body[member]) for member, valid in evidence._RECORD_MEMBER_RULES)
    except VerificationError:
        return False


@settings(max_examples=1000, deadline=None)
@given(valid_bodies)
def test_every_valid_body_takes_the_fast_path(body: dict[str, Any]) -> None:
    assert evidence._plainly_valid_record_body(body)
    check_record_body(body)


@settings(max_examples=1000, deadline=None)
@given(valid_bodies, st.sampled_from([*RECORD_FIELDS, "extra"]), odd_values, st.booleans())
def test_the_fast_path_accepts_only_what_the_rules_accept(body: dict[str, Any], member: str, value: Any, drop: bool) -> None:
    changed = dict(body)
    if drop:
        changed.pop(member, None)
    else:
        changed[member] = value
    fast = evidence._plainly_valid_record_body(changed)
    assert not fast or _rules_accept(changed)
    if not _rules_accept(changed):
        with pytest.raises(VerificationError):
            check_record_body(changed)


any_text = st.text(max_size=12)  # every code point but lone surrogates: control characters, beyond the BMP
any_numbers = st.none() | st.floats(0, 1) | st.sampled_from([0, 1, 1.0, 0.0, 1e-5, 5e-324, 1e-7])


@settings(max_examples=500, deadline=None)
@given(valid_bodies, any_text, any_text, st.none() | any_text, any_numbers, st.none() | st.floats(0, 1e15) | st.integers(0, 2**60), st.integers(0, 2**60))
def test_the_record_hash_of_a_valid_body_equals_the_rfc8785_oracle(
    body: dict[str, Any], policy: str, recorded_at: str, version: Any, confidence: Any, elapsed: Any, seq: int
) -> None:
    body = {**body, "policy_id": policy, "recorded_at": recorded_at, "policy_version": version,
            "confidence": confidence, "processing_time_ms": elapsed, "seq": seq}  # fmt: skip
    try:
        expected = hashlib.sha256(rfc8785.dumps(body)).hexdigest()
    except rfc8785.IntegerDomainError:
        with pytest.raises(evidence.CanonicalizationError):
            evidence.record_hash(body)
        return
    assert evidence.record_hash(body) == expected
