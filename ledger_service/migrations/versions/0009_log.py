"""One append-only Merkle tree per organisation (evidence format v2): hash tiles, signed checkpoints, the log's keys.

The trees of existing chains are built after the schema by `xase-ledger db upgrade` (and at start),
a few tiles a transaction, so that an interrupted build resumes where it stopped.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: Union[str, None] = "0008"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "log_tiles",
        sa.Column("tenant_id", sa.String(length=40), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("tile_index", sa.BigInteger(), nullable=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "level", "tile_index"),
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("tenant_id", sa.String(length=40), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.String(length=64), nullable=False),
        sa.Column("origin", sa.String(length=300), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("signed_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "tree_size"),
    )
    op.create_table(
        "log_keys",
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=32), nullable=False),
        sa.Column("first_used_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("public_key"),
    )


def downgrade() -> None:
    op.drop_table("log_keys")
    op.drop_table("log_checkpoints")
    op.drop_table("log_tiles")
