"""The organisation's append-only log: checkpoint, hash tiles, inclusion and consistency proofs, verifier keys.

Read with the organisation's key (scope records:read). Sizes past the tree are 400s; tiles the tree does not
reach are 404s, as a tlog-tiles client expects of tiles not yet written.
"""

from __future__ import annotations

import base64

from flask import Blueprint, Response

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
    origin = ledger.checkpointer.current(caller.tenant_id).origin
    return json_response({"origin": origin, "vkeys": [verifier.vkey for verifier in ledger.checkpointer.keys.verifiers(origin)]})


@blueprint.get("/tile/<path:tile_path>")
def get_tile(tile_path: str) -> Response:
    caller = principal("records:read")
    try:
        level, index, width = tlog.parse_tile_path(tile_path)
    except ValueError as problem:
        raise ValidationFailed(str(problem), {"field": "tile"}) from None
    with reading() as conn:
        reader = tree.TreeReader(conn, caller.tenant_id, tree.tree_size(conn, caller.tenant_id), current_ledger().tiles)
        data = reader.tile(level, index, width)
    caching = IMMUTABLE if width == tlog.TILE_WIDTH else "no-cache"
    return Response(data, mimetype="application/octet-stream", headers={"Cache-Control": caching})


def _sized(conn_size: int, name: str, value: int) -> int:
    if value > conn_size:
        raise ValidationFailed(f"{name}: the tree has {conn_size} leaves, got {value}", {"field": name, "tree_size": conn_size})
    return value


@blueprint.get("/proof/inclusion")
def get_inclusion_proof() -> Response:
    caller = principal("records:read")
    index, size = int_arg("index", -1, 0, MAX_POSITION), int_arg("size", -1, 1, MAX_POSITION)
    if index < 0 or size < 0:
        raise ValidationFailed("index and size are required", {"field": "index" if index < 0 else "size"})
    if index >= size:
        raise ValidationFailed(f"index: must be below size {size}, got {index}", {"field": "index"})
    with reading() as conn:
        reader = tree.TreeReader(conn, caller.tenant_id, tree.tree_size(conn, caller.tenant_id), current_ledger().tiles)
        _sized(reader.size, "size", size)
        proof = tlog.inclusion_proof(reader, index, size)
        root = tlog.tree_hash(reader, size)
        leaf = reader.subtree(0, index)
    return json_response({"index": index, "size": size, "leaf_hash": _b64([leaf])[0], "root": _b64([root])[0], "proof": _b64(proof)})


@blueprint.get("/proof/consistency")
def get_consistency_proof() -> Response:
    caller = principal("records:read")
    old, size = int_arg("old", -1, 0, MAX_POSITION), int_arg("size", -1, 0, MAX_POSITION)
    if old < 0 or size < 0:
        raise ValidationFailed("old and size are required", {"field": "old" if old < 0 else "size"})
    if old > size:
        raise ValidationFailed(f"old: must be at most size {size}, got {old}", {"field": "old"})
    with reading() as conn:
        reader = tree.TreeReader(conn, caller.tenant_id, tree.tree_size(conn, caller.tenant_id), current_ledger().tiles)
        _sized(reader.size, "size", size)
        proof = tlog.consistency_proof(reader, old, size)
        roots = [tlog.tree_hash(reader, old), tlog.tree_hash(reader, size)]
    old_root, root = _b64(roots)
    return json_response({"old": old, "size": size, "old_root": old_root, "root": root, "proof": _b64(proof)})
