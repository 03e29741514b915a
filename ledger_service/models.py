"""The ledger's tables (SQLAlchemy 2.0). Records and blocks are append-only: never updated, never deleted."""

from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base", "Tenant", "ApiKey", "ChainHead", "Record", "Block", "SigningKey", "Payload", "LedgerMeta",
    "Dataset", "DatasetRecord", "DatasetGrant", "AccessSession", "DatasetAccess",
]  # fmt: skip

Hash = String(64)
Position = BigInteger  # seq and block_seq outgrow 32 bits on a busy chain


class Base(DeclarativeBase):
    pass


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[str] = mapped_column(String(32))


class ApiKey(Base):
    """An API key, stored only as the SHA-256 of its secret plus a short visible prefix."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    prefix: Mapped[str] = mapped_column(String(20))
    key_hash: Mapped[str] = mapped_column(Hash, unique=True)
    scopes: Mapped[str] = mapped_column(String(200))  # space-separated
    created_at: Mapped[str] = mapped_column(String(32))
    revoked_at: Mapped[Optional[str]] = mapped_column(String(32))


class ChainHead(Base):
    """One row per tenant: where its record chain and block chain end. Locked for every append."""

    __tablename__ = "chain_heads"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    next_seq: Mapped[int] = mapped_column(Position, default=0)
    head_hash: Mapped[str] = mapped_column(Hash)
    next_block_seq: Mapped[int] = mapped_column(Position, default=0)
    head_block_hash: Mapped[str] = mapped_column(Hash)


class Record(Base):
    """A record body (EVIDENCE-FORMAT.md section 2) as columns, its hash, and what serves it."""

    __tablename__ = "records"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Position, primary_key=True)
    prev_hash: Mapped[str] = mapped_column(Hash)
    transaction_id: Mapped[str] = mapped_column(String(128))
    policy_id: Mapped[str] = mapped_column(String(256))
    policy_version: Mapped[Optional[str]] = mapped_column(String(256))
    decision_type: Mapped[Optional[str]] = mapped_column(String(256))
    confidence: Mapped[Optional[float]] = mapped_column(Float)
    processing_time_ms: Mapped[Optional[float]] = mapped_column(Float)
    input_hash: Mapped[str] = mapped_column(Hash)
    output_hash: Mapped[str] = mapped_column(Hash)
    context_hash: Mapped[str] = mapped_column(Hash)
    commitment: Mapped[str] = mapped_column(String(16))
    payload_ref: Mapped[Optional[str]] = mapped_column(Hash)
    recorded_at: Mapped[str] = mapped_column(String(32))
    record_hash: Mapped[str] = mapped_column(Hash)
    block_seq: Mapped[int] = mapped_column(Position)
    idempotency_key: Mapped[Optional[str]] = mapped_column(String(64))
    context_json: Mapped[str] = mapped_column(Text)  # the context as received, canonical JSON

    __table_args__ = (
        UniqueConstraint("tenant_id", "transaction_id", name="uq_records_transaction"),
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_records_idempotency"),
        Index("ix_records_policy", "tenant_id", "policy_id", "seq"),
    )


class Block(Base):
    """A signed block (section 3): body columns, block_hash and the base64 DER signature."""

    __tablename__ = "blocks"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    block_seq: Mapped[int] = mapped_column(Position, primary_key=True)
    prev_block_hash: Mapped[str] = mapped_column(Hash)
    first_seq: Mapped[int] = mapped_column(Position)
    last_seq: Mapped[int] = mapped_column(Position)
    merkle_root: Mapped[str] = mapped_column(Hash)
    head_record_hash: Mapped[str] = mapped_column(Hash)
    sealed_at: Mapped[str] = mapped_column(String(32))
    key_id: Mapped[str] = mapped_column(String(80))
    algorithm: Mapped[str] = mapped_column(String(32))
    block_hash: Mapped[str] = mapped_column(Hash)
    signature: Mapped[str] = mapped_column(Text)


class SigningKey(Base):
    """Every key that ever signed a block, so old receipts keep verifying after rotation."""

    __tablename__ = "signing_keys"
    key_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    public_pem: Mapped[str] = mapped_column(Text)
    algorithm: Mapped[str] = mapped_column(String(32))
    kms_key_arn: Mapped[Optional[str]] = mapped_column(String(300))
    first_used_at: Mapped[str] = mapped_column(String(32))


class Payload(Base):
    """A raw input/output blob kept because the caller asked (`store_payload`); erasable (section 7)."""

    __tablename__ = "payloads"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    payload_ref: Mapped[str] = mapped_column(Hash, primary_key=True)
    body: Mapped[Optional[str]] = mapped_column(Text)
    erased_at: Mapped[Optional[str]] = mapped_column(String(32))


class LedgerMeta(Base):
    __tablename__ = "ledger_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# ---------------------------------------------------------------- governed data access (seed 002)

JsonDocument = JSON().with_variant(JSONB(), "postgresql")


class Dataset(Base):
    """A data holder's dataset. `hash_key` keys the HMAC of `anonymize`/`hash`, so hashes join within it."""

    __tablename__ = "datasets"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    hash_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(32))

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
