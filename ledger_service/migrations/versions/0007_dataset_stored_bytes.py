"""Per-tenant storage quotas for governed data (issue 22): each dataset counts the bytes its published records hold.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 05:45:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: Union[str, None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


_COUNT = ("UPDATE datasets SET stored_bytes = (SELECT COALESCE(SUM({}), 0) FROM dataset_records "
          "WHERE dataset_records.dataset_id = datasets.id AND dataset_records.seq <= datasets.committed_seq)")  # fmt: skip
BACKFILL = {"postgresql": _COUNT.format("OCTET_LENGTH(body::text)"), "sqlite": _COUNT.format("LENGTH(CAST(body AS BLOB))")}


def upgrade() -> None:
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stored_bytes", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute(BACKFILL[op.get_bind().dialect.name])


def downgrade() -> None:
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_column("stored_bytes")
