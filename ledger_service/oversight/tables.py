"""Human oversight's tables: the organisation's rules (which policies need a second person) and every oversight
event, each row written in the transaction of its evidence record. Insert-only but for a rule's current value."""

from __future__ import annotations

from typing import Optional

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ledger_service.tables import Base

__all__ = ["OversightEvent", "OversightRule"]


class OversightRule(Base):
    """Whether a policy's overrides and stops need a second person's confirmation (EU AI Act Article 14(5))."""

    __tablename__ = "oversight_rules"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    two_person: Mapped[bool] = mapped_column(Boolean)
    changed_at: Mapped[str] = mapped_column(String(32))
    evidence_id: Mapped[str] = mapped_column(String(40))  # the record of the change (policy xase.oversight.rule)


class OversightEvent(Base):
    """A person acting on a decision: override, confirm, stop or escalate. `event_id` is its record's transaction id."""

    __tablename__ = "oversight_events"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    decision_id: Mapped[str] = mapped_column(String(128))
    policy_id: Mapped[str] = mapped_column(String(255))  # the decision's
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[Optional[str]] = mapped_column(Text)
    confirms: Mapped[Optional[str]] = mapped_column(String(40))  # the event a confirmation completes
    needs_confirmation: Mapped[bool] = mapped_column(Boolean)  # the two-person rule held for it when recorded
    recorded_at: Mapped[str] = mapped_column(String(32))

    __table_args__ = (
        Index("ix_oversight_events_decision", "tenant_id", "decision_id"),
        Index("uq_oversight_events_confirms", "tenant_id", "confirms", unique=True),  # one confirmation an event (NULLs apart)
    )
