"""The knowledge data plane (seed 000, `{api_url}/v1`): chunks, searches, encrypted Hamming distances, execution contexts.

Authenticated by `x-api-key`: an API key of the organisation named in the path (its tenant id or
name) with the `knowledge` scope, and per base the permission the operation needs (read, write,
delete). Every answer that retrieved or changed chunks names its evidence in EVIDENCE_HEADER.
"""

from __future__ import annotations

from typing import Any, Optional

from flask import Blueprint, Response, request

from ledger_service import auth
from ledger_service.db import write_transaction
from ledger_service.errors import NotFound, ValidationFailed
from ledger_service.evidence import current_ledger
from ledger_service.knowledge import bases, chunks, homomorphic, retrievals
from ledger_service.knowledge.bases import DELETE, READ, WRITE
from ledger_service.web import json_object, json_response, principal, reading, state

blueprint = Blueprint("knowledge", __name__, url_prefix="/xtrace/v1")

MAX_DISTANCES = 100_000  # chunks one compute_hamming may answer (held in memory while it streams: ~50 MB at key_len 1024)


def _caller(org_id: str) -> auth.Principal:
    """The key's principal, if `org_id` names its tenant; another organisation is not found (never 403)."""
    caller = principal("knowledge")
    with reading() as conn:
        tenant = auth.find_tenant(conn, org_id)
    if tenant is None or tenant["id"] != caller.tenant_id:
        raise NotFound(f"no organisation {org_id!r} for this API key")
    return caller


def _answer(payload: Any, evidence_id: str) -> Response:
    return json_response(payload, headers={retrievals.EVIDENCE_HEADER: evidence_id})


def _evidence(caller: auth.Principal, action: str, kb_id: str, context_id: Optional[str], request_: dict[str, Any], ids: list[int]) -> str:
    return retrievals.record(current_ledger(), caller, action, kb_id, context_id, request_, ids)


# ---------------------------------------------------------------- chunks


@blueprint.get("/chunk/<org_id>")
def get_chunks(org_id: str) -> Response:
    caller = _caller(org_id)
    ids = chunks.chunk_ids_argument(request.args.getlist("chunk_ids"))
    projection = request.args.getlist("projection") or None
    with reading() as conn:
        kb = bases.require(conn, caller, request.args.get("kb_id"), READ)
        found, views = chunks.get_chunks(conn, kb, ids, projection)
    evidence_id = _evidence(caller, "fetch", kb.id, None, {"chunk_ids": ids, "projection": projection}, found)
    return _answer(views, evidence_id)


def _write(caller: auth.Principal, body: dict[str, Any], items_field: str, action: str) -> Response:
    context_id = bases.check_id(body.get("context_id"), "context_id")
    with write_transaction(state().engine) as conn:
        kb = bases.require(conn, caller, body.get("kb_id"), WRITE)
        context = bases.public_context(conn, caller.tenant_id, context_id)
        if action == "insert":
            ids = chunks.insert_chunks(conn, kb, context_id, context, body.get(items_field))
        else:
            ids = chunks.update_chunks(conn, kb, context_id, context, body.get(items_field))
    evidence_id = _evidence(caller, action, kb.id, context_id, {"chunks": len(ids)}, ids)
    counted = {"insert": "inserted_count", "update": "updated_count"}[action]
    return _answer({"success": True, counted: len(ids), "chunk_ids": ids, "evidence_id": evidence_id}, evidence_id)


@blueprint.post("/chunk/<org_id>")
def insert_chunks(org_id: str) -> Response:
    caller = _caller(org_id)
    return _write(caller, json_object("kb_id", "chunks", "context_id"), "chunks", "insert")


@blueprint.put("/chunk/<org_id>")
def update_chunks(org_id: str) -> Response:
    caller = _caller(org_id)
    return _write(caller, json_object("kb_id", "chunk_updates", "context_id"), "chunk_updates", "update")


@blueprint.patch("/chunk/<org_id>")
def patch_chunks(org_id: str) -> Response:
    caller = _caller(org_id)
    body = json_object("kb_id", "context_id", "chunk_patches")
    with write_transaction(state().engine) as conn:
        kb = bases.require(conn, caller, body.get("kb_id"), WRITE)
        ids = chunks.patch_chunks(conn, kb, body.get("chunk_patches"))
    evidence_id = _evidence(caller, "patch", kb.id, body.get("context_id"), {"chunks": len(ids)}, ids)
    return _answer({"success": True, "patched_count": len(ids), "chunk_ids": ids, "evidence_id": evidence_id}, evidence_id)


@blueprint.delete("/chunk/<org_id>")
def delete_chunks(org_id: str) -> Response:
    caller = _caller(org_id)
    ids = chunks.chunk_ids_argument(request.args.getlist("chunk_ids"))
    with write_transaction(state().engine) as conn:
        kb = bases.require(conn, caller, request.args.get("kb_id"), DELETE)
        deleted = chunks.delete_chunks(conn, kb, ids)
    evidence_id = _evidence(caller, "delete", kb.id, None, {"chunk_ids": ids}, deleted)
    return _answer({"success": True, "deleted_count": len(deleted), "chunk_ids": deleted, "evidence_id": evidence_id}, evidence_id)


# ---------------------------------------------------------------- searches


def _search_request(body: dict[str, Any], *, required: bool) -> tuple[str, Any]:
    return bases.check_id(body.get("context_id"), "context_id"), chunks.meta_filter(body.get("meta_filter"), required=required)


@blueprint.post("/compute_hamming/<org_id>")
def compute_hamming(org_id: str) -> Response:
    caller = _caller(org_id)
    body = json_object("kb_id", "query", "context_id", "meta_filter", "range")
    context_id, filter_ = _search_request(body, required=False)
    id_range = chunks.range_filter(body.get("range"))
    with reading() as conn:
        kb = bases.require(conn, caller, body.get("kb_id"), READ)
        context = bases.public_context(conn, caller.tenant_id, context_id)
        query = homomorphic.decode_vector(body.get("query"), context, "query")
        rows = chunks.stored_vectors(conn, kb, context_id, filter_, id_range, MAX_DISTANCES)
    numbers = homomorphic.query_numbers(query)
    homomorphic.check_widths(numbers, rows, context)
    request_ = {"query_sha256": chunks.query_hash(query), "meta_filter": filter_, "range": body.get("range")}
    evidence_id = _evidence(caller, "compute_hamming", kb.id, context_id, request_, [chunk_id for chunk_id, _ in rows])
    headers = {retrievals.EVIDENCE_HEADER: evidence_id}
    if request.accept_mimetypes.best_match(["application/x-msgpack", "application/json"]) == "application/json":
        payload = [[[int.from_bytes(c, "little") for c in ciphertexts], chunk_id] for ciphertexts, chunk_id in homomorphic.distances(numbers, rows, context)]
        return json_response(payload, headers=headers)
    # Streamed: nothing in it can fail any more (widths checked, evidence committed), and the client reads while we compute.
    return Response(homomorphic.stream_msgpack(numbers, rows, context), mimetype="application/x-msgpack", headers=headers)


@blueprint.post("/chunk/meta/<org_id>")
def meta_search(org_id: str) -> Response:
    caller = _caller(org_id)
    body = json_object("kb_id", "meta_filter", "context_id", "projection", "return_content")
    context_id, filter_ = _search_request(body, required=False)
    with reading() as conn:
        kb = bases.require(conn, caller, body.get("kb_id"), READ)
        ids, found = chunks.search(conn, kb, context_id, filter_, body.get("projection"), body.get("return_content") is True)
    evidence_id = _evidence(caller, "meta_search", kb.id, context_id, {"meta_filter": filter_, "projection": body.get("projection")}, ids)
    return _answer(found, evidence_id)


@blueprint.post("/chunk/meta/page/<org_id>")
def meta_search_page(org_id: str) -> Response:
    caller = _caller(org_id)
    body = json_object("kb_id", "context_id", "offset", "sort_order", "sort_by", "meta_filter", "projection", "limit", "return_content")
    context_id = bases.check_id(body.get("context_id"), "context_id")
    with reading() as conn:
        kb = bases.require(conn, caller, body.get("kb_id"), READ)
        ids, page = chunks.search_page(conn, kb, context_id, body)
    asked = {name: body.get(name) for name in ("meta_filter", "offset", "limit", "sort_by", "sort_order", "projection")}
    evidence_id = _evidence(caller, "meta_search_page", kb.id, context_id, asked, ids)
    return _answer(page, evidence_id)


def _by_meta(org_id: str, action: str, need: int) -> Response:
    caller = _caller(org_id)
    body = json_object("kb_id", "context_id", "meta_filter", "dry_run", *(("patch",) if action == "patch" else ()))
    context_id, filter_ = _search_request(body, required=True)
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise ValidationFailed("dry_run: expected true or false", {"field": "dry_run"})
    with write_transaction(state().engine) as conn:
        kb = bases.require(conn, caller, body.get("kb_id"), need)
        ids = chunks.matching_ids(conn, kb, context_id, filter_)
        if dry_run:
            verb = "would_delete_count" if action == "delete" else "would_update_count"
            return json_response({"dry_run": True, "matched_count": len(ids), verb: len(ids)})
        if action == "delete":
            chunks.delete_matching(conn, kb, ids)
        else:
            chunks.patch_matching(conn, kb, ids, body.get("patch"))
    evidence_id = _evidence(caller, f"{action}_by_meta", kb.id, context_id, {"meta_filter": filter_, "patch": body.get("patch")}, ids)
    counted = "deleted_count" if action == "delete" else "updated_count"
    return _answer({"dry_run": False, "matched_count": len(ids), counted: len(ids), "evidence_id": evidence_id}, evidence_id)


@blueprint.delete("/chunk/by-meta/<org_id>")
def delete_by_meta(org_id: str) -> Response:
    return _by_meta(org_id, "delete", DELETE)


@blueprint.patch("/chunk/by-meta/<org_id>")
def patch_by_meta(org_id: str) -> Response:
    return _by_meta(org_id, "patch", WRITE)


# ---------------------------------------------------------------- execution contexts


@blueprint.post("/exec_context/<org_id>")
def store_context(org_id: str) -> Response:
    caller = _caller(org_id)
    body = json_object("data", "context_id")
    with write_transaction(state().engine) as conn:
        return json_response(bases.store_context(conn, caller.tenant_id, body.get("context_id"), body.get("data")))


@blueprint.get("/exec_context/<org_id>")
def list_contexts(org_id: str) -> Response:
    caller = _caller(org_id)
    with reading() as conn:
        return json_response({"contexts": bases.list_contexts(conn, caller.tenant_id)})


@blueprint.get("/exec_context/<org_id>/<context_id>")
def get_context(org_id: str, context_id: str) -> Response:
    caller = _caller(org_id)
    with reading() as conn:
        return json_response(bases.get_context(conn, caller.tenant_id, context_id))


@blueprint.delete("/exec_context/<org_id>/<context_id>")
def delete_context(org_id: str, context_id: str) -> Response:
    caller = _caller(org_id)
    with write_transaction(state().engine) as conn:
        return json_response(bases.delete_context(conn, caller.tenant_id, context_id))


@blueprint.get("/exec_context/<org_id>/<kb_id>/context")
def contexts_of(org_id: str, kb_id: str) -> Response:
    caller = _caller(org_id)
    with reading() as conn:
        bases.require(conn, caller, kb_id, READ)
        return json_response({"kb_id": kb_id, "context_ids": bases.contexts_of(conn, caller.tenant_id, kb_id)})


@blueprint.get("/exec_context/<org_id>/<context_id>/kb")
def kbs_of(org_id: str, context_id: str) -> Response:
    caller = _caller(org_id)
    with reading() as conn:
        return json_response({"context_id": context_id, "kb_ids": bases.kbs_of(conn, caller.tenant_id, context_id)})


@blueprint.post("/exec_context/<org_id>/<kb_id>/bind/<context_id>")
def bind(org_id: str, kb_id: str, context_id: str) -> Response:
    caller = _caller(org_id)
    with write_transaction(state().engine) as conn:
        kb = bases.require(conn, caller, kb_id, WRITE)
        return json_response(bases.bind(conn, caller.tenant_id, kb.id, context_id))
