"""Signed checkpoints of each organisation's tree (C2SP tlog-checkpoint in a C2SP signed note).

A checkpoint states the organisation's log origin, its tree size and root, signed twice: Ed25519 (key type 0x01,
what witnesses and the Go tooling verify) and the ledger's ECDSA P-256 block key (type 0x02). Both lines use the
origin as key name. They are stored, insert-only, one row per (organisation, size).

A new checkpoint is signed at most every `checkpoint_interval` seconds while the tree grows, never one per
record: an append pokes the `Checkpointer`, which signs at once when the last checkpoint is that old, and else
schedules one for when it will be. Several server processes may each sign; a process that finds a checkpoint
signed by another within the interval drops its own.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from sqlalchemy import Connection, Engine, Select, func, insert, select
from sqlalchemy.exc import IntegrityError

from ledger_service.auth import now
from ledger_service.db import read_connection, write_transaction
from ledger_service.evidence import tree
from ledger_service.evidence.kms import signing_unavailable
from ledger_service.evidence.signing import Signer
from ledger_service.evidence.tables import LogCheckpoint, LogCosignature, LogKey, SigningKey
from xase import evidence, note, tlog
from xase.keys import KmsUnavailable, ed25519_key_file

__all__ = ["Checkpointer", "LogKeys", "latest", "origin_for", "register_log_key", "verify_checkpoints", "verify_cosignatures", "witnessed"]

log = logging.getLogger(__name__)


class LogKeys:
    """The keys that sign checkpoints: an Ed25519 key of its own, and the ledger's block signer."""

    def __init__(self, ed25519_key: note.Ed25519Signer, block_signer: Signer) -> None:
        self._ed25519 = ed25519_key
        self._block_signer = block_signer
        self._ed25519_public = ed25519_key.public_key()
        self._ecdsa_public = evidence.load_public_key(block_signer.public_pem)

    @classmethod
    def configured(cls, kms_key_id: Optional[str], path: str | os.PathLike[str], block_signer: Signer) -> LogKeys:
        """The AWS KMS Ed25519 key if one is named (XASE_LOG_KMS_KEY_ID), else the local PEM at `path`."""
        if kms_key_id:
            from xase.keys import KmsEd25519Key  # boto3 is the optional [kms] extra

            return cls(KmsEd25519Key(kms_key_id), block_signer)
        return cls.from_path(path, block_signer)

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], block_signer: Signer) -> LogKeys:
        """The Ed25519 PEM at `path`, generated (mode 0600) if absent."""
        return cls(ed25519_key_file(Path(path)), block_signer)

    @property
    def ed25519_public(self) -> str:
        """Base64 of the Ed25519 public key's 32 bytes."""
        return base64.b64encode(self._ed25519_public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()

    def verifiers(self, origin: str) -> list[note.Verifier]:
        return [note.ed25519_verifier(origin, self._ed25519_public), note.ecdsa_verifier(origin, self._ecdsa_public)]

    def _sign_ed25519(self, message: bytes) -> bytes:
        try:
            return self._ed25519.sign(message)
        except KmsUnavailable as failure:
            raise signing_unavailable(failure) from None

    def sign(self, text: str, origin: str) -> str:
        """The signed note: `text`, a blank line, the Ed25519 line, then the ECDSA line."""
        ed25519_verifier, ecdsa_verifier = self.verifiers(origin)
        message = text.encode()
        ecdsa = base64.b64decode(self._block_signer.sign(message, hashlib.sha256(message).digest()))
        return (
            text
            + "\n"
            + note.signature_line(origin, ed25519_verifier.key_id, self._sign_ed25519(message))
            + note.signature_line(origin, ecdsa_verifier.key_id, ecdsa)
        )


def register_log_key(engine: Engine, keys: LogKeys) -> None:
    """Publish the Ed25519 checkpoint key in log_keys (once), so that verification finds it after a rotation."""
    with write_transaction(engine) as conn:
        if conn.execute(select(LogKey.public_key).where(LogKey.public_key == keys.ed25519_public)).first() is None:
            conn.execute(insert(LogKey).values(public_key=keys.ed25519_public, algorithm="Ed25519", first_used_at=now()))


def origin_for(public_url: Optional[str], tenant_id: str) -> str:
    """The default origin of an organisation's log: the ledger's public host and path, then /log/<organisation>."""
    parts = urlsplit(public_url or "http://localhost")
    return f"{parts.netloc or 'localhost'}{parts.path.rstrip('/')}/log/{tenant_id}"


@dataclass(frozen=True)
class Latest:
    size: int
    note: str
    origin: str
    signed_at: str


def latest(conn: Connection, tenant_id: str) -> Optional[Latest]:
    """The organisation's newest checkpoint, with the witnesses' cosignatures it has, if it has one."""
    return _checkpoint(conn, tenant_id, select(LogCheckpoint.tree_size).where(LogCheckpoint.tenant_id == tenant_id))


def witnessed(conn: Connection, tenant_id: str, quorum: int, beyond: int = -1) -> Optional[Latest]:
    """The newest checkpoint larger than `beyond` that at least `quorum` witnesses cosigned, with their cosignatures."""
    sizes = (
        select(LogCosignature.tree_size)
        .where(LogCosignature.tenant_id == tenant_id, LogCosignature.tree_size > beyond)
        .group_by(LogCosignature.tree_size)
        .having(func.count() >= quorum)
    )
    return _checkpoint(conn, tenant_id, sizes)


def history(conn: Connection, tenant_id: str, limit: int, below: Optional[int] = None) -> list[dict[str, Any]]:
    """The organisation's checkpoints, newest first (smaller than `below`, if given), each with its note as served
    (cosignature lines appended) and the witnesses that cosigned it: two queries for the page."""
    query = select(LogCheckpoint).where(LogCheckpoint.tenant_id == tenant_id)
    if below is not None:
        query = query.where(LogCheckpoint.tree_size < below)
    rows = list(conn.execute(query.order_by(LogCheckpoint.tree_size.desc()).limit(limit)))
    cosigned: dict[int, list[Any]] = {}
    if rows:
        sizes = [row.tree_size for row in rows]
        for line in conn.execute(select(LogCosignature).where(LogCosignature.tenant_id == tenant_id, LogCosignature.tree_size.in_(sizes))
                                 .order_by(LogCosignature.key_id)):  # fmt: skip
            cosigned.setdefault(line.tree_size, []).append(line)
    return [{"tree_size": int(row.tree_size), "root": row.root, "origin": row.origin, "signed_at": row.signed_at,
             "note": row.note + "".join(line.line for line in cosigned.get(row.tree_size, [])),
             "cosigned_by": [{"witness": line.witness, "cosigned_at": int(line.cosigned_at)} for line in cosigned.get(row.tree_size, [])]}
            for row in rows]  # fmt: skip


def _checkpoint(conn: Connection, tenant_id: str, sizes: Select[Any]) -> Optional[Latest]:
    """The largest of the checkpoints at `sizes`, its note followed by its cosignature lines."""
    row = conn.execute(
        select(LogCheckpoint.tree_size, LogCheckpoint.note, LogCheckpoint.origin, LogCheckpoint.signed_at)
        .where(LogCheckpoint.tenant_id == tenant_id, LogCheckpoint.tree_size.in_(sizes.scalar_subquery()))
        .order_by(LogCheckpoint.tree_size.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    lines = conn.execute(
        select(LogCosignature.line).where(LogCosignature.tenant_id == tenant_id, LogCosignature.tree_size == row.tree_size).order_by(LogCosignature.key_id)
    ).scalars()
    return Latest(int(row.tree_size), row.note + "".join(lines), row.origin, row.signed_at)


def _age(signed_at: str) -> float:
    """Seconds since a stored `signed_at` (UTC, ISO 8601)."""
    return (datetime.now(timezone.utc) - datetime.fromisoformat(signed_at.replace("Z", "+00:00"))).total_seconds()


class Checkpointer:
    """Signs each organisation's checkpoints, at most one every `interval` seconds while its tree grows."""

    def __init__(self, engine: Engine, keys: LogKeys, interval: float, public_url: Optional[str], cache: tree.TileCache) -> None:
        self._engine, self.keys, self.interval, self._public_url, self._cache = engine, keys, interval, public_url, cache
        self._lock = threading.Lock()
        self._scheduled: dict[str, threading.Timer] = {}
        self._signing: dict[str, threading.Lock] = {}
        self._signed_at: dict[str, float] = {}  # monotonic time this process last signed or found a fresh one
        self.listeners: list[Callable[[str], None]] = []  # told of each checkpoint this process signed, after commit

    def poke(self, tenant_id: str) -> None:
        """The tree grew: a checkpoint within `interval`, or now when the last is that old."""
        with self._lock:
            if tenant_id in self._scheduled:
                return
            delay = max(0.0, self._signed_at.get(tenant_id, 0.0) + self.interval - time.monotonic())
            timer = threading.Timer(delay, self._run, args=(tenant_id,))
            timer.daemon = True
            self._scheduled[tenant_id] = timer
        timer.start()

    def _run(self, tenant_id: str) -> None:
        with self._lock:
            self._scheduled.pop(tenant_id, None)
        try:
            self.sign(tenant_id)
        except Exception:  # the next append pokes again; a reader asking signs on demand
            log.exception("checkpoint for %s not signed", tenant_id)

    def origin(self, tenant_id: str) -> str:
        """The organisation's log origin, without signing anything."""
        with read_connection(self._engine) as conn:
            return self._origin(tenant_id, latest(conn, tenant_id))

    def _origin(self, tenant_id: str, found: Optional[Latest]) -> str:
        """Its checkpoints' origin (a log's origin never changes), else the default for a log not yet signed."""
        return found.origin if found is not None else origin_for(self._public_url, tenant_id)

    def current(self, tenant_id: str) -> Latest:
        """The newest checkpoint, signing one first when the tree has outgrown it by more than the interval."""
        with read_connection(self._engine) as conn:
            found, size = latest(conn, tenant_id), tree.tree_size(conn, tenant_id)
        if found is not None and (found.size == size or time.monotonic() - self._signed_at.get(tenant_id, 0.0) < self.interval):
            return found
        return self.sign(tenant_id)

    def sign(self, tenant_id: str) -> Latest:
        """Sign the tree as it stands, unless another process signed within the interval; the newest checkpoint.
        One signer at a time per organisation in this process (the timer and a reader may both ask)."""
        with self._lock:
            signing = self._signing.setdefault(tenant_id, threading.Lock())
        with signing:
            try:
                return self._sign(tenant_id)
            except IntegrityError:  # another process stored a checkpoint of this very size first: it stands
                with read_connection(self._engine) as conn:
                    stored = latest(conn, tenant_id)
                if stored is None:
                    raise
                self._signed_at[tenant_id] = time.monotonic()
                return stored

    def _sign(self, tenant_id: str) -> Latest:
        with read_connection(self._engine, snapshot=True) as conn:
            size, found = tree.tree_size(conn, tenant_id), latest(conn, tenant_id)
            if found is not None and found.size >= size:
                self._signed_at[tenant_id] = time.monotonic()
                return found
            root = tlog.tree_hash(tree.TreeReader(conn, tenant_id, size, self._cache), size)
        origin = self._origin(tenant_id, found)
        text = note.format_checkpoint(note.Checkpoint(origin, size, root))
        signed = self.keys.sign(text, origin)
        with write_transaction(self._engine) as conn:
            newest = latest(conn, tenant_id)
            if newest is not None and (newest.size >= size or _age(newest.signed_at) < self.interval):
                self._signed_at[tenant_id] = time.monotonic()  # another process signed: ours waits its turn
                if newest.size < size:
                    self.poke(tenant_id)
                return newest
            row = Latest(size, signed, origin, now())
            conn.execute(
                insert(LogCheckpoint).values(tenant_id=tenant_id, tree_size=size, root=root.hex(), origin=origin, note=signed, signed_at=row.signed_at)
            )
        self._signed_at[tenant_id] = time.monotonic()
        for listener in self.listeners:
            listener(tenant_id)
        return row


def _known_verifiers(conn: Connection, origin: str) -> list[note.Verifier]:
    """Every key that ever signed this ledger's checkpoints or blocks, as verifiers for `origin`."""
    ed25519_keys = [note.Verifier(origin, note.ED25519, base64.b64decode(key)) for key in conn.execute(select(LogKey.public_key)).scalars()]
    ecdsa_keys = [note.ecdsa_verifier(origin, evidence.load_public_key(pem)) for pem in conn.execute(select(SigningKey.public_pem)).scalars()]
    return [*ed25519_keys, *ecdsa_keys]


def verify_checkpoints(conn: Connection, tenant_id: str, reader: tree.TreeReader) -> Optional[tuple[int, str]]:
    """Every stored checkpoint: signed by the ledger's keys, states the root the tree has at its size, one origin.
    None, or (the checkpoint's size, what does not hold)."""
    rows = conn.execute(select(LogCheckpoint).where(LogCheckpoint.tenant_id == tenant_id).order_by(LogCheckpoint.tree_size))
    origin: Optional[str] = None
    verifiers: list[note.Verifier] = []
    for row in rows:
        if origin is None:
            origin, verifiers = row.origin, _known_verifiers(conn, row.origin)
        try:
            text, signed = note.open_note(row.note, verifiers)
            stated = note.parse_checkpoint(text)
        except note.NoteError as problem:
            return row.tree_size, f"checkpoint {row.tree_size}: {problem}"
        if {verifier.key_type for verifier in signed} != {note.ED25519, note.ECDSA}:
            return row.tree_size, f"checkpoint {row.tree_size}: expected signatures by the ledger's Ed25519 and ECDSA keys"
        if (stated.origin, stated.size, stated.root.hex()) != (origin, row.tree_size, row.root):
            return (
                row.tree_size,
                f"checkpoint {row.tree_size}: states {stated.origin} {stated.size} {stated.root.hex()}, stored as {row.origin} {row.tree_size} {row.root}",
            )
        if row.tree_size > reader.size:
            return row.tree_size, f"checkpoint {row.tree_size}: beyond the tree of {reader.size} records"
        if tlog.tree_hash(reader, row.tree_size) != stated.root:
            return row.tree_size, f"checkpoint {row.tree_size}: root {row.root} is not the tree's at that size"
    return None


def verify_cosignatures(conn: Connection, tenant_id: str, witnesses: Sequence[note.Verifier]) -> tuple[int, Optional[tuple[int, str]]]:
    """Every stored cosignature of a witness in `witnesses` (cosigner keys): its line names that witness and key,
    states the time stored with it, and verifies over the stored checkpoint of its size. Cosignatures of witnesses
    not given cannot be checked and are skipped. Returns how many were checked, and None or (size, what does not hold)."""
    known = {(verifier.name, verifier.key_id.hex()): verifier for verifier in witnesses}
    checked = 0
    columns = (LogCosignature.tree_size, LogCosignature.key_id, LogCosignature.witness, LogCosignature.line, LogCosignature.cosigned_at, LogCheckpoint.note)
    query = (select(*columns).select_from(LogCosignature).join(LogCheckpoint, (LogCheckpoint.tenant_id == LogCosignature.tenant_id)
             & (LogCheckpoint.tree_size == LogCosignature.tree_size), isouter=True)
             .where(LogCosignature.tenant_id == tenant_id).order_by(LogCosignature.tree_size, LogCosignature.key_id))  # fmt: skip
    for row in conn.execute(query):
        verifier = known.get((row.witness, row.key_id))
        if verifier is None:
            continue
        problem = _cosignature_problem(row, verifier)
        if problem is not None:
            return checked, (row.tree_size, f"cosignature of checkpoint {row.tree_size} by {verifier.name}: {problem}")
        checked += 1
    return checked, None


def _cosignature_problem(stored: Any, verifier: note.Verifier) -> Optional[str]:
    """What does not hold of one stored cosignature (with its checkpoint's `note`, None if none is stored), or None."""
    if stored.note is None:
        return "no checkpoint of that size is stored"
    cosigned = stored.note + stored.line
    try:
        note.open_note(cosigned, [verifier])
    except note.NoteError as problem:
        return str(problem)
    stated = next(line for line in note.split_note(cosigned)[1] if (line.name, line.key_id) == (verifier.name, verifier.key_id))
    if note.cosignature_time(stated.signature) != stored.cosigned_at:
        return f"states time {note.cosignature_time(stated.signature)}, stored as {stored.cosigned_at}"
    return None
