"""The type registry (seed 003): bundles of type descriptors and enums, their evolution rules, and lookups.

A descriptor maps numeric field tags to named, typed fields. Tags are forever: once a type uses tag 3 for
`timestamp: u64`, no version of that type may use tag 3 for anything else, nor `timestamp` under another
tag, and a published version never changes. That is what lets turns stored under version 1 be projected
with version 2 (`type_hint_mode=latest`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Optional

from sqlalchemy import Connection, func, insert, select, update

from ledger_service.auth import now
from ledger_service.contexts.counters import lock_counters
from ledger_service.contexts.tables import ContextCounters, RegistryBundle, RegistryEnum, RegistryType
from ledger_service.errors import Conflict, NotFound, Unprocessable
from xase import evidence
from xase.wire import is_decimal, is_label

__all__ = ["FIELD_TYPES", "Field", "Descriptor", "Registry", "publish", "get_bundle", "latest_types", "check_bundle_id", "INTEGER_RANGES"]

INTEGER_RANGES = {
    "u8": (0, 2**8 - 1), "u16": (0, 2**16 - 1), "u32": (0, 2**32 - 1), "u64": (0, 2**64 - 1),
    "i8": (-(2**7), 2**7 - 1), "i16": (-(2**15), 2**15 - 1), "i32": (-(2**31), 2**31 - 1), "i64": (-(2**63), 2**63 - 1),
}  # fmt: skip
FIELD_TYPES = frozenset({*INTEGER_RANGES, "string", "bool", "f32", "f64", "bytes", "array", "map", "nested", "typed_blob", "any"})
SEMANTICS = frozenset({"unix_ms"})
_FIELD_KEYS = frozenset({"name", "type", "optional", "semantic", "enum", "items", "nested", "doc"})
MAX_BUNDLE_ID = 200
MAX_NAME = 256
MAX_TYPES = 1_000  # types per bundle
MAX_VERSIONS = 1_000  # versions per type per bundle
MAX_FIELDS = 1_000  # fields per version
MAX_ENUMS = 1_000
MAX_ENUM_VALUES = 10_000
MAX_TAG = 2**32 - 1


@dataclass(frozen=True)
class Field:
    tag: int
    name: str
    type: str
    optional: bool = False
    enum: Optional[str] = None
    items: Optional[str] = None
    nested: Optional[str] = None
    semantic: Optional[str] = None


@dataclass(frozen=True)
class Descriptor:
    type_id: str
    type_version: int
    fields: dict[int, Field]
    raw: dict[str, Any]  # the version's JSON, {"fields": {...}}
    by_name: dict[str, Field] = field(default_factory=dict)

    @classmethod
    def of(cls, type_id: str, type_version: int, raw: dict[str, Any]) -> Descriptor:
        fields = {int(tag): _field(int(tag), spec) for tag, spec in raw["fields"].items()}
        return cls(type_id, type_version, fields, raw, {f.name: f for f in fields.values()})

    def as_json(self) -> dict[str, Any]:
        return {"type_id": self.type_id, "type_version": self.type_version, **self.raw}


def _field(tag: int, spec: dict[str, Any]) -> Field:
    return Field(tag, spec["name"], spec["type"], bool(spec.get("optional", False)), spec.get("enum"), spec.get("items"),
                 spec.get("nested"), spec.get("semantic"))  # fmt: skip


# ---------------------------------------------------------------- checking a bundle (422)


def _name(value: Any, what: str) -> str:
    if not is_label(value, MAX_NAME):
        raise Unprocessable(f"{what}: expected a printable string of 1 to {MAX_NAME} characters, got {value!r}"[:300])
    return value


def _number_key(key: str, what: str, low: int = 1) -> int:
    if not is_decimal(key) or len(key) > 10 or int(key) < low or int(key) > MAX_TAG or str(int(key)) != key:
        raise Unprocessable(f"{what}: keys must be decimal integers in [{low}, {MAX_TAG}], got {key!r}"[:300])
    return int(key)


def _object(value: Any, what: str, cap: int) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Unprocessable(f"{what}: expected an object")
    if len(value) > cap:
        raise Unprocessable(f"{what}: more than {cap} entries", {"cap": what, "limit": cap})
    return value


def _check_field(spec: Any, what: str, enums: set[str]) -> None:
    spec = _object(spec, what, len(_FIELD_KEYS))
    unknown = sorted(set(spec) - _FIELD_KEYS)
    if unknown:
        raise Unprocessable(f"{what}: unknown members {unknown}")
    _name(spec.get("name"), f"{what}.name")
    kind = spec.get("type")
    if kind not in FIELD_TYPES:
        raise Unprocessable(f"{what}.type: expected one of {sorted(FIELD_TYPES)}, got {kind!r}"[:300])
    if not isinstance(spec.get("optional", False), bool):
        raise Unprocessable(f"{what}.optional: expected a boolean")
    if "semantic" in spec and spec["semantic"] not in SEMANTICS:
        raise Unprocessable(f"{what}.semantic: expected one of {sorted(SEMANTICS)}, got {spec['semantic']!r}"[:300])
    if "enum" in spec and (kind not in INTEGER_RANGES or _name(spec["enum"], f"{what}.enum") not in enums):
        raise Unprocessable(f"{what}.enum: an integer field naming an enum of this bundle or an earlier one, got {spec['enum']!r}"[:300])
    if "items" in spec and (kind != "array" or spec["items"] not in FIELD_TYPES - {"array", "nested"}):
        raise Unprocessable(f"{what}.items: only on arrays, one of the scalar types, got {spec['items']!r}"[:300])
    if kind == "nested":
        _name(spec.get("nested"), f"{what}.nested")
    elif "nested" in spec:
        raise Unprocessable(f"{what}.nested: only on fields of type nested")


def _check_version(spec: Any, what: str, enums: set[str]) -> dict[str, Any]:
    spec = _object(spec, what, 2)
    if set(spec) - {"fields", "doc"} or "fields" not in spec:
        raise Unprocessable(f'{what}: expected {{"fields": {{...}}}}')
    fields = _object(spec["fields"], f"{what}.fields", MAX_FIELDS)
    names: set[str] = set()
    for tag, field_spec in fields.items():
        _number_key(tag, f"{what}.fields")
        _check_field(field_spec, f"{what}.fields.{tag}", enums)
        if field_spec["name"] in names:
            raise Unprocessable(f"{what}.fields: the name {field_spec['name']!r} is used twice"[:300])
        names.add(field_spec["name"])
    return {"fields": fields}


def _check_enum(values: Any, what: str) -> dict[str, str]:
    values = _object(values, what, MAX_ENUM_VALUES)
    for key, label in values.items():
        _number_key(key, what, low=0)
        _name(label, f"{what}.{key}")
    return dict(values)


def check_bundle_id(bundle_id: str) -> str:
    if not is_label(bundle_id, MAX_BUNDLE_ID):
        raise Unprocessable(f"bundle_id: expected a printable string of 1 to {MAX_BUNDLE_ID} characters")
    return bundle_id


def _parse(body: Any, bundle_id: str, stored_enums: set[str]) -> tuple[dict[str, dict[int, dict[str, Any]]], dict[str, dict[str, str]]]:
    if not isinstance(body, dict):
        raise Unprocessable("a bundle is a JSON object")
    unknown = sorted(set(body) - {"registry_version", "bundle_id", "types", "enums"})
    if unknown:
        raise Unprocessable(f"unknown bundle members {unknown}"[:300])
    if body.get("registry_version") != 1 or isinstance(body.get("registry_version"), bool):
        raise Unprocessable(f"registry_version: expected 1, got {body.get('registry_version')!r}"[:300])
    if body.get("bundle_id", bundle_id) != bundle_id:
        raise Unprocessable("bundle_id: the body's bundle_id differs from the path's", {"bundle_id": bundle_id})
    enums = {_name(enum_id, "enums"): _check_enum(values, f"enums.{enum_id}") for enum_id, values in _object(body.get("enums", {}), "enums", MAX_ENUMS).items()}
    known_enums = stored_enums | set(enums)
    types: dict[str, dict[int, dict[str, Any]]] = {}
    for type_id, spec in _object(body.get("types", {}), "types", MAX_TYPES).items():
        _name(type_id, "types")
        spec = _object(spec, f"types.{type_id}", 1)
        versions = _object(spec.get("versions"), f"types.{type_id}.versions", MAX_VERSIONS)
        if not versions:
            raise Unprocessable(f"types.{type_id}.versions: expected at least one version")
        types[type_id] = {
            _number_key(version, f"types.{type_id}.versions"): _check_version(version_spec, f"types.{type_id}.versions.{version}", known_enums)
            for version, version_spec in versions.items()
        }
    return types, enums


# ---------------------------------------------------------------- evolution (409) and storage


def _canonical(value: Any) -> str:
    return evidence.canonicalize(value).decode("utf-8")


def _check_evolution(type_id: str, stored: dict[int, dict[str, Any]], new: dict[int, dict[str, Any]]) -> None:
    latest = max(stored, default=0)
    for version, spec in sorted(new.items()):
        if version in stored:
            if _canonical(stored[version]) != _canonical(spec):
                raise Conflict(f"{type_id} version {version} is already published with a different descriptor", {"type_id": type_id, "type_version": version})
        elif version < latest:
            raise Conflict(f"version regression: {type_id} version {version} is older than the published {latest}",
                           {"type_id": type_id, "type_version": version})  # fmt: skip
    tags: dict[int, tuple[str, str]] = {}
    names: dict[str, int] = {}
    for version, spec in sorted({**stored, **new}.items()):
        for tag_text, field_spec in spec["fields"].items():
            tag, shape = int(tag_text), (field_spec["name"], field_spec["type"])
            if tags.setdefault(tag, shape) != shape or names.setdefault(shape[0], tag) != tag:
                raise Conflict(f"tag reuse: {type_id} version {version} gives tag {tag} or field {shape[0]!r} a new meaning",
                               {"type_id": type_id, "type_version": version, "tag": tag})  # fmt: skip


def _merge_enum(enum_id: str, stored: Optional[dict[str, str]], new: dict[str, str]) -> dict[str, str]:
    for value, label in (stored or {}).items():
        if new.get(value, label) != label:
            raise Conflict(f"enum {enum_id}: value {value} is already {label!r}", {"enum": enum_id, "value": value})
    return {**(stored or {}), **new}


def publish(conn: Connection, tenant_id: str, bundle_id: str, body: Any) -> tuple[bool, str]:
    """Store a bundle; (True if new, False if this exact bundle was already stored (204); its ETag). Raises Unprocessable
    (malformed, 422) or Conflict (invalid evolution or another bundle under this id, 409)."""
    check_bundle_id(bundle_id)
    lock_counters(conn, tenant_id)
    stored_enums = {row.enum_id: json.loads(row.labels) for row in conn.execute(select(RegistryEnum).where(RegistryEnum.tenant_id == tenant_id))}
    types, enums = _parse(body, bundle_id, set(stored_enums))
    canonical = _canonical({**body, "bundle_id": bundle_id})
    etag = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
    existing = conn.execute(select(RegistryBundle.body).where(RegistryBundle.tenant_id == tenant_id, RegistryBundle.bundle_id == bundle_id)).scalar()
    if existing is not None:
        if existing == canonical:
            return False, etag
        raise Conflict(f"bundle {bundle_id} already exists with a different content", {"bundle_id": bundle_id})
    for type_id, versions in types.items():
        stored = {row.type_version: json.loads(row.descriptor) for row in
                  conn.execute(select(RegistryType).where(RegistryType.tenant_id == tenant_id, RegistryType.type_id == type_id))}  # fmt: skip
        _check_evolution(type_id, stored, versions)
        rows = [{"tenant_id": tenant_id, "type_id": type_id, "type_version": version, "bundle_id": bundle_id, "descriptor": _canonical(spec)}
                for version, spec in versions.items() if version not in stored]  # fmt: skip
        if rows:
            conn.execute(insert(RegistryType), rows)
    for enum_id, labels in enums.items():
        merged = _merge_enum(enum_id, stored_enums.get(enum_id), labels)
        if enum_id in stored_enums:
            conn.execute(update(RegistryEnum).where(RegistryEnum.tenant_id == tenant_id, RegistryEnum.enum_id == enum_id)
                         .values(labels=_canonical(merged), bundle_id=bundle_id))  # fmt: skip
        else:
            conn.execute(insert(RegistryEnum), [{"tenant_id": tenant_id, "enum_id": enum_id, "bundle_id": bundle_id, "labels": _canonical(merged)}])
    conn.execute(insert(RegistryBundle), [{"tenant_id": tenant_id, "bundle_id": bundle_id, "body": canonical, "etag": etag,
                                                      "created_at": now()}])  # fmt: skip
    conn.execute(update(ContextCounters).where(ContextCounters.tenant_id == tenant_id).values(registry_bundle_id=bundle_id))
    return True, etag


def get_bundle(conn: Connection, tenant_id: str, bundle_id: str) -> tuple[str, str]:
    """The stored bundle's canonical JSON and its ETag; NotFound."""
    query = select(RegistryBundle.body, RegistryBundle.etag).where(RegistryBundle.tenant_id == tenant_id, RegistryBundle.bundle_id == bundle_id)
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"Bundle {bundle_id} not found", {"bundle_id": bundle_id})
    return row.body, row.etag


def latest_types(conn: Connection, tenant_id: str) -> list[dict[str, Any]]:
    latest = (select(RegistryType.type_id, func.max(RegistryType.type_version).label("version"))
              .where(RegistryType.tenant_id == tenant_id).group_by(RegistryType.type_id).subquery())  # fmt: skip
    rows = conn.execute(
        select(RegistryType.type_id, RegistryType.type_version, RegistryType.bundle_id)
        .join(latest, (RegistryType.type_id == latest.c.type_id) & (RegistryType.type_version == latest.c.version))
        .where(RegistryType.tenant_id == tenant_id).order_by(RegistryType.type_id)
    )  # fmt: skip
    return [{"type_id": row.type_id, "latest_version": row.type_version, "bundle_id": row.bundle_id} for row in rows]


class Registry:
    """One tenant's registry as one request sees it: descriptors and enums looked up once each."""

    def __init__(self, conn: Connection, tenant_id: str, *, empty: bool = False) -> None:
        """`empty`: the caller knows the tenant published no bundle, so no lookup is needed."""
        self._conn = conn
        self._tenant_id = tenant_id
        self._empty = empty
        self._descriptors: dict[tuple[str, Optional[int]], Optional[Descriptor]] = {}
        self._enums: dict[str, dict[int, str]] = {}
        self._numbers: dict[str, dict[str, int]] = {}  # per enum, label -> number: a lookup, not a scan per value

    def descriptor(self, type_id: str, type_version: Optional[int]) -> Optional[Descriptor]:
        """The descriptor of `type_version`, or of the latest version when it is None."""
        key = (type_id, type_version)
        if self._empty:
            return None
        if key not in self._descriptors:
            query = select(RegistryType.type_version, RegistryType.descriptor).where(RegistryType.tenant_id == self._tenant_id, RegistryType.type_id == type_id)
            query = query.where(RegistryType.type_version == type_version) if type_version is not None else query.order_by(RegistryType.type_version.desc())
            row = self._conn.execute(query.limit(1)).first()
            self._descriptors[key] = Descriptor.of(type_id, row.type_version, json.loads(row.descriptor)) if row else None
        return self._descriptors[key]

    def enum(self, enum_id: str) -> dict[int, str]:
        if enum_id not in self._enums:
            labels = self._conn.execute(select(RegistryEnum.labels).where(RegistryEnum.tenant_id == self._tenant_id, RegistryEnum.enum_id == enum_id)).scalar()
            self._enums[enum_id] = {int(value): label for value, label in json.loads(labels or "{}").items()}
        return self._enums[enum_id]

    def enum_number(self, enum_id: str, label: str) -> Optional[int]:
        """The number of `label` in `enum_id`, or None."""
        if enum_id not in self._numbers:
            self._numbers[enum_id] = {label: number for number, label in self.enum(enum_id).items()}
        return self._numbers[enum_id].get(label)
