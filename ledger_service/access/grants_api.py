"""The consumer's view of what was shared with it: list the grants made to this tenant, and decline one."""

from __future__ import annotations

from flask import Blueprint, Response

from ledger_service.access import datasets
from ledger_service.db import write_transaction
from ledger_service.web import PREFIX, json_response, principal, reading, state

blueprint = Blueprint("grants", __name__, url_prefix=PREFIX + "/grants")


@blueprint.get("")
def grants() -> Response:
    """Grants made to the caller's tenant, newest first, each naming the dataset and its holder tenant."""
    caller = principal("sessions")
    with reading() as conn:
        return json_response({"grants": datasets.grants_to(conn, caller.tenant_id)})


@blueprint.post("/<grant_id>/decline")
def decline(grant_id: str) -> Response:
    """Refuse a grant: no session can be opened under it, and its dataset no longer resolves by name."""
    caller = principal("sessions")
    with write_transaction(state().engine) as conn:
        return json_response(datasets.decline_grant(conn, caller.tenant_id, grant_id))
