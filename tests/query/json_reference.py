"""A plain-Python reading of the filter rules (the oracle for query.py) and a JSON table to run SQL on."""

from __future__ import annotations

import operator
from typing import Any, Callable

from sqlalchemy import JSON, Column, Engine, Integer, MetaData, Table, insert, select
from sqlalchemy.dialects.postgresql import JSONB

from ledger_service.query import compile_filter, sort_expression
from xase import evidence

# ---------------------------------------------------------------- the reference: MongoDB's rules in Python

MISSING = object()


def get_path(document: Any, path: str) -> Any:
    node = document
    for segment in path.split("."):
        if isinstance(node, dict) and segment in node:
            node = node[segment]
        elif isinstance(node, list) and segment.isdigit() and int(segment) < len(node):
            node = node[int(segment)]
        else:
            return MISSING
    return node


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "string" if isinstance(value, str) else "container"


def _equals(value: Any, target: Any) -> bool:
    if target is None:
        return value is MISSING or value is None
    return value is not MISSING and _kind(value) == _kind(target) and value == target


_ORDER: dict[str, Callable[[Any, Any], bool]] = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}


def _field_matches(value: Any, condition: Any) -> bool:
    if not (isinstance(condition, dict) and condition and all(k.startswith("$") for k in condition)):
        return _equals(value, condition)
    for op, argument in condition.items():
        if op == "$eq" and not _equals(value, argument):
            return False
        if op == "$ne" and _equals(value, argument):
            return False
        if op in _ORDER and not (value is not MISSING and _kind(value) == _kind(argument) and _ORDER[op](value, argument)):
            return False
        if op == "$in" and not any(_equals(value, a) for a in argument):
            return False
        if op == "$nin" and any(_equals(value, a) for a in argument):
            return False
        if op == "$exists" and (value is not MISSING) != argument:
            return False
        if op == "$not" and _field_matches(value, argument):
            return False
    return True


def matches(document: Any, expression: dict[str, Any]) -> bool:
    for key, condition in expression.items():
        if key == "$and" and not all(matches(document, part) for part in condition):
            return False
        if key == "$or" and not any(matches(document, part) for part in condition):
            return False
        if key == "$nor" and any(matches(document, part) for part in condition):
            return False
        if key == "$not" and matches(document, condition):
            return False
        if not key.startswith("$") and not _field_matches(get_path(document, key), condition):
            return False
    return True


# ---------------------------------------------------------------- a real table on each backend


class Documents:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        metadata = MetaData()
        self.table = Table("documents", metadata, Column("id", Integer, primary_key=True),
                           Column("body", JSON().with_variant(JSONB(), "postgresql")))  # fmt: skip
        metadata.create_all(engine)

    def replace(self, documents: list[dict[str, Any]]) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.table.delete())
            if documents:
                # stored in canonical form, as datasets store them
                conn.execute(insert(self.table), [{"id": n, "body": evidence.loads(evidence.canonicalize(d))} for n, d in enumerate(documents)])

    def ids(self, expression: Any, sort: Any = None) -> list[int]:
        body = self.table.c.body
        query = select(self.table.c.id).where(compile_filter(expression, body, self.dialect))
        query = query.order_by(*sort_expression(sort, body, self.dialect), self.table.c.id)
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())


PATIENTS = [
    {"patient_id": "p1", "age": 57, "diagnosis": "diabetes", "symptoms": ["fatigue", "thirst"], "lab_results": {"glucose": 210, "a1c": 8.1}},
    {"patient_id": "p2", "age": 72, "diagnosis": "hypertension", "lab_results": {"bp_systolic": 155}},
    {"patient_id": "p3", "age": 45, "diagnosis": "diabetes", "lab_results": {"glucose": 150}},
    {"patient_id": "p4", "age": "unknown", "diagnosis": "asthma", "active": True},
    {"patient_id": "p5", "age": None, "diagnosis": "hypertension", "lab_results": {"bp_systolic": 120}, "active": False},
]
