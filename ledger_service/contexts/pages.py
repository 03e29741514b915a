"""A page of a context's turns as the seed's JSON answer: typed, raw or both, rendered with the registry.

Rendering is CPU: decompressing, unpacking and projecting payloads, base64 for the raw view. A page whose payloads
add up to more than INLINE_BYTES is therefore rendered by a low-priority worker process (`ledger_service.workers`),
which reads it again through its own connection: a tenant that pages through large turns never holds the
interpreter that serves the other tenants' requests.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Optional

from sqlalchemy import Connection, Row

from ledger_service import workers
from ledger_service.contexts import codec, store
from ledger_service.contexts.registry import Descriptor, Registry
from ledger_service.errors import FailedDependency, PreconditionFailed, ValidationFailed
from ledger_service.web import json_bytes

__all__ = ["INLINE_BYTES", "PageRequest", "answer", "answer_in_worker", "plan"]

INLINE_BYTES = 256 * 1024  # payload bytes a page may hold and still be rendered on the request thread


@dataclass(frozen=True)
class PageRequest:
    """GET /v1/contexts/{id}/turns, its parameters checked."""

    tenant_id: str
    context_id: int
    limit: int
    before_turn_id: Optional[int]
    from_turn_id: Optional[int]
    view: str  # typed | raw | both
    mode: str  # inherit | latest | explicit
    as_type_id: Optional[str]
    as_type_version: Optional[int]
    options: codec.RenderOptions


@dataclass(frozen=True)
class Plan:
    """What a page will hold: the context, the registry bundle, and the turns without their payloads."""

    context: Row[Any]
    bundle_id: Optional[str]
    rows: list[Row[Any]]

    @property
    def payload_bytes(self) -> int:
        return sum(row.uncompressed_len or 0 for row in self.rows)


def _explicit_type(types: Registry, page: PageRequest, has_registry: bool) -> Optional[Descriptor]:
    if page.mode != "explicit":
        if page.as_type_id is not None or page.as_type_version is not None:
            raise ValidationFailed("as_type_id and as_type_version require type_hint_mode=explicit", {"field": "type_hint_mode"})
        if page.mode == "latest" and not has_registry:
            raise PreconditionFailed("type_hint_mode=latest needs a type registry: publish a bundle first")
        return None
    if page.as_type_id is None or page.as_type_version is None:
        raise ValidationFailed("type_hint_mode=explicit requires as_type_id and as_type_version", {"field": "as_type_id"})
    if not has_registry:
        raise PreconditionFailed("type_hint_mode=explicit needs a type registry: publish a bundle first")
    descriptor = types.descriptor(page.as_type_id, page.as_type_version)
    if descriptor is None:
        details = {"type_id": page.as_type_id, "type_version": page.as_type_version}
        raise FailedDependency(f"no descriptor for {page.as_type_id} version {page.as_type_version}", details)
    return descriptor


def _turn_view(row: Any, payload: Optional[bytes], page: PageRequest, explicit: Optional[Descriptor], types: Registry) -> dict[str, Any]:
    turn: dict[str, Any] = {"turn_id": str(row.turn_id), "parent_turn_id": str(row.parent_turn_id), "depth": row.depth,
                            "declared_type": {"type_id": row.type_id, "type_version": row.type_version}, "turn_hash": row.turn_hash}  # fmt: skip
    if page.view in ("typed", "both"):
        descriptor = explicit if page.mode == "explicit" else types.descriptor(row.type_id, row.type_version if page.mode == "inherit" else None)
        turn["decoded_as"] = {"type_id": descriptor.type_id, "type_version": descriptor.type_version} if descriptor else None
        turn["data"] = codec.project(payload, descriptor, types, page.options) if payload is not None else None
    if page.view in ("raw", "both"):
        encoded = base64.b64encode(payload).decode("ascii") if payload is not None else None
        turn.update({"content_hash_b3": row.content_hash, "encoding": row.encoding, "compression": row.compression,
                     "uncompressed_len": row.uncompressed_len, "bytes_b64": encoded})  # fmt: skip
    return turn


def plan(conn: Connection, page: PageRequest) -> Plan:
    """The page's turns, without payloads (cheap): how much rendering it takes is known before any is done."""
    context, bundle_id = store.context_and_bundle(conn, page.tenant_id, page.context_id)
    rows = store.page_rows(conn, page.tenant_id, context, page.limit, page.before_turn_id, page.from_turn_id)
    return Plan(context, bundle_id, rows)


def answer(conn: Connection, page: PageRequest, planned: Optional[Plan] = None) -> bytes:
    """The page's JSON answer."""
    planned = planned or plan(conn, page)
    context, bundle_id = planned.context, planned.bundle_id
    types = Registry(conn, page.tenant_id, empty=bundle_id is None)
    explicit = _explicit_type(types, page, has_registry=bundle_id is not None)
    turns = [_turn_view(row, payload, page, explicit, types) for row, payload in store.with_payloads(conn, page.tenant_id, planned.rows)]
    meta = {"context_id": str(context.context_id), "head_turn_id": str(context.head_turn_id), "head_depth": context.head_depth,
            "head_turn_hash": context.head_turn_hash, "registry_bundle_id": bundle_id}  # fmt: skip
    next_before = str(planned.rows[0].turn_id) if planned.rows else None  # as the seed: the page's oldest turn (older ones are below it)
    # floatless: stored payloads came from strict JSON (no NaN, no infinity), so orjson writes what json would
    return json_bytes({"meta": meta, "turns": turns, "next_before_turn_id": next_before}, floatless=True)


def answer_in_worker(database: workers.Database, page: PageRequest) -> bytes:
    """`answer`, in a worker process, through its own connection."""
    with workers.engine_for(database).connect() as conn:
        return answer(conn, page)
