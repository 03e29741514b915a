"""Data access hardening (issue 12): staged uploads, declinable grants, a pageable access log.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 17:30:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: Union[str, None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("committed_seq", sa.BigInteger(), server_default="-1", nullable=False))
        batch_op.add_column(sa.Column("upload_lease", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("upload_started_at", sa.String(length=32), nullable=True))
    # Every record uploaded before this revision was committed with its upload.
    op.execute("UPDATE datasets SET committed_seq = COALESCE((SELECT MAX(seq) FROM dataset_records WHERE dataset_records.dataset_id = datasets.id), -1)")
    with op.batch_alter_table("dataset_grants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("declined_at", sa.String(length=32), nullable=True))
    with op.batch_alter_table("dataset_accesses", schema=None) as batch_op:
        batch_op.create_index("ix_dataset_accesses_log", ["dataset_id", "created_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dataset_accesses", schema=None) as batch_op:
        batch_op.drop_index("ix_dataset_accesses_log")
    with op.batch_alter_table("dataset_grants", schema=None) as batch_op:
        batch_op.drop_column("declined_at")
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_column("upload_started_at")
        batch_op.drop_column("upload_lease")
        batch_op.drop_column("committed_seq")
