"""Encrypted knowledge bases (issue 14): bases, chunks, execution contexts, bindings, knowledge keys and permissions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 14:40:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: Union[str, None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "knowledge_bases",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("next_chunk_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_knowledge_bases_name"),
    )
    with op.batch_alter_table("knowledge_bases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_knowledge_bases_tenant_id"), ["tenant_id"], unique=False)
    op.create_table(
        "knowledge_chunks",
        sa.Column("kb_id", sa.String(length=40), nullable=False),
        sa.Column("chunk_id", sa.BigInteger(), nullable=False),
        sa.Column("context_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("meta_data", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["kb_id"], ["knowledge_bases.id"]),
        sa.PrimaryKeyConstraint("kb_id", "chunk_id"),
    )
    op.create_table(
        "knowledge_contexts",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("context_id", sa.String(length=128), nullable=False),
        sa.Column("scheme", sa.String(length=40), nullable=False),
        sa.Column("n_squared", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("tenant_id", "context_id"),
    )
    op.create_table(
        "knowledge_bindings",
        sa.Column("kb_id", sa.String(length=40), nullable=False),
        sa.Column("context_id", sa.String(length=128), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["kb_id"], ["knowledge_bases.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("kb_id", "context_id"),
    )
    with op.batch_alter_table("knowledge_bindings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_knowledge_bindings_tenant_id"), ["tenant_id"], unique=False)
    op.create_table(
        "knowledge_keys",
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("first_n", sa.String(length=8), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("key_id"),
    )
    with op.batch_alter_table("knowledge_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_knowledge_keys_tenant_id"), ["tenant_id"], unique=False)
    op.create_table(
        "knowledge_permissions",
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("kb_id", sa.String(length=40), nullable=False),
        sa.Column("permission", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["kb_id"], ["knowledge_bases.id"]),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"]),
        sa.PrimaryKeyConstraint("key_id", "kb_id"),
    )


def downgrade() -> None:
    op.drop_table("knowledge_permissions")
    with op.batch_alter_table("knowledge_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_keys_tenant_id"))
    op.drop_table("knowledge_keys")
    with op.batch_alter_table("knowledge_bindings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_bindings_tenant_id"))
    op.drop_table("knowledge_bindings")
    op.drop_table("knowledge_contexts")
    op.drop_table("knowledge_chunks")
    with op.batch_alter_table("knowledge_bases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_bases_tenant_id"))
    op.drop_table("knowledge_bases")
