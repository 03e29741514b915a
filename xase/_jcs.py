"""JSON in and out for evidence: a strict parser and an RFC 8785 (JCS) serializer.

`canonicalize` is a fast equivalent of the `rfc8785` package (our oracle; the
hypothesis tests in tests/format/test_jcs.py prove them equal on random JSON).

Two paths. The fast one hands the value to orjson (sorted keys, integers held to
53 bits), after a walk has checked that orjson will write exactly what JCS asks:
only plain JSON types, string keys, and floats in the range where the shortest
round-trip digits print the same in every layout (non-integral, 1e-4 <= |x| < 1e16).
Output holding a character beyond the BMP goes the slow way too, since JCS orders
keys by UTF-16 code units. The slow path leans on the C string escaper of the
standard `json` module, whose escaping rules are exactly those of JCS, and only
formats numbers and orders keys itself (`_slow_canonical`, also tested on its own against `rfc8785`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection
from json.encoder import encode_basestring as _quote_string  # C-accelerated in CPython
from typing import Any, Optional

import orjson

__all__ = ["MAX_SAFE_INTEGER", "CanonicalizationError", "InvalidJSONError", "canonicalize", "loads", "loads_canonical"]

# JCS works on IEEE 754 doubles: larger integers would silently lose precision.
MAX_SAFE_INTEGER = _INT_MAX = 2**53 - 1  # the largest integer evidence can carry (I-JSON, RFC 7493)
_INT_MIN = -(2**53) + 1
_EXACT_DOUBLE = 2**53  # below this, a double's integer value prints as itself


class CanonicalizationError(ValueError):
    """The value has no JCS form (non-finite or oversized number, lone surrogate, ...)."""


class InvalidJSONError(ValueError):
    """The text is not JSON we accept as evidence input."""


# ---------------------------------------------------------------- parsing


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise InvalidJSONError(f"duplicate key {key!r} in JSON object")
            seen.add(key)
    return obj


def _no_constants(name: str) -> Any:
    raise InvalidJSONError(f"non-finite number {name} is not allowed")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidJSONError(f"number {text} is out of range for a double")
    return value


_DECODER = json.JSONDecoder(
    object_pairs_hook=_no_duplicate_keys,
    parse_constant=_no_constants,
    parse_float=_finite_float,
)


def loads(data: bytes | str) -> Any:
    """Parse JSON text, rejecting duplicate keys and non-finite numbers.

    Raises InvalidJSONError for anything that is not such JSON (bad UTF-8,
    syntax errors, nesting too deep for the parser).

    Text that orjson parses and writes back byte for byte (as orjson wrote it, keys in their order or sorted: what
    the SDK sends, every line of an export) has no duplicate key, no escape the strict parser would read
    differently, no number it would read as another value (an integer beyond 64 bits, which orjson reads as a
    float, is written back as a float, so it differs) and at most 255 levels of nesting (orjson writes no deeper).
    For such text the two parsers give the same value, ten times faster; anything else goes through the strict
    parser, which names its fault.
    """
    if isinstance(data, (bytes, bytearray)):
        try:
            parsed = orjson.loads(data)
            if orjson.dumps(parsed) == data or orjson.dumps(parsed, option=orjson.OPT_SORT_KEYS) == data:
                return parsed
        except (orjson.JSONDecodeError, orjson.JSONEncodeError):
            pass
    return strict_loads(data)


def strict_loads(data: bytes | str) -> Any:
    """`loads` without the fast path: Python's parser, told to refuse what evidence cannot hold."""
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
        return _DECODER.decode(text)
    except InvalidJSONError:
        raise
    except json.JSONDecodeError as exc:
        raise InvalidJSONError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except UnicodeDecodeError:
        raise InvalidJSONError("request body is not valid UTF-8") from None
    except RecursionError:
        raise InvalidJSONError("JSON nesting is too deep") from None
    except ValueError as exc:  # e.g. integer literals over Python's digit limit
        raise InvalidJSONError(f"malformed JSON: {exc}") from None


def loads_canonical(data: bytes) -> Any:
    """`loads` of one line (of an export): without its line ending."""
    return loads(data.rstrip(b"\r\n"))


# ---------------------------------------------------------------- serializing


def _format_float(value: float) -> str:
    """ECMAScript Number::toString, as RFC 8785 section 3.2.2.3 requires."""
    if value == 0:
        return "0"  # also -0.0
    if not math.isfinite(value):
        raise CanonicalizationError(f"{value} is not representable in JCS")
    if value.is_integer() and -_EXACT_DOUBLE < value < _EXACT_DOUBLE:
        return str(int(value))
    # repr gives the shortest round-tripping digits, as ECMAScript requires;
    # only their layout differs. Write value as 0.DIGITS x 10**n, then lay out.
    sign = "-" if value < 0 else ""
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    raw = whole + fraction
    digits = raw.lstrip("0")
    n = len(whole) - (len(raw) - len(digits)) + (int(exponent) if exponent else 0)
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    return f"{sign}{digits[0]}{'.' + digits[1:] if k > 1 else ''}e{'+' if e > 0 else '-'}{abs(e)}"


def _sorted_items(obj: dict[str, Any]) -> list[tuple[str, Any]]:
    items = sorted(obj.items(), key=_first)
    # Code-point order equals JCS's UTF-16 code-unit order unless a key holds
    # characters beyond the BMP; only then pay for the exact ordering.
    if not "".join(obj).isascii():
        try:
            items.sort(key=_utf16_key)
        except UnicodeEncodeError:
            raise CanonicalizationError("object key contains a lone surrogate") from None
    return items


def _first(item: tuple[str, Any]) -> str:
    return item[0]


def _utf16_key(item: tuple[str, Any]) -> bytes:
    return item[0].encode("utf-16-be")


def _scalar(value: Any) -> str | None:
    """The JCS text of a scalar, or None when value is a container or an odd type."""
    kind = type(value)
    if kind is str:
        return _quote_string(value)
    if kind is int:
        if value < _INT_MIN or value > _INT_MAX:
            raise CanonicalizationError(f"{value} exceeds the safe integer range of JSON numbers")
        return int.__repr__(value)
    if kind is float:
        return _format_float(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return None


def _serialize(value: Any, out: list[str]) -> None:
    text = _scalar(value)
    if text is not None:
        out.append(text)
        return
    kind = type(value)
    if kind is dict:
        append = out.append
        append("{")
        for index, (key, item) in enumerate(_sorted_items(value)):
            if type(key) is not str:
                raise CanonicalizationError(f"object key {key!r} is not a string")
            append(',"' if index else '"')
            append(_quote_string(key)[1:])
            append(":")
            text = _scalar(item)
            if text is None:
                _serialize(item, out)
            else:
                append(text)
        append("}")
    elif kind is list or kind is tuple:
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _serialize(item, out)
        out.append("]")
    else:
        _serialize(_plain(value), out)


def _plain(value: Any) -> Any:
    """Subclasses of the JSON types (IntEnum, str enums, ...) as their plain base type."""
    for base in (bool, int, float, str, dict, list, tuple):
        if isinstance(value, base):
            return base(value)  # type: ignore[arg-type]
    raise CanonicalizationError(f"{type(value).__name__} is not a JSON type")


_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
_BEYOND_BMP = re.compile(rb"[\xf0-\xf4]")  # the lead byte of a 4-byte UTF-8 sequence
_MAX_FAST_DEPTH = 64
_LEAF_TYPES = frozenset({str, int, bool, type(None)})  # exact types: subclasses go the slow path
_STR_TYPE = frozenset({str})
_SCALAR_TYPES = _LEAF_TYPES | {float}


def _orjson_writes_jcs(value: Any, depth: int = 0) -> bool:
    """Whether orjson's output for `value` is its JCS form (but for the checks left to orjson and the output)."""
    kind = type(value)
    if kind is dict:
        return depth <= _MAX_FAST_DEPTH and _STR_TYPE.issuperset(map(type, value)) and _all_write_jcs(value.values(), depth)
    if kind is list:
        return depth <= _MAX_FAST_DEPTH and _all_write_jcs(value, depth)
    if kind is float:
        return _plain_float(value)
    return kind in _LEAF_TYPES


def _all_write_jcs(items: Collection[Any], depth: int) -> bool:
    types = set(map(type, items))  # the common cases are decided without a Python-level loop over every item
    if types <= _LEAF_TYPES:
        return True
    if types <= _SCALAR_TYPES:
        for item in items:
            if type(item) is float and not _plain_float(item):
                return False
        return True
    return all(type(item) in _LEAF_TYPES or _orjson_writes_jcs(item, depth + 1) for item in items)


def _plain_float(value: float) -> bool:
    """Whether orjson writes this float as ECMAScript does: not integral, and no exponent in either."""
    return 1e-4 <= abs(value) < 1e16 and not value.is_integer()


def orjson_writes_number_as_jcs(value: Any) -> bool:
    """Whether orjson writes this number (or None) as RFC 8785 does: a plain float, or an integer JSON holds exactly."""
    kind = type(value)
    if kind is float:
        return _plain_float(value)
    if kind is int:
        return bool(_INT_MIN <= value <= _INT_MAX)
    return value is None


def _fast_canonical(value: Any) -> Optional[bytes]:
    """The JCS form by orjson, or None where only the slow path can tell (or refuse)."""
    if not _orjson_writes_jcs(value):
        return None
    try:
        out = orjson.dumps(value, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:  # an integer beyond 53 bits, a lone surrogate: the slow path says which
        return None
    if not out.isascii() and _BEYOND_BMP.search(out):
        return None
    return out


def canonicalize(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 serialization of a JSON value."""
    fast = _fast_canonical(value)
    return fast if fast is not None else _slow_canonical(value)


def _slow_canonical(value: Any) -> bytes:
    """The conformant path, for every value: what the fast path declines, and its oracle in the tests."""
    out: list[str] = []
    try:
        _serialize(value, out)
        return "".join(out).encode("utf-8")
    except UnicodeEncodeError:
        raise CanonicalizationError("string contains a lone surrogate (not valid Unicode)") from None
    except RecursionError:
        raise CanonicalizationError("JSON nesting is too deep") from None
    except TypeError:  # keys of mixed types cannot even be sorted
        raise CanonicalizationError("object keys must be strings") from None
