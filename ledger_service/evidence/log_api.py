"""The organisation's append-only log: checkpoint, hash tiles, inclusion and consistency proofs, verifier keys.

Read with the organisation's key (scope records:read). Sizes past the tree are 400s; tiles the tree does not
reach are 404s, as a tlog-tiles client expects of tiles not yet written.
"""

from __future__ import annotations

import base64
from typing import Optional

from flask import Blueprint, Response
from sqlalchemy import Connection

from ledger_service.errors import ValidationFailed
from ledger_service.evidence import tree
from ledger_service.evidence.ledger import current_ledger
from ledger_service.web import PREFIX, int_arg, json_response, principal, reading
from xase import tlog

blueprint = Blueprint("log", __name__, url_prefix=f"{PREFIX}/log")

MAX_POSITION = (1 << 62) - 1
IMMUTABLE = "private, max-age=31536000, immutable"  # a full tile never changes; private: read with a key


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(value).decode() for value in hashes]


@blueprint.get("/checkpoint")
def get_checkpoint() -> Response:
    caller = principal("records:read")
    signed = current_ledger().checkpointer.current(caller.tenant_id)
    return Response(signed.note, mimetype="text/plain", headers={"Cache-Control": "no-cache"})


@blueprint.get("/keys")
def get_keys() -> Response:
    caller = principal("records:read")
    ledger = current_ledger()
    origin = ledger.checkpointer.origin(caller.tenant_id)  # no checkpoint is signed just to name the keys
    return json_response({"origin": origin, "vkeys": [verifier.vkey for verifier in ledger.checkpointer.keys.verifiers(origin)]})


@blueprint.get("/tile/<path:tile_path>")
def get_tile(tile_path: str) -> Response:
    caller = principal("records:read")
    try:
        level, index, width = tlog.parse_tile_path(tile_path)
    except ValueError as problem:
        raise ValidationFailed(str(problem), {"field": "tile"}) from None
    with reading() as conn:
        data = _reader(conn, caller.tenant_id).tile(level, index, width)
    caching = IMMUTABLE if width == tlog.TILE_WIDTH else "no-cache"
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


@blueprint.get("/proof/inclusion")
def get_inclusion_proof() -> Response:
    caller = principal("records:read")
    index, size = _position("index", 0), _position("size", 1)
    if index >= size:
        raise ValidationFailed(f"index: must be below size {size}, got {index}", {"field": "index"})
    with reading() as conn:
        reader = _reader(conn, caller.tenant_id, size)
        proof = tlog.inclusion_proof(reader, index, size)
        root = tlog.tree_hash(reader, size)
        leaf = reader.subtree(0, index)
    return json_response({"index": index, "size": size, "leaf_hash": _b64([leaf])[0], "root": _b64([root])[0], "proof": _b64(proof)})


@blueprint.get("/proof/consistency")
def get_consistency_proof() -> Response:
    caller = principal("records:read")
    old, size = _position("old", 0), _position("size", 0)
    if old > size:
        raise ValidationFailed(f"old: must be at most size {size}, got {old}", {"field": "old"})
    with reading() as conn:
        reader = _reader(conn, caller.tenant_id, size)
        proof = tlog.consistency_proof(reader, old, size)
        roots = [tlog.tree_hash(reader, old), tlog.tree_hash(reader, size)]
    old_root, root = _b64(roots)
    return json_response({"old": old, "size": size, "old_root": old_root, "root": root, "proof": _b64(proof)})
