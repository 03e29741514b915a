"""The explanation of one decision (EU AI Act Article 86), from the evidence alone: GET /records/{id}/explanation.

The decision, its policy and version, the commitments to its input and output and any stored payload, what it
cites (retrievals and data accesses of the same chain, an agent-context turn) with whether each resolves, the
oversight events on it, and its receipt, which verifies offline. As JSON, or as a page a person reads
(`Accept: text/html` or `?format=html`): self-contained, no script, every value escaped.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template_string, request
from sqlalchemy import Connection

from ledger_service import contexts, evidence, oversight
from ledger_service.web import PREFIX, json_response, principal, reading, receipt_url_base
from xase.references import BadReference, EvidenceReference, TurnReference, evidence_problem, parse_references

__all__ = ["EXPLANATION_VERSION", "blueprint", "explain"]

EXPLANATION_VERSION = 1
_DECISION_FIELDS = ("transaction_id", "policy_id", "policy_version", "decision_type", "confidence", "processing_time_ms", "recorded_at", "seq")


def _cited(conn: Connection, tenant_id: str, citing_seq: int, reference: EvidenceReference) -> dict[str, Any]:
    cited = evidence.cited_record(conn, tenant_id, reference.transaction_id)
    problem = evidence_problem(reference, citing_seq, cited)
    found: dict[str, Any] = {"kind": reference.member, "transaction_id": reference.transaction_id, "resolves": problem is None}
    if problem is not None:
        return {**found, "problem": problem}
    record = evidence.get_record(conn, tenant_id, reference.transaction_id)["record"]
    return {**found, "policy_id": record["policy_id"], "decision_type": record["decision_type"], "recorded_at": record["recorded_at"]}


def _references(conn: Connection, tenant_id: str, record: dict[str, Any], context: Any) -> list[dict[str, Any]]:
    try:
        references = parse_references(context)
    except BadReference as bad:  # taken in before references were checked: a claim that fails, never a crash
        return [{"kind": bad.member, "resolves": False, "problem": str(bad)}]
    found = []
    for reference in references:
        if isinstance(reference, TurnReference):
            problem = contexts.turn_reference_problem(conn, tenant_id, reference.turn_id, reference.turn_hash)
            found.append({"kind": "cxdb", "context_id": str(reference.context_id), "turn_id": str(reference.turn_id), "turn_hash": reference.turn_hash,
                          "resolves": problem is None, **({"problem": problem} if problem else {})})  # fmt: skip
        else:
            found.append(_cited(conn, tenant_id, record["seq"], reference))
    return found


def explain(conn: Connection, tenant_id: str, transaction_id: str) -> dict[str, Any]:
    """Everything the evidence says about one decision; NotFound for a record the organisation does not have."""
    stored = evidence.get_record(conn, tenant_id, transaction_id)
    record = stored["record"]
    return {
        "explanation_version": EXPLANATION_VERSION,
        "decision": {**{name: record[name] for name in _DECISION_FIELDS}, "record_hash": stored["record_hash"]},
        "commitments": {"scheme": record["commitment"], "input_hash": record["input_hash"], "output_hash": record["output_hash"]},
        "payload": stored["payload"],
        "context": stored["context"],
        "references": _references(conn, tenant_id, record, stored["context"]),
        "oversight": oversight.events_for(conn, tenant_id, transaction_id),
        "receipt": evidence.receipt(conn, tenant_id, transaction_id),
        "receipt_url": receipt_url_base() + transaction_id,
    }


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Decision {{ d.decision.transaction_id }}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#111}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:.25rem .5rem;border-bottom:1px solid #eee}
th{width:14rem;font-weight:600}code,pre{font:13px ui-monospace,monospace;word-break:break-all;white-space:pre-wrap}
.no{color:#a00}.yes{color:#060}@media print{body{margin:0}}
</style></head><body>
<h1>Explanation of decision <code>{{ d.decision.transaction_id }}</code></h1>
<p>Built from the organisation's evidence ledger. The receipt at the end verifies offline with <code>xase verify</code>.</p>
<h2>The decision</h2><table>
{% for name, value in d.decision.items() %}<tr><th>{{ name }}</th><td><code>{{ value }}</code></td></tr>{% endfor %}
</table>
<h2>What it was made on</h2><table>
<tr><th>commitment scheme</th><td><code>{{ d.commitments.scheme }}</code></td></tr>
<tr><th>input (hash)</th><td><code>{{ d.commitments.input_hash }}</code></td></tr>
<tr><th>output (hash)</th><td><code>{{ d.commitments.output_hash }}</code></td></tr>
<tr><th>stored payload</th><td>{% if d.payload %}<pre>{{ d.payload | tojson(indent=2) }}</pre>{% else %}none: only the hashes were recorded{% endif %}</td></tr>
<tr><th>context</th><td><pre>{{ d.context | tojson(indent=2) }}</pre></td></tr>
</table>
<h2>Evidence it cites</h2>
{% if d.references %}<table>{% for r in d.references %}<tr><th>{{ r.kind }}</th><td><code>{{ r.transaction_id or r.turn_id }}</code>
<span class="{{ 'yes' if r.resolves else 'no' }}">{{ 'resolves' if r.resolves else 'does not resolve: ' ~ r.problem }}</span></td></tr>{% endfor %}</table>
{% else %}<p>None.</p>{% endif %}
<h2>Human oversight</h2>
{% if d.oversight %}<table><tr><th>event</th><td><b>action, actor, status, reason</b></td></tr>
{% for e in d.oversight %}<tr><th><code>{{ e.event_id }}</code><br>{{ e.recorded_at }}</th><td>{{ e.action }} by <code>{{ e.actor }}</code>, {{ e.status }}
{% if e.confirms %}(confirms <code>{{ e.confirms }}</code>){% endif %}{% if e.reason %}<br>{{ e.reason }}{% endif %}</td></tr>{% endfor %}</table>
{% else %}<p>No oversight event on this decision.</p>{% endif %}
<h2>Receipt</h2><pre>{{ d.receipt | tojson(indent=2) }}</pre>
</body></html>"""

blueprint = Blueprint("explanations", __name__, url_prefix=PREFIX)


@blueprint.get("/records/<transaction_id>/explanation")
def explanation(transaction_id: str) -> Response:
    caller = principal("records:read")
    with reading() as conn:
        explained = explain(conn, caller.tenant_id, transaction_id)
    wants_html = request.args.get("format") == "html" or request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"
    if wants_html:
        return Response(render_template_string(_PAGE, d=explained), content_type="text/html; charset=utf-8")
    return json_response(explained)
