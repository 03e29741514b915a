"""The knowledge admin plane (seed 000, `{admin_api_url}/v1`): bases, keys and their permissions.

Authenticated by `x-xtrace-key`, an API key of the organisation with the `admin` scope, and
`x-xtrace-org-id`, the organisation (tenant) id or name, which must be the key's. Every change
appends a `xase.knowledge` record in its own transaction (never a secret, only ids).
"""

from __future__ import annotations

from typing import Any, Optional

from flask import Blueprint, Response, request
from sqlalchemy import Connection

from ledger_service import auth
from ledger_service.db import write_transaction
from ledger_service.errors import NotFound
from ledger_service.evidence import current_ledger
from ledger_service.knowledge import bases, retrievals
from ledger_service.knowledge.api import evidenced
from ledger_service.web import json_object, json_response, principal, reading, state

blueprint = Blueprint("knowledge_admin", __name__, url_prefix="/xtrace/v1")


def _admin() -> auth.Principal:
    caller = principal("admin", key_header="X-Xtrace-Key")
    org = request.headers.get("X-Xtrace-Org-Id", "")
    with reading() as conn:
        tenant = auth.find_tenant(conn, org) if org else None
    if tenant is None or tenant["id"] != caller.tenant_id:
        raise NotFound("x-xtrace-org-id: not this key's organisation")
    return caller


def _evidence(conn: Connection, caller: auth.Principal, action: str, kb_id: Optional[str], request_: dict[str, Any],
              chunk_ids: tuple[int, ...] | list[int] = ()) -> str:  # fmt: skip
    return retrievals.record(current_ledger(), caller, action, kb_id, None, request_, chunk_ids, within=conn)


@blueprint.get("/kbs")
def list_kbs() -> Response:
    caller = _admin()
    with reading() as conn:
        return json_response(bases.list_kbs(conn, caller.tenant_id))


@blueprint.post("/kbs")
def create_kb() -> Response:
    caller = _admin()
    body = json_object("name", "description")
    with write_transaction(state().engine) as conn:
        created = bases.create_kb(conn, caller.tenant_id, body.get("name"), body.get("description"))
        evidence_id = _evidence(conn, caller, "create_kb", created["id"], {"name": created["name"]})
    return evidenced(created, evidence_id, 201)


@blueprint.get("/kbs/<kb_id>")
def get_kb(kb_id: str) -> Response:
    caller = _admin()
    with reading() as conn:
        return json_response(bases.get_kb(conn, caller.tenant_id, kb_id))


@blueprint.delete("/kbs/<kb_id>")
def delete_kb(kb_id: str) -> Response:
    caller = _admin()
    with write_transaction(state().engine) as conn:
        view, chunk_ids = bases.delete_kb(conn, caller.tenant_id, kb_id)
        evidence_id = _evidence(conn, caller, "delete_kb", view["id"], {"name": view["name"]}, chunk_ids)
    return evidenced({**view, "deleted": True}, evidence_id)


@blueprint.get("/keys")
def list_keys() -> Response:
    caller = _admin()
    with reading() as conn:
        return json_response(bases.list_keys(conn, caller.tenant_id))


@blueprint.post("/keys")
def create_key() -> Response:
    caller = _admin()
    body = json_object("name", "description")
    with write_transaction(state().engine) as conn:
        created = bases.create_key(conn, caller.tenant_id, body.get("name"), body.get("description"))
        evidence_id = _evidence(conn, caller, "create_key", None, {"key": created["apiKey"]["hash"]})
    return evidenced(created, evidence_id, 201)


@blueprint.get("/keys/<key_hash>/permissions")
def permissions(key_hash: str) -> Response:
    caller = _admin()
    with reading() as conn:
        return json_response(bases.permissions(conn, caller.tenant_id, key_hash))


@blueprint.put("/keys/<key_hash>/permissions/<kb_id>")
def set_permission(key_hash: str, kb_id: str) -> Response:
    caller = _admin()
    body = json_object("permission")
    with write_transaction(state().engine) as conn:
        granted = bases.set_permission(conn, caller.tenant_id, key_hash, kb_id, body.get("permission"))
        evidence_id = _evidence(conn, caller, "set_permission", kb_id, {"key": key_hash, "permission": granted["permission"]})
    return evidenced(granted, evidence_id)


@blueprint.patch("/keys/<key_hash>/status/revoke")
def revoke_key(key_hash: str) -> Response:
    caller = _admin()
    with write_transaction(state().engine) as conn:
        revoked = bases.revoke_key(conn, caller.tenant_id, key_hash)
        evidence_id = _evidence(conn, caller, "revoke_key", None, {"key": key_hash})
    return evidenced(revoked, evidence_id)
