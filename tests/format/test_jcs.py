"""The fast canonicalizer equals the rfc8785 oracle; the strict parser rejects what it must."""

from __future__ import annotations

import datetime
import enum
import hashlib
import json
import math
import uuid
from typing import Any

import orjson
import pytest
import rfc8785
from hypothesis import example, given, settings
from hypothesis import strategies as st

from xase import _jcs
from xase.evidence import RECORD_FIELDS, CanonicalizationError, InvalidJSONError, canonicalize, loads, record_hash

SAFE_INT = 2**53 - 1

# Text without lone surrogates (the oracle and we both reject those; tested below).
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
scalars = st.none() | st.booleans() | st.integers(min_value=-SAFE_INT, max_value=SAFE_INT) | st.floats(allow_nan=False, allow_infinity=False) | text
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(text, children, max_size=5),
    max_leaves=40,
)


@settings(max_examples=600, deadline=None)
@given(json_values)
def test_canonicalize_equals_rfc8785(value: Any) -> None:
    assert canonicalize(value) == rfc8785.dumps(value)


@settings(max_examples=1500, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
@example(1e21)
@example(1e-7)
@example(1e-6)
@example(-1e-6)
@example(123456789012345680000.0)
@example(5e-324)
@example(1.7976931348623157e308)
@example(-0.0)
def test_float_formatting_equals_rfc8785(value: float) -> None:
    assert canonicalize(value) == rfc8785.dumps(value)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(st.characters(exclude_categories=("Cs",)), max_size=4), st.integers(0, 9), max_size=8))
def test_key_order_is_utf16_order(value: dict[str, int]) -> None:
    assert canonicalize(value) == rfc8785.dumps(value)


# Integral doubles >= 2**53 print as integer literals, which parse back as
# Python ints outside I-JSON's safe range; we reject those (as rfc8785 does)
# rather than round them silently, so this property excludes them.
round_trippable = st.recursive(
    st.none() | st.booleans() | st.integers(-SAFE_INT, SAFE_INT) | st.floats(-SAFE_INT, SAFE_INT) | text,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(text, children, max_size=5),
    max_leaves=40,
)


@settings(max_examples=200, deadline=None)
@given(round_trippable)
def test_parse_of_canonical_form_round_trips(value: Any) -> None:
    assert canonicalize(loads(canonicalize(value))) == canonicalize(value)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 2**53, -(2**53), "\ud800", {"\udc00": 1}, {1: 2}, object()])
def test_values_without_a_jcs_form_are_rejected(bad: Any) -> None:
    with pytest.raises(CanonicalizationError):
        canonicalize(bad)


def test_deep_nesting_is_a_canonicalization_error_not_a_crash() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(CanonicalizationError, match="too deep"):
        canonicalize(deep)


@pytest.mark.parametrize(
    "text, reason",
    [
        ('{"a": 1, "a": 2}', "duplicate key"),
        ('{"x": {"b": 1, "b": 1}}', "duplicate key"),
        ('{"a": NaN}', "non-finite"),
        ('{"a": Infinity}', "non-finite"),
        ("[-Infinity]", "non-finite"),
        ("[1e400]", "out of range"),
        ('{"a": ', "malformed"),
        (b'{"a": "\xff"}', "UTF-8"),
        ("[" * 200_000 + "]" * 200_000, "too deep"),
    ],
)
def test_strict_parser_rejects(text: str | bytes, reason: str) -> None:
    with pytest.raises(InvalidJSONError, match=reason):
        _jcs.strict_loads(text)
    with pytest.raises(InvalidJSONError, match=reason):  # the fast path is exactly as strict
        loads(text.encode() if isinstance(text, str) else text)


@pytest.mark.parametrize(
    "text",
    [b'{"a":1,"a":1}', b'{"b":1,"a":2}', b'{"a":1.0}', b'{"a":"\\ud800"}', b"[9007199254740993]", b'{"a": 1}\n', b'{"b":{"x":1,"x":2},"a":0}',
     b"[18446744073709551616]", b"-0", b"[-0.0]", b'"\\u00e9"', b"[" * 256 + b"]" * 256, b"[" * 300 + b"]" * 300],
)  # fmt: skip
def test_the_fast_path_gives_what_the_strict_parser_gives_or_its_error(text: bytes) -> None:
    try:
        expected: Any = _jcs.strict_loads(text)
    except InvalidJSONError as refusal:
        with pytest.raises(InvalidJSONError, match=str(refusal)[:20]):
            loads(text)
    else:
        assert loads(text) == expected and type(loads(text)) is type(expected)


@settings(max_examples=500, deadline=None)
@given(json_values)
@example(1.8446744073709552e19)  # printed as an integer beyond 64 bits: orjson would parse a float, the strict parser an int
@example({"a": [0.5, -2.5e-7, 1e21]})
def test_canonical_and_orjson_text_parse_to_the_same_value_by_either_parser(value: Any) -> None:
    text = canonicalize(value)
    assert _jcs.loads_canonical(text + b"\n") == _jcs.strict_loads(text)
    written = orjson.dumps(value)  # as the SDK sends a batch: keys in their order
    assert loads(written) == _jcs.strict_loads(written)


def test_strict_parser_accepts_ordinary_json() -> None:
    assert loads(b'{"a": [1, 2.5, "\\u00e9", null, true]}') == json.loads('{"a": [1, 2.5, "\\u00e9", null, true]}')


record_texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)
record_numbers = st.none() | st.floats(0, 1) | st.integers(0, 10) | st.sampled_from([1e-5, 1.0, 0.0, 5e-324, 1e-7, 0.5])


@settings(max_examples=500, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "v": st.just(1),
            "tenant_id": record_texts,
            "seq": st.integers(0, 2**53 - 1),
            "prev_hash": record_texts,
            "transaction_id": record_texts,
            "policy_id": record_texts,
            "policy_version": st.none() | record_texts,
            "decision_type": st.none() | record_texts,
            "confidence": record_numbers,
            "processing_time_ms": record_numbers | st.floats(0, 1e12),
            "input_hash": record_texts,
            "output_hash": record_texts,
            "context_hash": record_texts,
            "commitment": record_texts,
            "payload_ref": st.none() | record_texts,
            "recorded_at": record_texts,
        }
    )
)
def test_record_hash_fast_path_equals_the_oracle(body: dict[str, Any]) -> None:
    assert record_hash(body) == hashlib.sha256(rfc8785.dumps(body)).hexdigest()


def test_record_hash_with_a_lone_surrogate_is_a_canonicalization_error() -> None:
    body = json.loads(json.dumps({name: "x" for name in RECORD_FIELDS}))
    body["policy_id"] = "\ud800"
    with pytest.raises(CanonicalizationError):
        record_hash(body)


# ---------------------------------------------------------------- the orjson fast path

plain_floats = st.floats(min_value=1e-4, max_value=1e16, exclude_max=True).filter(lambda f: not f.is_integer()).flatmap(
    lambda f: st.sampled_from([f, -f]))  # fmt: skip
bmp_text = st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",)))
fast_scalars = st.none() | st.booleans() | st.integers(-SAFE_INT, SAFE_INT) | plain_floats | bmp_text
fast_values = st.recursive(fast_scalars, lambda children: st.lists(children, max_size=5) | st.dictionaries(text, children, max_size=5), max_leaves=40)


@settings(max_examples=1500, deadline=None)
@given(fast_values)
def test_the_orjson_fast_path_equals_rfc8785_where_it_is_taken(value: Any) -> None:
    fast = _jcs._fast_canonical(value)
    if fast is not None:
        assert fast == rfc8785.dumps(value)
    assert canonicalize(value) == rfc8785.dumps(value)


@settings(max_examples=2000, deadline=None)
@given(plain_floats)
def test_every_plain_float_takes_the_fast_path_and_prints_as_ecmascript(value: float) -> None:
    assert _jcs._fast_canonical(value) == rfc8785.dumps(value)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return {"a": value}


@pytest.mark.parametrize("value", [
    1.0, 1e16 + 2.0, 9.5e-5, 1e21, {"\U0001f600": 1, "\uffff": 2}, ["\U0001f600"], 2**53, (1, 2), {1: 2}, "\ud800",
    _nested(80),
])  # fmt: skip
def test_what_orjson_would_write_differently_goes_the_slow_path(value: Any) -> None:
    assert _jcs._fast_canonical(value) is None


def test_types_orjson_knows_but_json_does_not_are_refused_as_before() -> None:
    class Color(enum.Enum):
        RED = 1

    for value in (Color.RED, uuid.uuid4(), datetime.date(2026, 1, 1), {"when": datetime.datetime(2026, 1, 1)}):
        with pytest.raises(CanonicalizationError):
            canonicalize(value)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_the_slow_path_alone_equals_rfc8785(value: Any) -> None:
    assert _jcs._slow_canonical(value) == rfc8785.dumps(value)
