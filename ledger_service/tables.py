"""Tables every subsystem shares: the declarative base, tenants, API keys and the ledger's key-value settings.

Each subsystem declares its own tables in its `tables.py` on this `Base`;
`ledger_service.schema` imports them all for Alembic.
"""

from __future__ import annotations

from typing import Optional

from sqlalchemy import JSON, BigInteger, ForeignKey, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "Tenant", "ApiKey", "LedgerMeta", "Hash", "Position", "JsonDocument"]

Hash = String(64)
Position = BigInteger  # seq and block_seq outgrow 32 bits on a busy chain
JsonDocument = JSON().with_variant(JSONB(), "postgresql")


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


class LedgerMeta(Base):
    __tablename__ = "ledger_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
