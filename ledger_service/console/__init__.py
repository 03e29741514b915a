"""The evidence console at /console (on unless XASE_CONSOLE=0): sign-in with an API key held in a server-side
session; decisions (filtered), a decision with its receipt verified in the user's own browser, agent contexts (the
turn DAG, the history verified in the browser), data access, knowledge bases, the log (checkpoints, consistency and
cosignatures checked in the browser), health with a live feed, and a page that verifies any pasted receipt.

    sessions.py   sign-in sessions: the key's hash only, CSRF tokens, revocation honoured at once
    pages.py      the pages and their security headers (a strict Content-Security-Policy)
    bridge.py     GET /console/api/...: the API, read-only, for the signed-in user (what the pages' script calls)
    tables.py     console_sessions
    templates/ static/   Jinja2 pages and their scripts; static/lib is clients/js/lib (@xase/evidence, built)

Composition: it shows what the subsystems give through their public names.
"""

from __future__ import annotations

from flask import Flask

from ledger_service.console import bridge, pages
from ledger_service.console.sessions import COOKIE

__all__ = ["COOKIE", "install"]


def install(app: Flask) -> None:
    app.register_blueprint(pages.blueprint)
    app.register_blueprint(bridge.blueprint)
