"""The console's pages: sign-in, the decisions list, a decision (its receipt verified in the browser), and a page
that verifies any receipt pasted into it. Server-rendered (Jinja2, every value escaped), a little vendored script,
and a strict Content-Security-Policy on every answer: no inline script or style, nothing from another origin, no
framing."""

from __future__ import annotations

import time
from typing import Any, Optional
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, abort, redirect, render_template, request

from ledger_service import access, contexts, evidence, explanations, knowledge
from ledger_service.console import sessions
from ledger_service.errors import NotFound, Unauthorized
from ledger_service.web import json_response, reading, state

__all__ = ["blueprint"]

blueprint = Blueprint("console", __name__, url_prefix="/console", template_folder="templates", static_folder="static")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")  # fmt: skip
PAGE_SIZE = 50


@blueprint.before_request
def _same_origin_posts_only() -> None:
    """A form posted from another site is refused before it does anything: no login CSRF (an attacker signing the
    victim in to the attacker's organisation), whatever the cookie's SameSite does. Browsers send Origin with every
    POST; a client that sends none is no browser, and has no victim's session to ride."""
    origin = request.headers.get("Origin")
    if request.method != "POST" or origin is None:
        return
    ours = {request.host_url.rstrip("/")}
    public_url = state().settings.public_url
    if public_url:
        public = urlsplit(str(public_url))
        ours.add(f"{public.scheme}://{public.netloc}")
    if origin not in ours:
        abort(Response("This form must be sent from the console's own pages.", status=403, content_type="text/plain; charset=utf-8"))


@blueprint.after_request
def _harden(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"  # not no-referrer: under it a browser posts forms with Origin: null
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def current_user() -> Optional[sessions.ConsoleUser]:
    return sessions.user_of(state().engine, request.cookies.get(sessions.COOKIE))


def _signed_in(scope: Optional[str] = None) -> sessions.ConsoleUser:
    """The signed-in user (else a redirect to sign-in), whose key must have `scope` if one is named."""
    user = current_user()
    if user is None:
        abort(redirect("/console/login"))
    if scope is not None:
        user.require(scope)
    return user


def _page(template: str, status: int = 200, **values: Any) -> Response:
    return Response(render_template(template, **values), status=status, content_type="text/html; charset=utf-8")


@blueprint.get("/")
def home() -> Response:
    return redirect("/console/decisions" if current_user() else "/console/login")  # type: ignore[return-value]


@blueprint.get("/login")
def login_form() -> Response:
    return _page("login.html", problem=None)


@blueprint.post("/login")
def login() -> Response:
    api_key = request.form.get("api_key", "")
    try:
        token = sessions.start(state().engine, api_key)
    except Unauthorized:
        return _page("login.html", status=401, problem="That key was not accepted.")
    answer = redirect("/console/decisions")
    answer.set_cookie(sessions.COOKIE, token, max_age=int(sessions.LIFETIME.total_seconds()), path="/console", secure=True, httponly=True,
                      samesite="Strict")  # fmt: skip
    return answer  # type: ignore[return-value]


@blueprint.post("/logout")
def logout() -> Response:
    user = _signed_in()
    if not sessions.csrf_holds(user, request.form.get("csrf")):
        abort(403)
    sessions.end(state().engine, request.cookies.get(sessions.COOKIE))
    answer = redirect("/console/login")
    answer.delete_cookie(sessions.COOKIE, path="/console", secure=True, httponly=True, samesite="Strict")
    return answer  # type: ignore[return-value]


FILTER_CHARS = 256  # each filter's text, at most


def _filter(name: str) -> Optional[str]:
    value = request.args.get(name, "").strip()
    return value[:FILTER_CHARS] or None


def _time_filter(name: str) -> Optional[str]:
    """A time as recorded_at is stored (ISO 8601, compared as text): "2026-12-07 10:00" reads as 2026-12-07T10:00."""
    value = _filter(name)
    return None if value is None else value.replace(" ", "T", 1)


def _decimal(raw: str, digits: int = 18) -> Optional[int]:
    """A seq, a tree size or an id written in ASCII decimal of at most `digits` digits, or None when it is not one."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= digits else None


def _position(name: str) -> Optional[int]:
    """A page's starting point from the query (a seq or a tree size), or None when absent or not a position."""
    return _decimal(request.args.get(name, ""))


@blueprint.get("/decisions")
def decisions() -> Response:
    """The newest decisions first, narrowed by policy, decision type, time and outcome (text in a stored payload's
    output, searched within evidence.OUTCOME_SCAN_* caps)."""
    user = _signed_in("records:read")
    wanted = evidence.RecordFilter(_filter("policy"), _filter("type"), _time_filter("since"), _time_filter("until"), _filter("outcome"))
    with reading() as conn:
        page = evidence.find_records(conn, user.tenant_id, wanted, before_seq=_position("before"), limit=PAGE_SIZE)
    filters = {"policy": wanted.policy_id, "type": wanted.decision_type, "since": wanted.since, "until": wanted.until, "outcome": wanted.outcome}
    older = None if page["next_before"] is None else "?" + urlencode({**{k: v for k, v in filters.items() if v}, "before": page["next_before"]})
    return _page("decisions.html", user=user, records=page["records"], filters=filters, older=older, searched_to=page["searched_to"])


@blueprint.get("/decisions/<transaction_id>")
def decision(transaction_id: str) -> Response:
    user = _signed_in("records:read")
    with reading() as conn:
        try:
            explained = explanations.explain(conn, user.tenant_id, transaction_id)
        except NotFound:
            return _page("missing.html", status=404, user=user, what=f"decision {transaction_id}")
    return _page("decision.html", user=user, d=explained)


@blueprint.get("/decisions/<transaction_id>/receipt.json")
def receipt(transaction_id: str) -> Response:
    """The receipt the page verifies in the browser (the session's organisation only)."""
    user = _signed_in("records:read")
    with reading() as conn:
        try:
            found = evidence.receipt(conn, user.tenant_id, transaction_id)
        except NotFound:
            abort(404)
    return json_response(found)


@blueprint.get("/contexts")
def context_list() -> Response:
    user = _signed_in("contexts")
    return _page("contexts.html", user=user, tag=request.args.get("tag"), q=request.args.get("q"))


@blueprint.get("/contexts/<context_id>")
def context(context_id: str) -> Response:
    """A context: its seal, here; its turns, the DAG of its forks and the history check, drawn by the page's script."""
    user = _signed_in("contexts")
    number = _decimal(context_id, digits=19)
    if not number:
        return _page("missing.html", status=404, user=user, what=f"context {context_id}")
    with reading() as conn:
        try:
            seal = contexts.seal_state(conn, user.tenant_id, number)
        except NotFound:
            return _page("missing.html", status=404, user=user, what=f"context {context_id}")
    return _page("context.html", user=user, context_id=context_id, seal=seal)


@blueprint.get("/log")
def log() -> Response:
    """The log's checkpoints, newest first, and its witnesses' lag; the page's script checks signatures and consistency."""
    user = _signed_in("records:read")
    with reading() as conn:
        shown = evidence.log_history(conn, user.tenant_id, PAGE_SIZE + 1, _position("below"))
    older_than = shown[PAGE_SIZE - 1]["tree_size"] if len(shown) > PAGE_SIZE else None
    witnesses = evidence.current_ledger().witnessing.state(user.tenant_id)
    return _page("log.html", user=user, checkpoints=shown[:PAGE_SIZE], older_than=older_than, witnesses=witnesses)


@blueprint.get("/data")
def data() -> Response:
    """Governed data access: the datasets held (grants, how often accessed) and the grants received; the page's
    script verifies each dataset's access receipts in the browser."""
    user = _signed_in("sessions")
    with reading() as conn:
        shown = access.overview(conn, user.tenant_id, PAGE_SIZE)
        opened = access.list_sessions(conn, user.tenant_id, PAGE_SIZE)
    return _page("data.html", user=user, overview=shown, sessions=opened, evidence_policy=access.EVIDENCE_POLICY)


@blueprint.get("/knowledge")
def knowledge_bases() -> Response:
    """Knowledge bases (ciphertexts only: the console has no plaintext to show) and their newest evidence."""
    user = _signed_in("records:read")
    with reading() as conn:
        bases = knowledge.list_kbs(conn, user.tenant_id)[:PAGE_SIZE]
        evidence_of = {policy: evidence.find_records(conn, user.tenant_id, evidence.RecordFilter(policy_id=policy), limit=20)["records"]
                       for policy in (knowledge.RETRIEVAL_POLICY, knowledge.CHANGE_POLICY)}  # fmt: skip
    return _page("knowledge.html", user=user, bases=bases, retrievals=evidence_of[knowledge.RETRIEVAL_POLICY],
                 changes=evidence_of[knowledge.CHANGE_POLICY], policies=(knowledge.RETRIEVAL_POLICY, knowledge.CHANGE_POLICY))  # fmt: skip


@blueprint.get("/health")
def health() -> Response:
    user = _signed_in("records:read")
    return _page("health.html", user=user, contexts=user.may("contexts"))


@blueprint.get("/health.json")
def health_figures() -> Response:
    """The service's own totals (every organisation's: what GET /metrics shows, so only to an admin key when
    XASE_METRICS_TOKEN guards that); the page takes rates from two of them."""
    user = _signed_in("records:read")
    if state().settings.metrics_token is not None and not user.may("admin"):
        return json_response({"at": time.time(), "service": None})
    return json_response({"at": time.time(), "service": state().metrics.snapshot()})


@blueprint.get("/verify")
def verify_page() -> Response:
    """Paste a receipt and a key id; verified in the browser. Needs no account: it sends nothing anywhere."""
    return _page("verify.html", user=current_user())
