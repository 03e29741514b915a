"""The console's read-only bridge to the API: `GET /console/api/<path>` answers as `GET /<path>` would for the
signed-in user's key, so the browser's code uses the API itself (clients/js, `new CxdbClient("/console/api",
{credentials: "same-origin"})`) and never holds the key. Only reads (no CSRF surface), only the paths below, only
what the key's scopes allow: the routes check them as for any caller."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from ledger_service.console import pages
from ledger_service.errors import NotFound, Unauthorized

__all__ = ["BRIDGED", "blueprint"]

BRIDGED = ("cxdb/v1/", "api/xase/v1/")
blueprint = Blueprint("console_api", __name__, url_prefix="/console/api")


@blueprint.get("/<path:path>")
def bridge(path: str) -> Response:
    user = pages.current_user()
    if user is None:
        raise Unauthorized("Sign in to the console first")
    if not path.startswith(BRIDGED):
        raise NotFound(f"The console's API reaches only {', '.join('/' + prefix for prefix in BRIDGED)}")
    try:
        endpoint, arguments = current_app.create_url_adapter(request).match("/" + path, method="GET")  # type: ignore[union-attr]
    except (RequestRedirect, HTTPException):
        raise NotFound("No such API route") from None
    g.console_principal = user  # web.principal answers with it instead of reading a key
    return current_app.ensure_sync(current_app.view_functions[endpoint])(**arguments)  # type: ignore[no-any-return]
