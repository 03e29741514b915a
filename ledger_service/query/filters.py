"""MongoDB-style filters compiled to SQL over a JSON column (SQLite JSON1, PostgreSQL JSONB).

Supported: field equality, `$eq $ne $gt $gte $lt $lte $in $nin $exists $not`
per field, `$and $or $nor` (and `$not`) over sub-filters, and dotted paths
(`lab_results.glucose`, `symptoms.0`). As in MongoDB, comparisons only match
values of the same type (a number never matches `{"$gt": "a"}`), `{"f": null}`
matches a null or missing field, and `$ne`/`$nin`/`$not` match missing fields.
Documents are stored in canonical JSON, so object and array equality is exact.

Anything else is refused with ValidationFailed naming the operator or path:
filters run in the database, never as a Python scan, and never as SQL text
built from the request. Their cost is capped, each cap named in the 400 that
enforces it: nesting (MAX_DEPTH), predicates (MAX_PREDICATES), values in one
`$in`/`$nin` (MAX_IN) and literal values in the whole filter (MAX_VALUES).
`$in` compiles to one `IN (...)` per JSON type over one extracted value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from sqlalchemy import ARRAY, ColumnElement, Text, and_, any_, bindparam, cast, false, func, not_, or_, true
from sqlalchemy.dialects.postgresql import JSONB

from ledger_service.errors import ValidationFailed, over_cap
from xase import evidence
from xase.wire import is_decimal

__all__ = [
    "JsonDocument",
    "compile_filter",
    "sort_expression",
    "parse_path",
    "LOGICAL",
    "FIELD_OPERATORS",
    "MAX_DEPTH",
    "MAX_IN",
    "MAX_PREDICATES",
    "MAX_VALUES",
]

LOGICAL = frozenset({"$and", "$or", "$nor", "$not"})
FIELD_OPERATORS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$not"})
MAX_DEPTH = 16
MAX_IN = 1000
MAX_PREDICATES = 200
MAX_VALUES = 5000
_SEGMENT = re.compile(r"[^$.\x00][^.\x00]{0,127}")
_COMPARE = {"$gt": "__gt__", "$gte": "__ge__", "$lt": "__lt__", "$lte": "__le__"}


def _invalid(message: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(f"filter: {message}", details)


def _require_unicode(text: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise _invalid("strings must be valid Unicode (a lone surrogate is not)") from None


def parse_path(path: Any) -> tuple[str, ...]:
    """`a.b.0` -> ("a", "b", "0"); refuses empty, `$`-prefixed or oversized paths."""
    if not isinstance(path, str) or not path or len(path) > 512:
        raise _invalid(f"field path {path!r} must be a non-empty string", path=str(path))
    _require_unicode(path)
    segments = tuple(path.split("."))
    if len(segments) > MAX_DEPTH or not all(_SEGMENT.fullmatch(segment) for segment in segments):
        raise _invalid(f"invalid field path {path!r}", path=path)
    return segments


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) and not -evidence.MAX_SAFE_INTEGER <= value <= evidence.MAX_SAFE_INTEGER:
        raise _invalid(f"integer {value} is beyond ±(2^53-1), which JSON numbers cannot hold exactly")
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        _require_unicode(value)
        return "string"
    if isinstance(value, (list, dict)):
        return "container"
    raise _invalid(f"unsupported value {value!r}")


class JsonDocument:
    """SQL for one JSON column, per dialect. Every predicate is true or false, never NULL: the type test of
    each leaf is total, and the value comparison beside it is left bare, with its JSON path written into
    the SQL as a literal, so that an expression index built from `value()` for that path can serve it."""

    def __init__(self, column: ColumnElement[Any], dialect: str) -> None:
        self.column = column
        self.postgres = dialect == "postgresql"

    # -- primitives
    def _sqlite_path(self, segments: Sequence[str]) -> str:
        return "$" + "".join(f"[{s}]" if is_decimal(s) else "." + json.dumps(s) for s in segments)

    def _sqlite_path_literal(self, segments: Sequence[str]) -> ColumnElement[Any]:
        return bindparam(None, self._sqlite_path(segments), literal_execute=True)  # quoted by SQLAlchemy

    def text(self, segments: Sequence[str]) -> ColumnElement[Any]:
        """A scalar as SQL text (PostgreSQL), for casts and collated comparisons."""
        return self.column.op("#>>", return_type=Text)(self._path_array(segments))

    def value(self, segments: Sequence[str]) -> ColumnElement[Any]:
        if self.postgres:
            return self.column.op("#>")(self._path_array(segments))
        return func.json_extract(self.column, self._sqlite_path_literal(segments))

    def _path_array(self, segments: Sequence[str]) -> ColumnElement[Any]:
        return cast(bindparam(None, list(segments), type_=ARRAY(Text), literal_execute=True), ARRAY(Text))

    def type_of(self, segments: Sequence[str]) -> ColumnElement[Any]:
        if self.postgres:
            return func.jsonb_typeof(self.value(segments))
        return func.json_type(self.column, self._sqlite_path_literal(segments))

    def is_kind(self, segments: Sequence[str], kind: str) -> ColumnElement[bool]:
        names = {
            "number": ("number",) if self.postgres else ("integer", "real"),
            "string": ("string",) if self.postgres else ("text",),
            "boolean": ("boolean",) if self.postgres else ("true", "false"),
            "null": ("null",),
            "container": ("object", "array"),
        }[kind]
        return func.coalesce(self.type_of(segments), "").in_(names)  # a missing path: false, not NULL

    def _literal(self, value: Any) -> ColumnElement[Any]:
        if self.postgres:
            return cast(bindparam(None, json.dumps(value)), JSONB)
        if isinstance(value, (list, dict)):
            return bindparam(None, evidence.canonicalize(value).decode("utf-8"))
        return bindparam(None, value)

    # -- predicates
    def equals(self, segments: Sequence[str], value: Any) -> ColumnElement[bool]:
        kind = _kind(value)
        if kind == "null":
            return or_(self.type_of(segments).is_(None), self.is_kind(segments, "null"))
        if kind == "boolean" and not self.postgres:
            return func.coalesce(self.type_of(segments), "") == ("true" if value else "false")
        return and_(self.is_kind(segments, kind), self.value(segments) == self._literal(value))

    def compare(self, segments: Sequence[str], operator: str, value: Any) -> ColumnElement[bool]:
        kind = _kind(value)
        if kind not in ("number", "string"):
            raise _invalid(f"{operator} needs a number or a string, got {value!r}", operator=operator)
        if self.postgres and kind == "string":
            # Code-point order, as MongoDB and SQLite compare, whatever the database's collation.
            text = self.text(segments).collate("C")
            compared = getattr(text, _COMPARE[operator])(bindparam(None, value, type_=Text))
        else:
            compared = getattr(self.value(segments), _COMPARE[operator])(self._literal(value))
        return and_(self.is_kind(segments, kind), compared)

    def one_of(self, segments: Sequence[str], values: Sequence[Any]) -> ColumnElement[bool]:
        """`$in`: one IN per JSON type over one extracted value, not one predicate per value."""
        by_kind: dict[str, list[Any]] = {}
        for value in values:
            by_kind.setdefault(_kind(value), []).append(value)
        parts = [self.equals(segments, value) for kind in ("null", "boolean") for value in dict.fromkeys(by_kind.get(kind, []))]
        for kind in ("number", "string", "container"):
            if kind in by_kind:
                parts.append(and_(self.is_kind(segments, kind), self._among(segments, by_kind[kind])))
        return or_(false(), *parts)

    def _among(self, segments: Sequence[str], values: list[Any]) -> ColumnElement[bool]:
        if self.postgres:  # one jsonb[] parameter, however many values
            array = cast(bindparam(None, [json.dumps(value) for value in values], type_=ARRAY(Text)), ARRAY(JSONB))
            return self.value(segments) == any_(array)
        return self.value(segments).in_([self._literal(value) for value in values])

    def exists(self, segments: Sequence[str]) -> ColumnElement[bool]:
        return self.type_of(segments).is_not(None)

    def sort_key(self, segments: Sequence[str]) -> ColumnElement[Any]:
        return self.value(segments)


class _Compiler:
    """Compiles one filter, counting what it costs against the caps."""

    def __init__(self, document: JsonDocument) -> None:
        self.document = document
        self.predicates = 0
        self.values = 0

    def _spend(self, predicates: int = 1, values: int = 0) -> None:
        self.predicates += predicates
        self.values += values
        if self.predicates > MAX_PREDICATES:
            raise over_cap("filter: predicates", "max_predicates", MAX_PREDICATES)
        if self.values > MAX_VALUES:
            raise over_cap("filter: literal values", "max_values", MAX_VALUES)

    def expression(self, expression: Any, depth: int) -> ColumnElement[bool]:
        if depth > MAX_DEPTH:
            raise over_cap("filter: nesting levels", "max_depth", MAX_DEPTH)
        if not isinstance(expression, Mapping):
            raise _invalid(f"expected an object, got {type(expression).__name__}")
        parts = []
        for key, condition in expression.items():
            if isinstance(key, str) and key.startswith("$"):
                parts.append(self._logical(key, condition, depth))
            else:
                parts.append(self._field(parse_path(key), condition, depth))
        return and_(true(), *parts)

    def _logical(self, operator: str, condition: Any, depth: int) -> ColumnElement[bool]:
        if operator not in LOGICAL:
            raise _invalid(f"unknown operator {operator}", operator=operator)
        self._spend()
        if operator == "$not":
            return not_(self.expression(condition, depth + 1))
        if not isinstance(condition, list) or not condition:
            raise _invalid(f"{operator} needs a non-empty list of filters", operator=operator)
        parts = [self.expression(part, depth + 1) for part in condition]
        if operator == "$and":
            return and_(*parts)
        return or_(*parts) if operator == "$or" else not_(or_(*parts))

    def _field(self, segments: tuple[str, ...], condition: Any, depth: int) -> ColumnElement[bool]:
        dollar = [isinstance(key, str) and key.startswith("$") for key in condition] if isinstance(condition, Mapping) else []
        if any(dollar) and not all(dollar):
            raise _invalid(f"mixes operators and fields for {'.'.join(segments)!r}", path=".".join(segments))
        if not dollar or not any(dollar):
            self._spend(values=1)
            return self.document.equals(segments, condition)
        parts = []
        for operator, argument in condition.items():
            if operator not in FIELD_OPERATORS:
                raise _invalid(f"unknown operator {operator}", operator=operator)
            parts.append(self._operator(segments, operator, argument, depth))
        return and_(*parts)

    def _operator(self, segments: tuple[str, ...], operator: str, argument: Any, depth: int) -> ColumnElement[bool]:
        self._spend(values=len(argument) if operator in ("$in", "$nin") and isinstance(argument, list) else 1)
        document = self.document
        if operator == "$eq":
            return document.equals(segments, argument)
        if operator == "$ne":
            return not_(document.equals(segments, argument))
        if operator in _COMPARE:
            return document.compare(segments, operator, argument)
        if operator in ("$in", "$nin"):
            if not isinstance(argument, list):
                raise _invalid(f"{operator} needs a list of values", operator=operator)
            if len(argument) > MAX_IN:
                raise over_cap(f"filter: {operator} values", "max_in", MAX_IN)
            matched = document.one_of(segments, argument)
            return matched if operator == "$in" else not_(matched)
        if operator == "$exists":
            if not isinstance(argument, bool):
                raise _invalid("$exists needs true or false", operator=operator)
            return document.exists(segments) if argument else not_(document.exists(segments))
        # $not
        if depth + 1 > MAX_DEPTH:
            raise over_cap("filter: nesting levels", "max_depth", MAX_DEPTH)
        if not isinstance(argument, Mapping) or not argument:
            raise _invalid("$not needs an operator expression such as {'$gt': 5}", operator=operator)
        return not_(self._field(segments, argument, depth + 1))


def compile_filter(expression: Any, column: ColumnElement[Any], dialect: str) -> ColumnElement[bool]:
    """A SQL boolean over `column` (JSON documents) equivalent to the filter; {} matches all."""
    return _Compiler(JsonDocument(column, dialect)).expression(expression if expression is not None else {}, 0)


def sort_expression(sort: Any, column: ColumnElement[Any], dialect: str,
                    tie_breaker: Optional[ColumnElement[Any]] = None) -> list[ColumnElement[Any]]:  # fmt: skip
    """ORDER BY terms for `{"field": 1 | -1, ...}`, then `tie_breaker` (a unique column) in the direction of the
    last key, so that an index on (..., field, tie_breaker) yields the whole order without a sort."""
    if sort is None:
        return [] if tie_breaker is None else [tie_breaker.asc()]
    if not isinstance(sort, Mapping) or len(sort) > 8:
        raise _invalid("sort must be an object of at most 8 {field: 1 | -1} pairs")
    document = JsonDocument(column, dialect)
    terms: list[ColumnElement[Any]] = []
    for path, direction in sort.items():
        if direction not in (1, -1) or isinstance(direction, bool):
            raise _invalid(f"sort direction for {path!r} must be 1 or -1", path=str(path))
        key = document.sort_key(parse_path(path))
        terms.append(key.asc() if direction == 1 else key.desc())
    if tie_breaker is not None:
        terms.append(tie_breaker.desc() if terms and list(sort.values())[-1] == -1 else tie_breaker.asc())
    return terms
