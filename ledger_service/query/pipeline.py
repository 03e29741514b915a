"""Aggregation pipelines (seed 002's `aggregate`) run in the database.

Stages: `$match` (before any `$group`; compiled by query.py), `$group` with
`_id` of a `"$field"` path or null and the accumulators `$sum` (`1` or
`"$field"`), `$avg`, `$min`, `$max` (numbers, as MongoDB's arithmetic
accumulators treat them), `$count` and `$push`; then `$sort`, `$skip`,
`$limit`, `$project` (a list or an inclusion object of fields) and `$count`.
`$match` and `$group` become SQL (WHERE, GROUP BY, aggregates); the stages
after a `$group` work on its few output rows. Missing and null `_id` values
form one group, as in MongoDB.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from sqlalchemy import JSON, ColumnElement, Connection, Float, FromClause, case, cast, func, literal_column, select
from sqlalchemy.exc import DataError, OperationalError

from ledger_service.errors import ValidationFailed, over_cap
from ledger_service.query.filters import JsonDocument, compile_filter, parse_path, sort_expression

__all__ = ["run_pipeline", "STAGES", "ACCUMULATORS"]

STAGES = frozenset({"$match", "$group", "$sort", "$limit", "$skip", "$project", "$count"})
ACCUMULATORS = frozenset({"$sum", "$avg", "$min", "$max", "$count", "$push"})
MAX_STAGES = 16
MAX_ROWS = 10_000
MAX_ACCUMULATORS = 32  # output fields of one $group
MAX_FIELDS = 64  # fields named by $project, keys of $sort


def _invalid(message: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(f"pipeline: {message}", details)


def _field_reference(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, str) or not value.startswith("$"):
        raise _invalid(f'{where} needs a field reference like "$age", got {value!r}')
    return parse_path(value[1:])


@dataclass
class _Plan:
    matches: list[Any] = field(default_factory=list)
    group: Optional[Mapping[str, Any]] = None
    after: list[tuple[str, Any]] = field(default_factory=list)  # stages applied to the output rows


def _plan(pipeline: Any) -> _Plan:
    if not isinstance(pipeline, list) or not 0 < len(pipeline) <= MAX_STAGES:
        raise _invalid(f"must be a list of 1 to {MAX_STAGES} stages")
    plan = _Plan()
    for position, stage in enumerate(pipeline):
        if not isinstance(stage, Mapping) or len(stage) != 1:
            raise _invalid(f"stage {position} must be an object with exactly one operator", stage=position)
        ((name, argument),) = stage.items()
        if name not in STAGES:
            raise _invalid(f"unknown stage {name}", stage=position, operator=str(name))
        if name == "$match" and plan.group is None and not plan.after:
            plan.matches.append(argument)
        elif name == "$match":
            raise _invalid("$match is supported before $group and before other stages only", stage=position)
        elif name == "$group" and plan.group is None and not plan.after:
            if not isinstance(argument, Mapping) or "_id" not in argument:
                raise _invalid("$group needs an _id", stage=position)
            if len(argument) - 1 > MAX_ACCUMULATORS:
                raise over_cap("pipeline: $group accumulators", "max_accumulators", MAX_ACCUMULATORS)
            plan.group = argument
        elif name == "$group":
            raise _invalid("only one $group, before any $sort/$skip/$limit/$project/$count", stage=position)
        else:
            if name in ("$project", "$sort") and isinstance(argument, (list, Mapping)) and len(argument) > MAX_FIELDS:
                raise over_cap(f"pipeline: {name} fields", "max_fields", MAX_FIELDS)
            plan.after.append((name, argument))
    return plan


# ---------------------------------------------------------------- $group in SQL


class _Grouping:
    """SQL columns for one $group, and how to read its output rows back."""

    def __init__(self, document: JsonDocument, spec: Mapping[str, Any]) -> None:
        self.document = document
        self.columns: list[ColumnElement[Any]] = []
        self.readers: dict[str, Any] = {}
        key = spec["_id"]
        self.key_path = None if key is None else _field_reference(key, "$group _id")
        if self.key_path is not None:
            self.columns += [self._json(self.key_path).label("key")]
        for name, accumulator in spec.items():
            if name != "_id":
                self._accumulator(name, accumulator)

    def _json(self, path: tuple[str, ...]) -> ColumnElement[Any]:
        """The value as JSON text (SQLite) or jsonb (PostgreSQL): exact types, missing as NULL."""
        if self.document.postgres:
            return self.document.value(path)
        return self.document.column.op("->", return_type=JSON)(self.document._sqlite_path(path))

    def _number(self, path: tuple[str, ...]) -> ColumnElement[Any]:
        """The value where it is a number, else NULL (which SQL aggregates skip)."""
        value = cast(self.document.text(path), Float) if self.document.postgres else self.document.value(path)
        return case((self.document.is_kind(path, "number"), value))

    def _accumulator(self, name: str, accumulator: Any) -> None:
        if not isinstance(name, str) or name.startswith("$") or "." in name:
            raise _invalid(f"invalid output field {name!r} in $group")
        if not isinstance(accumulator, Mapping) or len(accumulator) != 1:
            raise _invalid(f"{name}: expected one accumulator such as {{'$sum': 1}}")
        ((operator, argument),) = accumulator.items()
        if operator not in ACCUMULATORS:
            raise _invalid(f"unknown accumulator {operator}", operator=str(operator))
        label = f"a{len(self.columns)}"
        if operator == "$count" or (operator == "$sum" and isinstance(argument, (int, float)) and not isinstance(argument, bool)):
            factor = 1 if operator == "$count" else argument
            self.columns.append(func.count().label(label))
            self.readers[name] = ("scale", label, factor)
            return
        path = _field_reference(argument, f"{name}: {operator}")
        if operator == "$push":
            present = self.document.exists(path)
            if self.document.postgres:
                aggregate = func.jsonb_agg(self._json(path), type_=JSON)
            else:
                aggregate = func.json_group_array(func.json(self._json(path)), type_=JSON)
            self.columns.append(aggregate.filter(present).label(label))
            self.readers[name] = ("push", label)
        elif operator == "$avg":
            self.columns += [func.sum(self._number(path)).label(label), func.count(self._number(path)).label(label + "n")]
            self.readers[name] = ("avg", label)
        else:
            number = self._number(path)
            aggregate = func.sum(number) if operator == "$sum" else func.min(number) if operator == "$min" else func.max(number)
            self.columns.append(aggregate.label(label))
            self.readers[name] = (operator, label)

    def key_of(self, row: Mapping[Any, Any]) -> Any:
        return row["key"] if self.key_path is not None else None  # decoded JSON: exact types

    def merged(self, rows: Sequence[Mapping[Any, Any]]) -> list[dict[str, Any]]:
        """One output document per _id; SQL keeps missing (NULL) and null apart, MongoDB does not."""
        groups: dict[str, dict[str, Any]] = {}
        for row in rows:
            key = self.key_of(row)
            group = groups.setdefault(json.dumps(key, sort_keys=True), {"_id": key, "_parts": []})
            group["_parts"].append(row)
        return [self._finish(group["_id"], group["_parts"]) for group in groups.values()]

    def _finish(self, key: Any, parts: list[Mapping[Any, Any]]) -> dict[str, Any]:
        return {name: _plain_number(value) for name, value in self._accumulate(key, parts).items()}

    def _accumulate(self, key: Any, parts: list[Mapping[Any, Any]]) -> dict[str, Any]:
        document: dict[str, Any] = {"_id": key}
        for name, (kind, label, *extra) in self.readers.items():
            values = [part[label] for part in parts]
            if kind == "scale":
                document[name] = sum(values) * extra[0]
            elif kind == "push":
                document[name] = [item for value in values if value for item in value]
            elif kind == "avg":
                count = sum(part[label + "n"] for part in parts)
                document[name] = sum(v for v in values if v is not None) / count if count else None
            elif kind == "$sum":
                document[name] = sum(v for v in values if v is not None)
            else:
                present = [v for v in values if v is not None]
                document[name] = (min if kind == "$min" else max)(present) if present else None
        return document


def _plain_number(value: Any) -> Any:
    """3.0 and 3 are one JSON number; give both backends' answers one Python form."""
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) < 2**53 else value


# ---------------------------------------------------------------- stages after $group


def _after(documents: list[dict[str, Any]], name: str, argument: Any) -> list[dict[str, Any]]:
    if name in ("$limit", "$skip"):
        _count_argument(name, argument)
        return documents[:argument] if name == "$limit" else documents[argument:]
    if name == "$count":
        if not isinstance(argument, str) or not argument or argument.startswith("$"):
            raise _invalid("$count needs an output field name")
        return [{argument: len(documents)}]
    if name == "$project":
        fields = list(argument) if isinstance(argument, (list, Mapping)) else None
        if not fields or (isinstance(argument, Mapping) and any(v not in (1, True) for v in argument.values())):
            raise _invalid("$project needs a list of fields or {field: 1, ...}")
        return [{key: document[key] for key in fields if key in document} for document in documents]
    # $sort
    if not isinstance(argument, Mapping) or not argument or any(d not in (1, -1) for d in argument.values()):
        raise _invalid("$sort needs {field: 1 | -1, ...}")
    for key, direction in reversed(list(argument.items())):  # stable sorts, last key first
        documents = sorted(documents, key=_sort_key(key), reverse=direction == -1)
    return documents


def _count_argument(name: str, argument: Any) -> bool:
    """$skip/$limit: an integer SQL's OFFSET and LIMIT can take."""
    if isinstance(argument, bool) or not isinstance(argument, int) or not 0 <= argument <= 2**31:
        raise _invalid(f"{name} needs a non-negative integer, at most 2^31")
    return True


def _sort_key(field_name: str) -> Callable[[dict[str, Any]], tuple[int, Any]]:
    return lambda document: _sortable(document.get(field_name))


def _sortable(value: Any) -> tuple[int, Any]:
    order = {type(None): 0, int: 1, float: 1, str: 2, bool: 4}
    return (order.get(type(value), 3), value if isinstance(value, (int, float, str)) else json.dumps(value, sort_keys=True))


# ---------------------------------------------------------------- running it


def run_pipeline(
    conn: Connection, source: FromClause, body: ColumnElement[Any], pipeline: Any, where: Optional[ColumnElement[bool]] = None
) -> list[dict[str, Any]]:
    """Run `pipeline` over the JSON documents in `body` of `source` (optionally pre-filtered by `where`).

    The results are JSON-ready: an accumulator that overflows (to infinity, or past what the database's
    numbers hold) is a ValidationFailed, never an answer that cannot be sent.
    """
    try:
        documents = _run(conn, source, body, pipeline, where)
    except (DataError, OperationalError) as exc:
        if not _is_overflow(exc):
            raise
        raise _invalid("a number overflowed while aggregating") from None
    try:
        json.dumps(documents, allow_nan=False)
    except ValueError:
        raise _invalid("a result is not a finite number (an accumulator overflowed)") from None
    return documents


def _is_overflow(exc: Exception) -> bool:
    """PostgreSQL's numeric_value_out_of_range (22003) and SQLite's "integer overflow"."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) == "22003" or "integer overflow" in str(exc)


def _run(conn: Connection, source: FromClause, body: ColumnElement[Any], pipeline: Any, where: Optional[ColumnElement[bool]]) -> list[dict[str, Any]]:
    plan = _plan(pipeline)
    dialect = conn.dialect.name
    conditions = [compile_filter(match, body, dialect) for match in plan.matches] + ([where] if where is not None else [])
    if plan.group is None:
        return _without_group(conn, source, body, conditions, plan.after, dialect)
    grouping = _Grouping(JsonDocument(body, dialect), plan.group)
    query = select(*grouping.columns).select_from(source).where(*conditions)
    if grouping.key_path is not None:
        query = query.group_by(literal_column("key"))
    rows = [row._mapping for row in conn.execute(query.limit(MAX_ROWS + 1))]
    if len(rows) > MAX_ROWS:
        raise _invalid(f"$group produced more than {MAX_ROWS} groups")
    documents = grouping.merged(rows)
    for name, argument in plan.after:
        documents = _after(documents, name, argument)
    return documents


def _without_group(conn: Connection, source: FromClause, body: ColumnElement[Any], conditions: list[Any], after: list[tuple[str, Any]],
                   dialect: str) -> list[dict[str, Any]]:  # fmt: skip
    query = select(body).select_from(source).where(*conditions)
    offset, limit, remaining = 0, MAX_ROWS, list(after)
    while remaining and remaining[0][0] in ("$sort", "$skip", "$limit"):  # these still fit in SQL
        name, argument = remaining.pop(0)
        if name == "$sort":
            query = query.order_by(*sort_expression(argument, body, dialect))
        elif _count_argument(name, argument) and name == "$skip":
            offset, limit = offset + argument, max(0, limit - argument)
        else:
            limit = min(limit, argument)
    if remaining and remaining[0][0] == "$count" and len(remaining) == 1:
        counted = select(func.count()).select_from(query.offset(offset).limit(limit).subquery())
        return _after([{}] * int(conn.execute(counted).scalar_one()), "$count", remaining[0][1])
    documents = [row[0] if isinstance(row[0], dict) else json.loads(row[0]) for row in conn.execute(query.offset(offset).limit(limit))]
    for name, argument in remaining:
        documents = _after(documents, name, argument)
    return documents
