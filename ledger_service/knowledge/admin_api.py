"""The knowledge admin plane (seed 000, `{admin_api_url}/v1`): bases, keys and their permissions.

Authenticated by `x-xtrace-key`, an API key of the organisation with the `admin` scope, and
`x-xtrace-org-id`, the organisation (tenant) id or name, which must be the key's.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from ledger_service import auth
from ledger_service.db import write_transaction
from ledger_service.errors import NotFound
from ledger_service.knowledge import bases
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
        return json_response(bases.create_kb(conn, caller.tenant_id, body.get("name"), body.get("description")), 201)


@blueprint.get("/kbs/<kb_id>")
def get_kb(kb_id: str) -> Response:
    caller = _admin()
    with reading() as conn:
        return json_response(bases.get_kb(conn, caller.tenant_id, kb_id))


@blueprint.delete("/kbs/<kb_id>")
def delete_kb(kb_id: str) -> Response:
    caller = _admin()
    with write_transaction(state().engine) as conn:
        return json_response({**bases.delete_kb(conn, caller.tenant_id, kb_id), "deleted": True})


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
        return json_response(bases.create_key(conn, caller.tenant_id, body.get("name"), body.get("description")), 201)


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
        return json_response(bases.set_permission(conn, caller.tenant_id, key_hash, kb_id, body.get("permission")))


@blueprint.patch("/keys/<key_hash>/status/revoke")
def revoke_key(key_hash: str) -> Response:
    caller = _admin()
    with write_transaction(state().engine) as conn:
        return json_response(bases.revoke_key(conn, caller.tenant_id, key_hash))
