"""Record transformations for sessions (seed 002): pure functions over copies; stored data never changes.

- `anonymize` with `method`:
  - `hash`: HMAC-SHA256 under the dataset's own key, so equal values hash alike and joins still work, but nobody without the key can brute-force them;
  - `mask`: all but the last 4 characters become `*`;
  - `redact`: the value becomes `"[REDACTED]"`.
- `generalize`: numbers fall into `bucket`-wide ranges (`"50-59"`); ISO dates are cut to `granularity` `year` or `month`.

Fields are dotted paths; a missing field is left alone.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import math
import re
from collections.abc import Callable
from typing import Any

from ledger_service.errors import ValidationFailed, over_cap
from ledger_service.query import parse_path
from xase import evidence

__all__ = ["TRANSFORMATIONS", "transform"]

TRANSFORMATIONS = ("anonymize", "generalize")
MAX_FIELDS = 100  # paths in parameters.fields
_METHODS = ("hash", "mask", "redact")
_DATE = re.compile(r"(\d{4})-(\d{2})(-\d{2}.*)?")
Transformer = Callable[[Any], Any]


def _invalid(message: str, field: str = "parameters") -> ValidationFailed:
    return ValidationFailed(f"{field}: {message}", {"field": field})


def _hasher(key: bytes) -> Transformer:
    return lambda value: hmac.new(key, evidence.canonicalize(value), hashlib.sha256).hexdigest()


def _mask(value: Any) -> Any:
    text = value if isinstance(value, str) else evidence.canonicalize(value).decode("utf-8")
    visible = text[-4:] if len(text) > 4 else ""
    return "*" * (len(text) - len(visible)) + visible


def _redact(_value: Any) -> Any:
    return "[REDACTED]"


def _bucketer(size: Any) -> Transformer:
    if isinstance(size, bool) or not isinstance(size, (int, float)) or not math.isfinite(size) or size <= 0:
        raise _invalid("bucket must be a positive number")

    def generalize_number(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return value
        buckets = value / size
        if not math.isfinite(buckets):
            raise _invalid(f"bucket {size!r} is too small for the value {value!r}")
        low = math.floor(buckets) * size
        high = low + size - (1 if isinstance(size, int) and isinstance(value, int) else 0)
        return f"{low:g}-{high:g}"

    return generalize_number


def _date_cutter(granularity: Any) -> Transformer:
    if granularity not in ("year", "month"):
        raise _invalid("granularity must be 'year' or 'month'")

    def generalize_date(value: Any) -> Any:
        match = _DATE.fullmatch(value) if isinstance(value, str) else None
        if not match:
            return value
        return match.group(1) if granularity == "year" else f"{match.group(1)}-{match.group(2)}"

    return generalize_date


def _transformer(transformation: Any, parameters: dict[str, Any], hash_key: bytes) -> Transformer:
    if transformation == "anonymize":
        method = parameters.get("method", "hash")
        if method not in _METHODS:
            raise _invalid(f"method must be one of {list(_METHODS)}")
        return _hasher(hash_key) if method == "hash" else _mask if method == "mask" else _redact
    if transformation == "generalize":
        numbers = _bucketer(parameters.get("bucket", 10))
        dates = _date_cutter(parameters.get("granularity", "year"))
        return lambda value: dates(numbers(value))
    raise ValidationFailed(f"transformation: one of {list(TRANSFORMATIONS)}", {"field": "transformation"})


def _apply(record: dict[str, Any], path: tuple[str, ...], change: Transformer) -> None:
    node: Any = record
    for segment in path[:-1]:
        node = node.get(segment) if isinstance(node, dict) else None
    if isinstance(node, dict) and path[-1] in node:
        node[path[-1]] = change(node[path[-1]])


def transform(records: list[dict[str, Any]], transformation: Any, parameters: Any, hash_key: bytes) -> list[dict[str, Any]]:
    """Transformed deep copies of `records`; `record_id` is never transformed."""
    if not isinstance(parameters, dict):
        raise _invalid("must be an object")
    fields = parameters.get("fields")
    if not isinstance(fields, list) or not fields:
        raise _invalid("fields must be a non-empty list of field paths")
    if len(fields) > MAX_FIELDS:
        raise over_cap("parameters.fields", "max_transform_fields", MAX_FIELDS)
    paths = [parse_path(field) for field in fields]
    if any(path == ("record_id",) for path in paths):
        raise _invalid("record_id identifies the record and cannot be transformed")
    change = _transformer(transformation, parameters, hash_key)
    transformed = []
    for record in records:
        copied = copy.deepcopy(record)
        for path in paths:
            _apply(copied, path, change)
        transformed.append(copied)
    return transformed
