"""The evidence ledger's tables. Records and blocks are append-only: never updated, never deleted."""

from __future__ import annotations

from typing import Optional

from sqlalchemy import Boolean, Float, ForeignKey, Index, LargeBinary, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ledger_service.tables import Base, Hash, Position

__all__ = ["ChainHead", "Record", "Block", "SigningKey", "Payload", "BatchStream", "LogTile", "LogCheckpoint", "LogCosignature", "LogKey", "LogSetting"]


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


class BatchStream(Base):
    """How far one SDK client's numbered batches are chained (`ordering`): not evidence, an ordering aid."""

    __tablename__ = "batch_streams"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    stream_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_batch: Mapped[int] = mapped_column(Position)
    updated_at: Mapped[str] = mapped_column(String(32))


class LogTile(Base):
    """A full hash tile of an organisation's tree (`tree`): 256 hashes of height 8*level and their subtree's root."""

    __tablename__ = "log_tiles"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    tile_index: Mapped[int] = mapped_column(Position, primary_key=True)
    hashes: Mapped[bytes] = mapped_column(LargeBinary)
    root: Mapped[bytes] = mapped_column(LargeBinary)


class LogCheckpoint(Base):
    """A signed checkpoint of an organisation's tree (`checkpoints`): the note exactly as served."""

    __tablename__ = "log_checkpoints"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    tree_size: Mapped[int] = mapped_column(Position, primary_key=True)
    root: Mapped[str] = mapped_column(Hash)
    origin: Mapped[str] = mapped_column(String(300))
    note: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[str] = mapped_column(String(32))


class LogKey(Base):
    """Every Ed25519 key that ever signed checkpoints (base64 of its 32 bytes), so old checkpoints keep verifying."""

    __tablename__ = "log_keys"
    public_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(32))
    first_used_at: Mapped[str] = mapped_column(String(32))


class LogSetting(Base):
    """Whether an organisation's log is open to everyone, read-only; the record of the change that set it."""

    __tablename__ = "log_settings"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    public: Mapped[bool] = mapped_column(Boolean)
    changed_at: Mapped[str] = mapped_column(String(32))
    transaction_id: Mapped[str] = mapped_column(String(128))


class LogCosignature(Base):
    """A witness's cosignature (C2SP cosignature/v1) of one checkpoint, as the signature line it sent. Insert-only."""

    __tablename__ = "log_cosignatures"
    __table_args__ = (Index("ix_log_cosignatures_witness", "tenant_id", "key_id", "tree_size"),)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    tree_size: Mapped[int] = mapped_column(Position, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(8), primary_key=True)  # the witness key's ID, hex
    witness: Mapped[str] = mapped_column(String(300))  # the witness's name
    line: Mapped[str] = mapped_column(Text)
    cosigned_at: Mapped[int] = mapped_column(Position)  # the POSIX time the cosignature states
