"""Encrypted knowledge bases' tables (seed 000): knowledge bases, their encrypted chunks, execution contexts,
the bindings between the two, and per-key permissions.

Nothing here is evidence: chunks may be updated and deleted. What is evidence is the
record of each change and each retrieval, appended to the organisation's chain.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ledger_service.tables import Base, JsonDocument

__all__ = ["KnowledgeBase", "Chunk", "ExecutionContext", "ContextBinding", "KnowledgeKey", "KeyPermission"]


class KnowledgeBase(Base):
    """`next_chunk_id` is handed out under the row's write lock: chunk ids are per base and never reused."""

    __tablename__ = "knowledge_bases"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    next_chunk_id: Mapped[int] = mapped_column(BigInteger, default=1)
    stored_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")  # its chunks' vectors, contents and names
    created_at: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[str] = mapped_column(String(32))

    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_knowledge_bases_name"),)


class Chunk(Base):
    """An encrypted chunk: AES ciphertext text, and its embedding as Paillier ciphertexts (`vector`: msgpack
    of their little-endian bytes). `meta_data` is plaintext JSON, what metadata filters run on."""

    __tablename__ = "knowledge_chunks"
    kb_id: Mapped[str] = mapped_column(ForeignKey("knowledge_bases.id"), primary_key=True)
    chunk_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    context_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    meta_data: Mapped[Any] = mapped_column(JsonDocument)
    created_at: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[str] = mapped_column(String(32))


class ExecutionContext(Base):
    """A client's execution context as it sent it (secret key AES-encrypted); `n_squared` from its public key."""

    __tablename__ = "knowledge_contexts"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    context_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    scheme: Mapped[str] = mapped_column(String(40))
    n_squared: Mapped[str] = mapped_column(Text)
    data: Mapped[str] = mapped_column(Text)  # the context's JSON, canonical
    created_at: Mapped[str] = mapped_column(String(32))


class ContextBinding(Base):
    __tablename__ = "knowledge_bindings"
    kb_id: Mapped[str] = mapped_column(ForeignKey("knowledge_bases.id"), primary_key=True)
    context_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    created_at: Mapped[str] = mapped_column(String(32))


class KnowledgeKey(Base):
    """An API key created through the knowledge admin plane: the description and first characters it is listed with."""

    __tablename__ = "knowledge_keys"
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    first_n: Mapped[str] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(Text, default="")


class KeyPermission(Base):
    """What one key may do in one knowledge base: a bit mask, 1 read, 2 write, 4 delete (as 1, 3, 7)."""

    __tablename__ = "knowledge_permissions"
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"), primary_key=True)
    kb_id: Mapped[str] = mapped_column(ForeignKey("knowledge_bases.id"), primary_key=True)
    permission: Mapped[int] = mapped_column(Integer)
