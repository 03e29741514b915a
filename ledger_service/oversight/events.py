"""Human oversight as evidence (EU AI Act Article 14): a person overrides, confirms, stops or escalates a decision.

Each event is a record the ledger writes in the organisation's chain (policy `xase.oversight`, transaction id
`ovs_…`), in the same transaction as its row here: both commit or neither does. It names the decision it acts on,
which must be a decision of the same organisation (not one of the ledger's own records), and commits to that
decision's record hash. Where the organisation's rule for the decision's policy asks for two persons (Article
14(5)), an override or a stop awaits a `confirm` by another actor, naming it (`confirms`); an event is confirmed at
most once. A rule change is evidence too (policy `xase.oversight.rule`, `ovr_…`).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any, Optional

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from ledger_service import evidence
from ledger_service.auth import now
from ledger_service.db import write_transaction
from ledger_service.errors import Conflict, IdempotencyConflict, NotFound, ValidationFailed
from ledger_service.oversight.tables import OversightEvent, OversightRule
from xase import wire
from xase.evidence import canonicalize
from xase.references import LEDGER_POLICY_PREFIX

__all__ = ["ACTIONS", "OVERSIGHT_POLICY", "RULE_POLICY", "events_for", "record_event", "rules", "set_rule"]

ACTIONS = ("override", "confirm", "stop", "escalate")
SECOND_PERSON = ("override", "stop")  # what a two-person rule holds until confirmed
OVERSIGHT_POLICY = "xase.oversight"
RULE_POLICY = "xase.oversight.rule"
MAX_ACTOR, MAX_REASON, MAX_DETAILS_BYTES = 200, 2000, 16 * 1024


def _fail(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {message}", {"field": field})


def _event_fields(body: dict[str, Any]) -> dict[str, Any]:
    action = body.get("action")
    if action not in ACTIONS:
        raise _fail("action", f"one of {list(ACTIONS)}")
    actor = body.get("actor")
    if not wire.is_label(actor, MAX_ACTOR):
        raise _fail("actor", f"who acted: 1-{MAX_ACTOR} printable characters (an id, not a name, keeps personal data out of the chain)")
    reason = body.get("reason")
    if reason is not None and not (wire.is_label(reason, MAX_REASON) and reason.strip()):
        raise _fail("reason", f"1-{MAX_REASON} printable characters")
    if reason is None and action in SECOND_PERSON:
        raise _fail("reason", f"an {action} says why")
    confirms = body.get("confirms")
    if (confirms is not None) != (action == "confirm"):
        raise _fail("confirms", "a confirm names the event it confirms (ovs_…); no other action does")
    if confirms is not None and not (isinstance(confirms, str) and confirms.startswith("ovs_") and wire.is_transaction_id(confirms)):
        raise _fail("confirms", "an oversight event id, ovs_…")
    details = body.get("details")
    if details is not None and (not isinstance(details, dict) or len(canonicalize(details)) > MAX_DETAILS_BYTES):
        raise _fail("details", f"a JSON object of at most {MAX_DETAILS_BYTES} bytes")
    return {"action": action, "actor": actor, "reason": reason, "confirms": confirms, "details": details}


def _two_person(conn: Connection, tenant_id: str, policy_id: str) -> bool:
    found = conn.execute(select(OversightRule.two_person).where(OversightRule.tenant_id == tenant_id, OversightRule.policy_id == policy_id)).scalar()
    return bool(found)


def _row(conn: Connection, tenant_id: str, event_id: str) -> Any:
    return conn.execute(select(OversightEvent).where(OversightEvent.tenant_id == tenant_id, OversightEvent.event_id == event_id)).first()


def _check_confirmation(conn: Connection, tenant_id: str, decision_id: str, fields: dict[str, Any]) -> None:
    target = _row(conn, tenant_id, fields["confirms"])
    if target is None or target.decision_id != decision_id:
        raise NotFound(f"no oversight event {fields['confirms']!r} on decision {decision_id!r}")
    if not target.needs_confirmation:
        raise Conflict(f"{target.event_id} needs no confirmation (no two-person rule held for it)", {"confirms": target.event_id})
    if target.actor == fields["actor"]:
        raise Conflict("two-person rule: the actor of an event cannot confirm it", {"confirms": target.event_id})
    confirmed = _confirmation(conn, tenant_id, target.event_id)
    if confirmed is not None:
        raise Conflict(f"{target.event_id} was confirmed already, by {confirmed}", {"confirms": target.event_id, "confirmed_by": confirmed})


def _event_id(tenant_id: str, idempotency_key: Optional[str]) -> str:
    if idempotency_key is None:
        return "ovs_" + secrets.token_hex(12)
    return "ovs_" + hashlib.sha256(f"{tenant_id}\n{idempotency_key}".encode()).hexdigest()[:24]


def record_event(engine: Engine, tenant_id: str, decision_id: str, body: dict[str, Any], idempotency_key: Optional[str] = None) -> tuple[dict[str, Any], bool]:
    """Record an oversight event on a decision: (its view, whether it was replayed under its idempotency key)."""
    fields = _event_fields(body)
    event_id = _event_id(tenant_id, idempotency_key)
    with write_transaction(engine) as conn:
        existing = _row(conn, tenant_id, event_id)
        if existing is not None:
            if (existing.decision_id, existing.action, existing.actor, existing.reason, existing.confirms) != (
                decision_id, fields["action"], fields["actor"], fields["reason"], fields["confirms"]):  # fmt: skip
                raise IdempotencyConflict("this Idempotency-Key was used for another oversight event", {"event_id": event_id})
            return _view(conn, existing), True
        decision = evidence.get_record(conn, tenant_id, decision_id)
        policy_id = decision["record"]["policy_id"]
        if policy_id.startswith(LEDGER_POLICY_PREFIX):
            raise _fail("transaction_id", "oversight acts on decisions, not on the ledger's own records")
        if fields["confirms"] is not None:
            _check_confirmation(conn, tenant_id, decision_id, fields)
        needs = fields["action"] in SECOND_PERSON and _two_person(conn, tenant_id, policy_id)
        event = {"decision": decision_id, "decision_record_hash": decision["record_hash"], "action": fields["action"], "actor": fields["actor"],
                 "reason": fields["reason"], "confirms": fields["confirms"], "needs_confirmation": needs}  # fmt: skip
        recorded = evidence.current_ledger().record(tenant_id, {
            "transaction_id": event_id, "policy_id": OVERSIGHT_POLICY, "decision_type": f"oversight.{fields['action']}",
            "input": {**event, "details": fields["details"]}, "output": {"needs_confirmation": needs},
            "context": {"oversight": event, **({"details": fields["details"]} if fields["details"] is not None else {})},
        }, within=conn)  # fmt: skip
        try:
            conn.execute(insert(OversightEvent).values(
                tenant_id=tenant_id, event_id=event_id, decision_id=decision_id, policy_id=policy_id, action=fields["action"], actor=fields["actor"],
                reason=fields["reason"], confirms=fields["confirms"], needs_confirmation=needs, recorded_at=recorded["timestamp"]))  # fmt: skip
        except IntegrityError:  # a confirmation racing another for the same event
            raise Conflict(f"{fields['confirms']} was confirmed already", {"confirms": fields["confirms"]}) from None
        return _view(conn, _row(conn, tenant_id, event_id)), False


def _confirmation(conn: Connection, tenant_id: str, event_id: str) -> Optional[str]:
    """The event that confirmed `event_id`, if any."""
    found = conn.execute(select(OversightEvent.event_id).where(OversightEvent.tenant_id == tenant_id, OversightEvent.confirms == event_id)).scalar()
    return None if found is None else str(found)


def _view(conn: Connection, row: Any) -> dict[str, Any]:
    confirmed_by = _confirmation(conn, row.tenant_id, row.event_id)
    status = ("confirmed" if confirmed_by else "awaiting_confirmation") if row.needs_confirmation else "final"
    return {"event_id": row.event_id, "transaction_id": row.event_id, "decision_id": row.decision_id, "policy_id": row.policy_id,
            "action": row.action, "actor": row.actor, "reason": row.reason, "confirms": row.confirms, "needs_confirmation": bool(row.needs_confirmation),
            "status": status, "confirmed_by": confirmed_by, "recorded_at": row.recorded_at}  # fmt: skip


def events_for(
    conn: Connection, tenant_id: str, decision_id: Optional[str] = None, since: Optional[str] = None, until: Optional[str] = None
) -> list[dict[str, Any]]:
    """Oversight events of the organisation (on one decision, or in [since, until)), oldest first."""
    query = select(OversightEvent).where(OversightEvent.tenant_id == tenant_id)
    if decision_id is not None:
        query = query.where(OversightEvent.decision_id == decision_id)
    if since is not None:
        query = query.where(OversightEvent.recorded_at >= since)
    if until is not None:
        query = query.where(OversightEvent.recorded_at < until)
    return [_view(conn, row) for row in conn.execute(query.order_by(OversightEvent.recorded_at, OversightEvent.event_id)).all()]


def set_rule(engine: Engine, tenant_id: str, policy_id: str, two_person: Any) -> dict[str, Any]:
    """Whether overrides and stops of `policy_id`'s decisions need a second person; the change and its evidence commit together."""
    if not isinstance(two_person, bool):
        raise _fail("two_person", "true or false")
    if not wire.is_label(policy_id, 255) or policy_id.startswith(LEDGER_POLICY_PREFIX):
        raise _fail("policy_id", "a policy of the organisation's decisions")
    with write_transaction(engine) as conn:
        changed = now()
        recorded = evidence.current_ledger().record(tenant_id, {
            "transaction_id": "ovr_" + secrets.token_hex(12), "policy_id": RULE_POLICY, "decision_type": "oversight.rule",
            "input": {"policy_id": policy_id, "two_person": two_person}, "output": {"two_person": two_person},
            "context": {"policy_id": policy_id, "two_person": two_person},
        }, within=conn)  # fmt: skip
        values = {"two_person": two_person, "changed_at": changed, "evidence_id": recorded["transaction_id"]}
        done = conn.execute(update(OversightRule).where(OversightRule.tenant_id == tenant_id, OversightRule.policy_id == policy_id).values(**values))
        if done.rowcount == 0:
            conn.execute(insert(OversightRule).values(tenant_id=tenant_id, policy_id=policy_id, **values))
    return {"policy_id": policy_id, **values}


def rules(conn: Connection, tenant_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(OversightRule).where(OversightRule.tenant_id == tenant_id).order_by(OversightRule.policy_id)).all()
    return [{"policy_id": row.policy_id, "two_person": bool(row.two_person), "changed_at": row.changed_at, "evidence_id": row.evidence_id} for row in rows]
