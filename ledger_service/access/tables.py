"""Governed data access's tables (seed 002): datasets, their records, grants, sessions and the access log."""

from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ledger_service.tables import Base, JsonDocument, Position

__all__ = ["Dataset", "DatasetRecord", "DatasetGrant", "AccessSession", "DatasetAccess"]


class Dataset(Base):
    """A data holder's dataset. `hash_key` keys the HMAC of `anonymize`/`hash`, so hashes join within it.

    Records with `seq <= committed_seq` are the dataset; an upload in progress (holding `upload_lease`)
    stages rows beyond it in short transactions and publishes them all at once by moving `committed_seq`.
    """

    __tablename__ = "datasets"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    hash_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(32))
    committed_seq: Mapped[int] = mapped_column(Position, default=-1, server_default="-1")
    upload_lease: Mapped[Optional[str]] = mapped_column(String(40))
    upload_started_at: Mapped[Optional[str]] = mapped_column(String(32))
    stored_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")  # canonical bodies of its published records

    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_datasets_name"),)


class DatasetRecord(Base):
    """One record of a dataset, as canonical JSON; `seq` is upload order, which cursors page by."""

    __tablename__ = "dataset_records"
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Position, primary_key=True)
    record_id: Mapped[str] = mapped_column(String(128))
    body: Mapped[Any] = mapped_column(JsonDocument)
    created_at: Mapped[str] = mapped_column(String(32))

    __table_args__ = (UniqueConstraint("dataset_id", "record_id", name="uq_dataset_records_id"),)


class DatasetGrant(Base):
    """Another tenant may open sessions on a dataset for these purposes, for at most this long."""

    __tablename__ = "dataset_grants"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    grantee_tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    purposes: Mapped[str] = mapped_column(Text)  # JSON list of purpose names
    max_duration_seconds: Mapped[int] = mapped_column(Position)
    created_at: Mapped[str] = mapped_column(String(32))
    revoked_at: Mapped[Optional[str]] = mapped_column(String(32))
    revoked_by: Mapped[Optional[str]] = mapped_column(String(200))
    revoke_reason: Mapped[Optional[str]] = mapped_column(Text)
    declined_at: Mapped[Optional[str]] = mapped_column(String(32))  # the grantee refused it


class AccessSession(Base):
    """A time-boxed, purpose-bound session of a consumer tenant on a dataset."""

    __tablename__ = "access_sessions"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("dataset_grants.id"))
    purpose: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[str] = mapped_column(String(32))
    closed_at: Mapped[Optional[str]] = mapped_column(String(32))
    close_reason: Mapped[Optional[str]] = mapped_column(Text)
    revoked_at: Mapped[Optional[str]] = mapped_column(String(32))
    revoked_by: Mapped[Optional[str]] = mapped_column(String(200))
    revoke_reason: Mapped[Optional[str]] = mapped_column(Text)


class DatasetAccess(Base):
    """The holder's log of every access: who, why, which records, and the evidence record proving it."""

    __tablename__ = "dataset_accesses"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("access_sessions.id"), index=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))  # the consumer
    action: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(200))
    record_ids: Mapped[Any] = mapped_column(JsonDocument)
    transaction_id: Mapped[str] = mapped_column(String(128))  # in the consumer's chain
    created_at: Mapped[str] = mapped_column(String(32))

    __table_args__ = (Index("ix_dataset_accesses_log", "dataset_id", "created_at", "id"),)
