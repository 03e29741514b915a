"""Batches of one SDK client chained in the order it sent them (issue 23): how far each client's stream is chained.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 06:10:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: Union[str, None] = "0007"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "batch_streams",
        sa.Column("tenant_id", sa.String(length=40), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("stream_id", sa.String(length=64), nullable=False),
        sa.Column("last_batch", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "stream_id"),
    )


def downgrade() -> None:
    op.drop_table("batch_streams")
