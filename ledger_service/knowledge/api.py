"""The knowledge data plane (seed 000, `{api_url}/v1`): chunks, searches, encrypted Hamming distances, execution contexts.

Authenticated by `x-api-key`: an API key of the organisation named in the path (its tenant id or
name) with the `knowledge` scope, and per base the permission the operation needs (read, write,
delete). Every answer that retrieved or changed chunks names its evidence in EVIDENCE_HEADER.
A change appends its evidence in its own transaction: both commit, or neither does. A retrieval
builds its whole answer first, so nothing can fail once its evidence is committed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any, Callable, Optional

from flask import Blueprint, Response, request
from sqlalchemy import Connection

from ledger_service import auth, workers
from ledger_service.db import read_connection, write_transaction
from ledger_service.errors import NotFound, ValidationFailed, check_quota, over_cap
from ledger_service.evidence import check_idempotency_key, current_ledger
from ledger_service.knowledge import bases, chunks, distances, homomorphic, retrievals
from ledger_service.knowledge.bases import DELETE, READ, WRITE
from ledger_service.web import json_object, json_response, principal, reading, state

blueprint = Blueprint("knowledge", __name__, url_prefix="/xtrace/v1")

MAX_DISTANCES = 100_000  # chunks one compute_hamming may answer
# The CPU one compute_hamming may take, as stored vector bytes x ciphertext width (a product costs ~width^2 per
# ciphertext): 100,000 chunks of one 512-byte ciphertext (key_len 1024, ~1 s of a core), or 98 chunks of 64
# ciphertexts at key_len 4096. The vectors are read as the answer is sent, never held whole.
MAX_DISTANCE_WORK = 100_000 * 514 * 512


def _caller(org_id: str) -> auth.Principal:
    """The key's principal, if `org_id` names its tenant; another organisation is not found (never 403)."""
    caller = principal("knowledge")
    with reading() as conn:
        tenant = auth.find_tenant(conn, org_id)
    if tenant is None or tenant["id"] != caller.tenant_id:
        raise NotFound(f"no organisation {org_id!r} for this API key")
    return caller


def evidenced(payload: Any, evidence_id: str, status: int = 200) -> Response:
    """A JSON answer naming its evidence in EVIDENCE_HEADER (the data plane's and the admin plane's)."""
    return json_response(payload, status, headers={retrievals.EVIDENCE_HEADER: evidence_id})


def _evidence(caller: auth.Principal, action: str, kb_id: Optional[str], context_id: Optional[str], request_: dict[str, Any], ids: list[int],
              within: Optional[Connection] = None, idempotency_key: Optional[str] = None) -> str:  # fmt: skip
    return retrievals.record(current_ledger(), caller, action, kb_id, context_id, request_, ids, within=within, idempotency_key=idempotency_key)


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
    return evidenced(views, evidence_id)


_COUNTED = {"insert": "inserted_count", "update": "updated_count", "patch": "patched_count", "delete": "deleted_count",
            "delete_by_meta": "deleted_count", "patch_by_meta": "updated_count"}  # fmt: skip
Change = Callable[[Connection, Any], list[int]]  # makes the change in the base given; the chunk ids it touched


def _change(caller: auth.Principal, action: str, kb_id: Any, need: int, context_id: Optional[str], request_: dict[str, Any],
            make: Change) -> Response:  # fmt: skip
    """Make a change and append its evidence in one transaction. Under an Idempotency-Key already used for this
    change, answer what it answered then and change nothing (a retry after a lost answer)."""
    key = check_idempotency_key(request.headers.get("Idempotency-Key"), "Idempotency-Key")
    with write_transaction(state().engine) as conn:
        kb = bases.require(conn, caller, kb_id, need)
        prior = retrievals.replay(current_ledger(), conn, caller, action, key) if key else None
        if prior is not None:
            return _change_answer(action, *prior)
        ids = make(conn, kb)
        grew, stored = chunks.account(conn, kb, action, ids)
        if grew:
            check_quota(stored, state().settings.tenant_storage_bytes, "knowledge bases")
        evidence_id = _evidence(caller, action, kb.id, context_id, request_, ids, conn, key)
    return _change_answer(action, evidence_id, ids)


def _change_answer(action: str, evidence_id: str, ids: list[int]) -> Response:
    if action.endswith("_by_meta"):
        return evidenced({"dry_run": False, "matched_count": len(ids), _COUNTED[action]: len(ids), "evidence_id": evidence_id}, evidence_id)
    return evidenced({"success": True, _COUNTED[action]: len(ids), "chunk_ids": ids, "evidence_id": evidence_id}, evidence_id)


def _write(caller: auth.Principal, body: dict[str, Any], items_field: str, action: str) -> Response:
    context_id = bases.check_id(body.get("context_id"), "context_id")

    def write(conn: Connection, kb: Any) -> list[int]:
        context = bases.public_context(conn, caller.tenant_id, context_id)
        write_chunks = chunks.insert_chunks if action == "insert" else chunks.update_chunks
        return write_chunks(conn, kb, context_id, context, body.get(items_field))

    count = len(body[items_field]) if isinstance(body.get(items_field), list) else 0
    return _change(caller, action, body.get("kb_id"), WRITE, context_id, {"chunks": count}, write)


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
    context_id = bases.check_id(body["context_id"], "context_id") if body.get("context_id") is not None else None
    count = len(body["chunk_patches"]) if isinstance(body.get("chunk_patches"), list) else 0
    return _change(caller, "patch", body.get("kb_id"), WRITE, context_id, {"chunks": count},
                   lambda conn, kb: chunks.patch_chunks(conn, kb, body.get("chunk_patches")))  # fmt: skip


@blueprint.delete("/chunk/<org_id>")
def delete_chunks(org_id: str) -> Response:
    caller = _caller(org_id)
    ids = chunks.chunk_ids_argument(request.args.getlist("chunk_ids"))
    return _change(caller, "delete", request.args.get("kb_id"), DELETE, None, {"chunk_ids": ids},
                   lambda conn, kb: chunks.delete_chunks(conn, kb, ids))  # fmt: skip


# ---------------------------------------------------------------- searches


def _search_request(body: dict[str, Any], *, required: bool) -> tuple[str, Any]:
    return bases.check_id(body.get("context_id"), "context_id"), chunks.meta_filter(body.get("meta_filter"), required=required)


@blueprint.post("/compute_hamming/<org_id>")
def compute_hamming(org_id: str) -> Response:
    caller = _caller(org_id)
    body = json_object("kb_id", "query", "context_id", "meta_filter", "range")
    context_id, filter_ = _search_request(body, required=False)
    id_range = chunks.range_filter(body.get("range"))
    with ExitStack() as admitted:
        admitted.enter_context(workers.admitted(caller.tenant_id, "compute_hamming searches"))
        conn = admitted.enter_context(read_connection(state().engine, snapshot=True))  # open until the answer is sent
        kb = bases.require(conn, caller, body.get("kb_id"), READ)
        context = bases.public_context(conn, caller.tenant_id, context_id)
        query = homomorphic.decode_vector(body.get("query"), context, "query")
        numbers = homomorphic.query_numbers(query)
        selection = chunks.vector_selection(conn, kb, context_id, filter_, id_range)
        plan = chunks.plan_search(conn, selection, 2 + context.width * len(numbers), MAX_DISTANCES)
        if plan.misfit is not None:
            homomorphic.check_widths(numbers, [chunks.stored_vector(conn, kb, plan.misfit)], context)
        if plan.stored_bytes * context.width > MAX_DISTANCE_WORK:
            raise over_cap("compute_hamming", "stored vector bytes x ciphertext width (narrow with meta_filter or range)", MAX_DISTANCE_WORK)
        request_ = {"query_sha256": chunks.query_hash(query), "meta_filter": filter_, "range": body.get("range")}
        evidence_id = _evidence(caller, "compute_hamming", kb.id, context_id, request_, plan.chunk_ids)
        # Streamed from the same snapshot: nothing in it can fail any more (widths checked, evidence committed), and
        # the client reads while we compute.
        json = request.accept_mimetypes.best_match(["application/x-msgpack", "application/json"]) == "application/json"
        rows = chunks.stream_vectors(conn, selection)
        answer = _Admitted(admitted.pop_all(), distances.answer("json" if json else "msgpack", numbers, rows, len(plan.chunk_ids), context))
    return Response(answer, mimetype="application/json" if json else "application/x-msgpack", headers={retrievals.EVIDENCE_HEADER: evidence_id})


class _Admitted:
    """An answer that gives the tenant's search slot back once it is sent, or the client went away (the server closes it)."""

    def __init__(self, admitted: ExitStack, answer: Iterator[bytes]) -> None:
        self._admitted, self._answer = admitted, answer

    def __iter__(self) -> Iterator[bytes]:
        return self._answer

    def close(self) -> None:
        try:
            close = getattr(self._answer, "close", None)
            if close is not None:
                close()
        finally:
            self._admitted.close()


@blueprint.post("/chunk/meta/<org_id>")
def meta_search(org_id: str) -> Response:
    caller = _caller(org_id)
    body = json_object("kb_id", "meta_filter", "context_id", "projection", "return_content")
    context_id, filter_ = _search_request(body, required=False)
    with reading() as conn:
        kb = bases.require(conn, caller, body.get("kb_id"), READ)
        ids, found = chunks.search(conn, kb, context_id, filter_, body.get("projection"), body.get("return_content") is True)
    evidence_id = _evidence(caller, "meta_search", kb.id, context_id, {"meta_filter": filter_, "projection": body.get("projection")}, ids)
    return evidenced(found, evidence_id)


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
    return evidenced(page, evidence_id)


def _by_meta(org_id: str, action: str, need: int) -> Response:
    caller = _caller(org_id)
    body = json_object("kb_id", "context_id", "meta_filter", "dry_run", *(("patch",) if action == "patch" else ()))
    context_id, filter_ = _search_request(body, required=True)
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise ValidationFailed("dry_run: expected true or false", {"field": "dry_run"})
    if dry_run:
        with reading() as conn:
            kb = bases.require(conn, caller, body.get("kb_id"), need)
            count = len(chunks.matching_ids(conn, kb, context_id, filter_))
        verb = "would_delete_count" if action == "delete" else "would_update_count"
        return json_response({"dry_run": True, "matched_count": count, verb: count})

    def change(conn: Connection, kb: Any) -> list[int]:
        ids = chunks.matching_ids(conn, kb, context_id, filter_)
        if action == "delete":
            chunks.delete_matching(conn, kb, ids)
        else:
            chunks.patch_matching(conn, kb, ids, body.get("patch"))
        return ids

    return _change(caller, f"{action}_by_meta", body.get("kb_id"), need, context_id, {"meta_filter": filter_, "patch": body.get("patch")}, change)


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
        bases.require_context_access(conn, caller, bases.check_id(body.get("context_id"), "context_id"), WRITE, stored=False)
        stored = bases.store_context(conn, caller.tenant_id, body.get("context_id"), body.get("data"))
        evidence_id = _evidence(caller, "store_context", None, stored["context_id"], {}, [], conn)
    return evidenced(stored, evidence_id)


@blueprint.get("/exec_context/<org_id>")
def list_contexts(org_id: str) -> Response:
    caller = _caller(org_id)
    with reading() as conn:
        return json_response({"contexts": bases.list_contexts(conn, caller)})


@blueprint.get("/exec_context/<org_id>/<context_id>")
def get_context(org_id: str, context_id: str) -> Response:
    caller = _caller(org_id)
    with reading() as conn:
        bases.require_context_access(conn, caller, bases.check_id(context_id, "context_id"), READ)
        return json_response(bases.get_context(conn, caller.tenant_id, context_id))


@blueprint.delete("/exec_context/<org_id>/<context_id>")
def delete_context(org_id: str, context_id: str) -> Response:
    caller = _caller(org_id)
    with write_transaction(state().engine) as conn:
        bases.require_context_access(conn, caller, bases.check_id(context_id, "context_id"), DELETE)
        deleted = bases.delete_context(conn, caller.tenant_id, context_id)
        evidence_id = _evidence(caller, "delete_context", None, deleted["context_id"], {}, [], conn)
    return evidenced(deleted, evidence_id)


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
        bases.require_context_access(conn, caller, bases.check_id(context_id, "context_id"), READ)
        return json_response({"context_id": context_id, "kb_ids": bases.kbs_of(conn, caller.tenant_id, context_id)})


@blueprint.post("/exec_context/<org_id>/<kb_id>/bind/<context_id>")
def bind(org_id: str, kb_id: str, context_id: str) -> Response:
    caller = _caller(org_id)
    with write_transaction(state().engine) as conn:
        kb = bases.require(conn, caller, kb_id, WRITE)
        bound = bases.bind(conn, caller.tenant_id, kb.id, context_id)
        evidence_id = _evidence(caller, "bind", kb.id, bound["context_id"], {}, [], conn)
    return evidenced(bound, evidence_id)
