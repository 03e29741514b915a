"""The agent context store's HTTP API (seed 003), under /cxdb: contexts, turns, blobs, registry, stats, health.

Authenticated by Xase API keys with the `contexts` scope; everything a key sees is its tenant's. Errors
carry the seed's codes (BAD_REQUEST, NOT_FOUND, CONFLICT, PRECONDITION_FAILED, UNPROCESSABLE_ENTITY,
FAILED_DEPENDENCY) in the error body every Xase endpoint uses.
"""

from __future__ import annotations

import time
from typing import Any, Optional

from flask import Blueprint, Response, request

from ledger_service import auth, workers
from ledger_service.contexts import codec, pages, registry, sealing, store
from ledger_service.contexts.registry import Registry
from ledger_service.db import write_transaction
from ledger_service.errors import LedgerError, NotFound, ValidationFailed
from ledger_service.web import body_bytes, error_response, file_response, int_arg, json_body, json_object, json_response, principal, reading, state
from xase import __version__
from xase.evidence import is_hex64

blueprint = Blueprint("contexts", __name__, url_prefix="/cxdb")

MAX_TURNS_PAGE = 1_024
MAX_CONTEXTS_PAGE = 1_000
MAX_CHILDREN_PAGE = 10_000
_STARTED = time.monotonic()
_SEED_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 409: "CONFLICT", 412: "PRECONDITION_FAILED", 422: "UNPROCESSABLE_ENTITY", 424: "FAILED_DEPENDENCY"}
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


@blueprint.errorhandler(LedgerError)
def _seed_error(error: LedgerError) -> Response:
    """The Xase error body, with the seed's code for the statuses the seed names."""
    retry_after = getattr(error, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return error_response(error.status, _SEED_CODES.get(error.status, error.code), error.message, error.details, headers)


@blueprint.before_app_request  # any request a process serves (a health probe too), not only context requests
def _start_sealer() -> None:
    sealing.ensure_sealer()


@blueprint.after_request
def _cors(response: Response) -> Response:
    allowed = state().settings.cxdb_allowed_origins
    origin = request.headers.get("Origin")
    if not allowed or not origin:
        return response
    if "*" in allowed:
        response.headers["Access-Control-Allow-Origin"] = "*"
    elif origin in allowed:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers.add("Vary", "Origin")
    else:
        return response
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, X-API-Key, Content-Type, If-None-Match"
        response.headers["Access-Control-Max-Age"] = "600"
    response.headers["Access-Control-Expose-Headers"] = "ETag, Retry-After, X-Request-Id"
    return response


def _caller() -> auth.Principal:
    return principal("contexts")


def _flag(name: str, default: bool) -> bool:
    raw = request.args.get(name)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ValidationFailed(f"{name}: expected true or false, got {raw!r}"[:200], {"field": name})


def _choice(name: str, choices: tuple[str, ...]) -> str:
    raw = request.args.get(name, choices[0])
    if raw not in choices:
        raise ValidationFailed(f"{name}: expected one of {list(choices)}, got {raw!r}"[:200], {"field": name})
    return raw


def _limits() -> store.AppendLimits:
    settings = state().settings
    return store.AppendLimits(settings.cxdb_max_turn_bytes, settings.cxdb_compress_min_bytes)


# ---------------------------------------------------------------- health and stats


@blueprint.get("/health")
def health() -> Response:
    return json_response({"status": "ok", "version": __version__, "uptime_seconds": int(time.monotonic() - _STARTED)})


@blueprint.get("/v1/stats")
def stats() -> Response:
    caller = _caller()
    with reading() as conn:
        return json_response(store.stats(conn, caller.tenant_id))


# ---------------------------------------------------------------- contexts


def _context_views(conn: Any, tenant_id: str, rows: list[Any], provenance: bool, lineage: bool) -> list[dict[str, Any]]:
    kids = store.child_ids(conn, tenant_id, [row.context_id for row in rows]) if lineage else {}
    return [store.context_view(row, provenance, lineage, kids.get(row.context_id)) for row in rows]


@blueprint.get("/v1/contexts")
def list_contexts() -> Response:
    caller = _caller()
    limit = int_arg("limit", 100, 1, MAX_CONTEXTS_PAGE)
    tag = store.check_tag(request.args.get("tag"))
    before = _optional_id("before_context_id")  # Xase's paging: the next page is older than the last context listed
    provenance, lineage = _flag("include_provenance", False), _flag("include_lineage", False)
    with reading() as conn:
        rows, total = store.list_contexts(conn, caller.tenant_id, limit, tag, before)
        return json_response({"contexts": _context_views(conn, caller.tenant_id, rows, provenance, lineage), "total": total})


@blueprint.get("/v1/contexts/<context_id>")
def get_context(context_id: str) -> Response:
    caller = _caller()
    number = store.parse_id(context_id, "context_id", zero=False)
    provenance, lineage = _flag("include_provenance", True), _flag("include_lineage", True)
    with reading() as conn:
        row = store.get_context(conn, caller.tenant_id, number)
        return json_response(_context_views(conn, caller.tenant_id, [row], provenance, lineage)[0])


@blueprint.get("/v1/contexts/<context_id>/children")
def children(context_id: str) -> Response:
    caller = _caller()
    number = store.parse_id(context_id, "context_id", zero=False)
    recursive, limit = _flag("recursive", False), int_arg("limit", 256, 1, MAX_CHILDREN_PAGE)
    provenance, lineage = _flag("include_provenance", True), _flag("include_lineage", True)
    with reading() as conn:
        rows = store.children(conn, caller.tenant_id, number, recursive, limit)
        return json_response({"context_id": context_id, "children": _context_views(conn, caller.tenant_id, rows, provenance, lineage)})


def _create(required_base: bool) -> Response:
    caller = _caller()
    body = json_object("base_turn_id", "tag", required=required_base)
    if required_base and "base_turn_id" not in body:
        raise ValidationFailed("base_turn_id is required", {"field": "base_turn_id"})
    base = store.parse_id(body.get("base_turn_id", "0"), "base_turn_id")
    tag = store.check_tag(body.get("tag"))
    with write_transaction(state().engine) as conn:
        row = store.create_context(conn, caller, base, tag)
    return json_response({"context_id": str(row.context_id), "head_turn_id": str(row.head_turn_id), "head_depth": row.head_depth,
                          "head_turn_hash": row.head_turn_hash}, 201)  # fmt: skip


@blueprint.post("/v1/contexts/create")
@blueprint.post("/v1/contexts")
def create_context() -> Response:
    return _create(required_base=False)


@blueprint.post("/v1/contexts/fork")
def fork_context() -> Response:
    return _create(required_base=True)


# ---------------------------------------------------------------- turns

OFFLOADED_BODY_BYTES = 256 * 1024  # an append body this large is parsed and encoded by a worker process


def _append(context_id: str, batch: bool) -> tuple[list[dict[str, Any]], int]:
    caller = _caller()  # authenticate before reading the body
    number = store.parse_id(context_id, "context_id", zero=False)
    if (request.content_length or 0) > OFFLOADED_BODY_BYTES:
        with workers.admitted(caller.tenant_id, "large context reads and appends"):
            turns = workers.run(store.encode_body, workers.Database.of(state().settings), caller.tenant_id, body_bytes(), batch, _limits())
    else:
        inputs = store.parse_append(json_body(), batch)
        with reading() as conn:  # encoded before the write lock: the lock is held only for the inserts
            turns = store.encode_turns(conn, caller.tenant_id, inputs, _limits())
    with write_transaction(state().engine) as conn:
        answers, replayed = store.append(conn, caller.tenant_id, number, turns, state().settings.tenant_storage_bytes)
    return answers, 200 if replayed else 201


@blueprint.post("/v1/contexts/<context_id>/append")
@blueprint.post("/v1/contexts/<context_id>/turns")
def append_turn(context_id: str) -> Response:
    (answer,), status = _append(context_id, batch=False)
    return json_response(answer, status)


@blueprint.post("/v1/contexts/<context_id>/append_batch")
def append_turns(context_id: str) -> Response:
    """Xase's batch form: `{"turns": [...]}`, each turn appended on the previous, all or none."""
    answers, status = _append(context_id, batch=True)
    return json_response({"context_id": context_id, "turns": answers}, status)


def _optional_id(name: str) -> Optional[int]:
    raw = request.args.get(name)
    return None if raw is None else store.parse_id(raw, name)


@blueprint.get("/v1/contexts/<context_id>/turns")
def get_turns(context_id: str) -> Response:
    caller = _caller()
    before_id, from_id = _optional_id("before_turn_id"), _optional_id("from_turn_id")
    if before_id is not None and from_id is not None:
        raise ValidationFailed("before_turn_id and from_turn_id exclude each other", {"field": "from_turn_id"})
    page = pages.PageRequest(
        caller.tenant_id, store.parse_id(context_id, "context_id", zero=False), int_arg("limit", 64, 1, MAX_TURNS_PAGE), before_id, from_id,
        _choice("view", ("typed", "raw", "both")), _choice("type_hint_mode", ("inherit", "latest", "explicit")), request.args.get("as_type_id"),
        int_arg("as_type_version", 0, 0, 2**32 - 1) if request.args.get("as_type_version") is not None else None,
        codec.RenderOptions(_flag("include_unknown", False), **{name: _choice(name, choices) for name, choices in codec.RENDER_CHOICES.items()}),
    )  # fmt: skip
    with reading() as conn:
        planned = pages.plan(conn, page)
        body = pages.answer(conn, page, planned) if planned.payload_bytes <= pages.INLINE_BYTES else None
    if body is not None:
        return Response(body, mimetype="application/json")
    with workers.admitted(caller.tenant_id, "large context reads and appends"):  # rendering it is CPU: a worker process does it
        return file_response(workers.run_to_file(pages.answer_in_worker, workers.Database.of(state().settings), page), "application/json")


# ---------------------------------------------------------------- blobs


@blueprint.get("/v1/blobs/<content_hash>")
def get_blob(content_hash: str) -> Response:
    caller = _caller()
    if not is_hex64(content_hash):
        raise ValidationFailed("content_hash: expected 64 lowercase hex characters (BLAKE3)", {"field": "content_hash"})
    with reading() as conn:
        data = store.get_blob(conn, caller.tenant_id, content_hash)
    return Response(data, mimetype="application/octet-stream", headers={"Cache-Control": "private, max-age=31536000, immutable"})


# ---------------------------------------------------------------- registry


@blueprint.put("/v1/registry/bundles/<bundle_id>")
def put_bundle(bundle_id: str) -> Response:
    caller = _caller()
    body = json_body()
    with write_transaction(state().engine) as conn:
        created, etag = registry.publish(conn, caller.tenant_id, bundle_id, body)
    if not created:
        return Response(status=204, headers={"ETag": f'"{etag}"'})
    return json_response({"bundle_id": bundle_id, "etag": etag}, 201, {"ETag": f'"{etag}"'})


@blueprint.get("/v1/registry/bundles/<bundle_id>")
def get_bundle(bundle_id: str) -> Response:
    caller = _caller()
    with reading() as conn:
        body, etag = registry.get_bundle(conn, caller.tenant_id, bundle_id)
    headers = {"ETag": f'"{etag}"', "Cache-Control": "public, max-age=31536000"}  # bundles are immutable
    if request.if_none_match.contains_weak(etag):  # If-None-Match compares weakly; "*" matches any
        return Response(status=304, headers=headers)
    return Response(body.encode("utf-8"), mimetype="application/json", headers=headers)


@blueprint.get("/v1/registry/types/<type_id>/versions/<type_version>")
def get_type_version(type_id: str, type_version: str) -> Response:
    caller = _caller()
    version = store.parse_id(type_version, "type_version")
    with reading() as conn:
        descriptor = Registry(conn, caller.tenant_id).descriptor(type_id, version) if version <= 2**32 - 1 else None
    if descriptor is None:
        raise NotFound(f"Type {type_id} version {type_version} not found", {"type_id": type_id, "type_version": type_version})
    return json_response(descriptor.as_json())


@blueprint.get("/v1/registry/types")
def list_types() -> Response:
    caller = _caller()
    with reading() as conn:
        return json_response({"types": registry.latest_types(conn, caller.tenant_id)})
