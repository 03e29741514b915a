"""Per-tenant storage quotas (issue 22): each knowledge base counts the bytes its chunks hold.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 03:30:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: Union[str, None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("knowledge_bases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stored_bytes", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute(
        "UPDATE knowledge_bases SET stored_bytes = (SELECT COALESCE(SUM(LENGTH(vector) + LENGTH(content) + LENGTH(name)), 0) "
        "FROM knowledge_chunks WHERE knowledge_chunks.kb_id = knowledge_bases.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("knowledge_bases", schema=None) as batch_op:
        batch_op.drop_column("stored_bytes")
