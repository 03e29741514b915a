"""Agent context store (issue 16): per-tenant counters, contexts, turns, blobs, and the type registry.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 18:19:16.421948
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: Union[str, None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "cxdb_blobs",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("compression", sa.SmallInteger(), nullable=False),
        sa.Column("uncompressed_len", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("tenant_id", "content_hash"),
    )
    op.create_table(
        "cxdb_contexts",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("context_id", sa.BigInteger(), nullable=False),
        sa.Column("head_turn_id", sa.BigInteger(), nullable=False),
        sa.Column("head_depth", sa.BigInteger(), nullable=False),
        sa.Column("head_turn_hash", sa.String(length=64), nullable=False),
        sa.Column("base_turn_id", sa.BigInteger(), nullable=False),
        sa.Column("parent_context_id", sa.BigInteger(), nullable=True),
        sa.Column("root_context_id", sa.BigInteger(), nullable=False),
        sa.Column("client_tag", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("sealed_turn_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("tenant_id", "context_id"),
    )
    with op.batch_alter_table("cxdb_contexts", schema=None) as batch_op:
        batch_op.create_index("ix_cxdb_contexts_parent", ["tenant_id", "parent_context_id"], unique=False)
        batch_op.create_index("ix_cxdb_contexts_tag", ["tenant_id", "client_tag"], unique=False)

    op.create_table(
        "cxdb_counters",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("next_context_id", sa.BigInteger(), nullable=False),
        sa.Column("next_turn_id", sa.BigInteger(), nullable=False),
        sa.Column("blobs", sa.BigInteger(), nullable=False),
        sa.Column("storage_bytes", sa.BigInteger(), nullable=False),
        sa.Column("registry_bundle_id", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "cxdb_registry_bundles",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("bundle_id", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("etag", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("tenant_id", "bundle_id"),
    )
    op.create_table(
        "cxdb_registry_enums",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("enum_id", sa.String(length=256), nullable=False),
        sa.Column("bundle_id", sa.String(length=200), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("tenant_id", "enum_id"),
    )
    op.create_table(
        "cxdb_registry_types",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("type_id", sa.String(length=256), nullable=False),
        sa.Column("type_version", sa.Integer(), nullable=False),
        sa.Column("bundle_id", sa.String(length=200), nullable=False),
        sa.Column("descriptor", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("tenant_id", "type_id", "type_version"),
    )
    op.create_table(
        "cxdb_turns",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("turn_id", sa.BigInteger(), nullable=False),
        sa.Column("parent_turn_id", sa.BigInteger(), nullable=False),
        sa.Column("context_id", sa.BigInteger(), nullable=False),
        sa.Column("depth", sa.BigInteger(), nullable=False),
        sa.Column("type_id", sa.String(length=256), nullable=False),
        sa.Column("type_version", sa.Integer(), nullable=False),
        sa.Column("encoding", sa.SmallInteger(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("turn_hash", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("tenant_id", "turn_id"),
        sa.UniqueConstraint("tenant_id", "context_id", "idempotency_key", name="uq_cxdb_turns_idempotency"),
    )


def downgrade() -> None:
    op.drop_table("cxdb_turns")
    op.drop_table("cxdb_registry_types")
    op.drop_table("cxdb_registry_enums")
    op.drop_table("cxdb_registry_bundles")
    op.drop_table("cxdb_counters")
    with op.batch_alter_table("cxdb_contexts", schema=None) as batch_op:
        batch_op.drop_index("ix_cxdb_contexts_tag")
        batch_op.drop_index("ix_cxdb_contexts_parent")

    op.drop_table("cxdb_contexts")
    op.drop_table("cxdb_blobs")
