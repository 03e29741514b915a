"""Admin (X-Admin-Key): tenants and their API keys. A key's secret is shown once, at creation."""

from __future__ import annotations

from flask import Blueprint, Response

from ledger_service import auth, tenants
from ledger_service.db import write_transaction
from ledger_service.errors import NotFound, ValidationFailed
from ledger_service.web import PREFIX, json_body, json_response, reading, require_admin, state

blueprint = Blueprint("admin", __name__, url_prefix=PREFIX + "/admin")


@blueprint.before_request
def _admin_only() -> None:
    require_admin()


@blueprint.post("/tenants")
def create_tenant() -> Response:
    body = json_body()
    if not isinstance(body, dict) or set(body) - {"name"}:
        raise ValidationFailed('body must be {"name": "..."}')
    with write_transaction(state().engine) as conn:
        return json_response(tenants.create_tenant(conn, body.get("name", "")), 201)


@blueprint.get("/tenants")
def list_tenants() -> Response:
    with reading() as conn:
        return json_response({"tenants": auth.list_tenants(conn)})


def _tenant_id(conn: object, id_or_name: str) -> str:
    tenant = auth.find_tenant(conn, id_or_name)  # type: ignore[arg-type]
    if tenant is None:
        raise NotFound(f"tenant {id_or_name!r} not found")
    return str(tenant["id"])


@blueprint.post("/tenants/<tenant>/api-keys")
def create_api_key(tenant: str) -> Response:
    body = json_body()
    if not isinstance(body, dict) or set(body) - {"name", "scopes"}:
        raise ValidationFailed('body must be {"name": "...", "scopes": [...]}')
    scopes = body.get("scopes", list(auth.DEFAULT_SCOPES))
    if not isinstance(scopes, list) or not all(isinstance(scope, str) for scope in scopes):
        raise ValidationFailed("scopes: must be a list of strings", {"field": "scopes"})
    name = body.get("name", "")
    if not isinstance(name, str):
        raise ValidationFailed("name: must be a string", {"field": "name"})
    with write_transaction(state().engine) as conn:
        return json_response(auth.create_api_key(conn, _tenant_id(conn, tenant), name, scopes), 201)


@blueprint.get("/tenants/<tenant>/api-keys")
def list_api_keys(tenant: str) -> Response:
    with reading() as conn:
        return json_response({"api_keys": auth.list_api_keys(conn, _tenant_id(conn, tenant))})


@blueprint.post("/api-keys/<key_id>/revoke")
def revoke_api_key(key_id: str) -> Response:
    with write_transaction(state().engine) as conn:
        return json_response(auth.revoke_api_key(conn, key_id))
