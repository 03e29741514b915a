"""The organisation's append-only log: checkpoint, hash tiles, inclusion and consistency proofs, verifier keys.

`/log/...` reads the caller's own log (scope records:read). `/logs/<organisation id>/...` serves the same to anyone
when the organisation opened its log (`PUT /log/visibility`), and else only to its own keys: a private or unknown
log is a 404 alike. Sizes past the tree are 400s; tiles the tree does not reach are 404s, as a tlog-tiles client
expects of tiles not yet written.
"""

from __future__ import annotations

import base64
from typing import Optional

from flask import Blueprint, Response
from sqlalchemy import Connection

from ledger_service.db import write_transaction
from ledger_service.errors import NotFound, ValidationFailed
from ledger_service.evidence import tree, visibility
from ledger_service.evidence.ledger import current_ledger
from ledger_service.web import PREFIX, int_arg, json_object, json_response, presented_api_key, principal, reading, state
from xase import tlog

blueprint = Blueprint("log", __name__, url_prefix=PREFIX)

MAX_POSITION = (1 << 62) - 1
IMMUTABLE = "max-age=31536000, immutable"  # a full tile never changes


def _log_of(tenant_id: Optional[str]) -> tuple[str, bool]:
    """Whose log a request reads, and whether it is public: the caller's own (`/log`), or the one named
    (`/logs/<id>`) when it is public or the caller's own."""
    if tenant_id is None:
        return principal("records:read").tenant_id, False
    with reading() as conn:
        if visibility.is_public(conn, tenant_id):
            return tenant_id, True
    if presented_api_key() and principal("records:read").tenant_id == tenant_id:
        return tenant_id, False
    raise NotFound("no log of this organisation is open to you")


@blueprint.get("/log/visibility")
def get_visibility() -> Response:
    caller = principal("records:read")
    with reading() as conn:
        return json_response({"public": visibility.is_public(conn, caller.tenant_id)})


@blueprint.put("/log/visibility")
def put_visibility() -> Response:
    """Open the caller's log to everyone, read-only (`{"public": true}`), or close it; recorded in its chain."""
    caller = principal("admin")
    public = json_object("public").get("public")
    if not isinstance(public, bool):
        raise ValidationFailed("public: expected true or false", {"field": "public"})
    with write_transaction(state().engine) as conn:
        return json_response(visibility.set_public(conn, current_ledger(), caller, public))


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(value).decode() for value in hashes]


@blueprint.get("/log/checkpoint")
@blueprint.get("/logs/<tenant_id>/checkpoint")
def get_checkpoint(tenant_id: Optional[str] = None) -> Response:
    tenant, _public = _log_of(tenant_id)
    signed = current_ledger().checkpointer.current(tenant)
    return Response(signed.note, mimetype="text/plain", headers={"Cache-Control": "no-cache"})


@blueprint.get("/log/keys")
@blueprint.get("/logs/<tenant_id>/keys")
def get_keys(tenant_id: Optional[str] = None) -> Response:
    tenant, _public = _log_of(tenant_id)
    ledger = current_ledger()
    origin = ledger.checkpointer.origin(tenant)  # no checkpoint is signed just to name the keys
    return json_response({"origin": origin, "vkeys": [verifier.vkey for verifier in ledger.checkpointer.keys.verifiers(origin)]})


@blueprint.get("/log/tile/<path:tile_path>")
@blueprint.get("/logs/<tenant_id>/tile/<path:tile_path>")
def get_tile(tile_path: str, tenant_id: Optional[str] = None) -> Response:
    tenant, public = _log_of(tenant_id)
    try:
        level, index, width = tlog.parse_tile_path(tile_path)
    except ValueError as problem:
        raise ValidationFailed(str(problem), {"field": "tile"}) from None
    with reading() as conn:
        data = _reader(conn, tenant).tile(level, index, width)
    caching = ("public, " if public else "private, ") + IMMUTABLE if width == tlog.TILE_WIDTH else "no-cache"
    return Response(data, mimetype="application/octet-stream", headers={"Cache-Control": caching})


def _reader(conn: Connection, tenant_id: str, size: Optional[int] = None) -> tree.TreeReader:
    """The organisation's tree as it stands; a 400 when `size` is beyond it."""
    reader = tree.TreeReader(conn, tenant_id, tree.tree_size(conn, tenant_id), current_ledger().tiles)
    if size is not None and size > reader.size:
        raise ValidationFailed(f"size: the tree has {reader.size} leaves, got {size}", {"field": "size", "tree_size": reader.size})
    return reader


def _position(name: str, low: int) -> int:
    """A required query argument: an ASCII decimal within [low, MAX_POSITION]."""
    value = int_arg(name, -1, low, MAX_POSITION)
    if value < 0:
        raise ValidationFailed(f"{name}: required", {"field": name})
    return value


@blueprint.get("/log/proof/inclusion")
@blueprint.get("/logs/<tenant_id>/proof/inclusion")
def get_inclusion_proof(tenant_id: Optional[str] = None) -> Response:
    tenant, _public = _log_of(tenant_id)
    index, size = _position("index", 0), _position("size", 1)
    if index >= size:
        raise ValidationFailed(f"index: must be below size {size}, got {index}", {"field": "index"})
    with reading() as conn:
        reader = _reader(conn, tenant, size)
        proof = tlog.inclusion_proof(reader, index, size)
        root = tlog.tree_hash(reader, size)
        leaf = reader.subtree(0, index)
    return json_response({"index": index, "size": size, "leaf_hash": _b64([leaf])[0], "root": _b64([root])[0], "proof": _b64(proof)})


@blueprint.get("/log/proof/consistency")
@blueprint.get("/logs/<tenant_id>/proof/consistency")
def get_consistency_proof(tenant_id: Optional[str] = None) -> Response:
    tenant, _public = _log_of(tenant_id)
    old, size = _position("old", 0), _position("size", 0)
    if old > size:
        raise ValidationFailed(f"old: must be at most size {size}, got {old}", {"field": "old"})
    with reading() as conn:
        reader = _reader(conn, tenant, size)
        proof = tlog.consistency_proof(reader, old, size)
        roots = [tlog.tree_hash(reader, old), tlog.tree_hash(reader, size)]
    old_root, root = _b64(roots)
    return json_response({"old": old, "size": size, "old_root": old_root, "root": root, "proof": _b64(proof)})
