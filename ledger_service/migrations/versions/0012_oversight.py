"""Human oversight: rules (two-person confirmation per policy) and events on decisions.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 19:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: Union[str, None] = "0011"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "oversight_rules",
        sa.Column("tenant_id", sa.String(length=40), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("policy_id", sa.String(length=255), nullable=False),
        sa.Column("two_person", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.String(length=32), nullable=False),
        sa.Column("evidence_id", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "policy_id"),
    )
    op.create_table(
        "oversight_events",
        sa.Column("tenant_id", sa.String(length=40), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("decision_id", sa.String(length=128), nullable=False),
        sa.Column("policy_id", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("confirms", sa.String(length=40), nullable=True),
        sa.Column("needs_confirmation", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "event_id"),
    )
    op.create_index("ix_oversight_events_decision", "oversight_events", ["tenant_id", "decision_id"])
    op.create_index("uq_oversight_events_confirms", "oversight_events", ["tenant_id", "confirms"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_oversight_events_confirms", table_name="oversight_events")
    op.drop_index("ix_oversight_events_decision", table_name="oversight_events")
    op.drop_table("oversight_events")
    op.drop_table("oversight_rules")
