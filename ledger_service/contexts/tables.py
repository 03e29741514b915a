"""Agent context store's tables (seed 003): per-tenant counters, contexts, turns, blobs and the type registry.

Turns and blobs are never updated or deleted: a turn's hash commits to its parent's, its type and its
content hash (xase.contexts.history), and heads are sealed into the tenant's evidence chain. A context
row is a mutable head pointer, like a git branch; `sealed_turn_id` is the head last sealed.
"""

from __future__ import annotations

from typing import Optional

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ledger_service.tables import Base

__all__ = ["ContextCounters", "AgentContext", "Turn", "Blob", "RegistryBundle", "RegistryType", "RegistryEnum"]


class ContextCounters(Base):
    """One row per tenant, locked by every write: ids are handed out here (decimal, per tenant, never reused),
    and the blob totals the stats answer without scanning."""

    __tablename__ = "cxdb_counters"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    next_context_id: Mapped[int] = mapped_column(BigInteger, default=1)
    next_turn_id: Mapped[int] = mapped_column(BigInteger, default=1)
    blobs: Mapped[int] = mapped_column(BigInteger, default=0)
    storage_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    registry_bundle_id: Mapped[Optional[str]] = mapped_column(String(200), nullable=True)  # the latest published


class AgentContext(Base):
    __tablename__ = "cxdb_contexts"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    context_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    head_turn_id: Mapped[int] = mapped_column(BigInteger)
    head_depth: Mapped[int] = mapped_column(BigInteger)
    head_turn_hash: Mapped[str] = mapped_column(String(64))  # zeros while empty
    base_turn_id: Mapped[int] = mapped_column(BigInteger)
    parent_context_id: Mapped[Optional[int]] = mapped_column(BigInteger, nullable=True)
    root_context_id: Mapped[int] = mapped_column(BigInteger)
    client_tag: Mapped[Optional[str]] = mapped_column(String(200), nullable=True)
    created_by: Mapped[str] = mapped_column(String(40))  # the API key's id
    created_at: Mapped[str] = mapped_column(String(32))
    sealed_turn_id: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (
        Index("ix_cxdb_contexts_parent", "tenant_id", "parent_context_id"),
        Index("ix_cxdb_contexts_tag", "tenant_id", "client_tag"),
    )


class Turn(Base):
    __tablename__ = "cxdb_turns"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    turn_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    parent_turn_id: Mapped[int] = mapped_column(BigInteger)
    context_id: Mapped[int] = mapped_column(BigInteger)  # where it was appended
    depth: Mapped[int] = mapped_column(BigInteger)
    type_id: Mapped[str] = mapped_column(String(256))
    type_version: Mapped[int] = mapped_column(Integer)
    encoding: Mapped[int] = mapped_column(SmallInteger)
    content_hash: Mapped[str] = mapped_column(String(64))
    turn_hash: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[Optional[str]] = mapped_column(String(128), nullable=True)
    created_at: Mapped[str] = mapped_column(String(32))

    __table_args__ = (UniqueConstraint("tenant_id", "context_id", "idempotency_key", name="uq_cxdb_turns_idempotency"),)


class Blob(Base):
    """A payload, stored once per tenant: `data` zstd-compressed when `compression` is 1."""

    __tablename__ = "cxdb_blobs"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    compression: Mapped[int] = mapped_column(SmallInteger)
    uncompressed_len: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[str] = mapped_column(String(32))


class RegistryBundle(Base):
    __tablename__ = "cxdb_registry_bundles"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    bundle_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    body: Mapped[str] = mapped_column(Text)  # canonical JSON (JCS)
    etag: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(32))


class RegistryType(Base):
    __tablename__ = "cxdb_registry_types"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    type_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    type_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    bundle_id: Mapped[str] = mapped_column(String(200))
    descriptor: Mapped[str] = mapped_column(Text)  # canonical JSON of the version's {"fields": ...}


class RegistryEnum(Base):
    __tablename__ = "cxdb_registry_enums"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    enum_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    bundle_id: Mapped[str] = mapped_column(String(200))
    labels: Mapped[str] = mapped_column(Text)  # canonical JSON {"1": "system", ...}
