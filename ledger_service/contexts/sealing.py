"""Context heads sealed into the evidence chain, and the check that finds any tampering with turns or blobs.

Every `XASE_CXDB_SEAL_INTERVAL` seconds each worker process seals the heads that moved since their last
seal: one record per tenant (policy `xase.cxdb`, transaction id `cxs_...`) whose context lists each
head's context id, turn id, depth and turn hash. A sealed turn hash names its whole history, so a later
change to any turn or blob below a sealed head no longer matches the signed chain.

`verify_tenant` recomputes every blob's BLAKE3 and every turn hash from the root, and checks them
against the stored hashes, the contexts' heads and the sealed heads: the store's integrity. Its report
then resolves the turns decisions cite (`turn_problem`): a client's claim, never tampering.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Optional

from flask import current_app
from sqlalchemy import Connection, Engine, select, update

from ledger_service import evidence
from ledger_service.contexts import codec, store
from ledger_service.contexts.tables import AgentContext, Blob, Turn
from ledger_service.db import read_connection, write_transaction
from xase.contexts import history
from xase.evidence import ZERO_HASH
from xase.evidence import commitment as commit
from xase.references import TurnReference
from xase.wire import is_decimal

__all__ = ["SEAL_POLICY", "SEAL_PREFIX", "seal_heads", "ensure_sealer", "verify_tenant", "IntegrityReport"]

log = logging.getLogger("xase.ledger")

SEAL_POLICY = "xase.cxdb"
SEAL_PREFIX = "cxs_"
MAX_HEADS_PER_SEAL = 1_000
_sealers: dict[int, threading.Thread] = {}  # per process id: gunicorn forks after the app is built
_lock = threading.Lock()


def _unsealed(conn: Connection, tenant_id: Optional[str]) -> dict[str, list[Any]]:
    query = select(AgentContext.tenant_id, AgentContext.context_id, AgentContext.head_turn_id, AgentContext.head_depth,
                   AgentContext.head_turn_hash, AgentContext.sealed_turn_id).where(AgentContext.sealed_turn_id != AgentContext.head_turn_id)  # fmt: skip
    if tenant_id is not None:
        query = query.where(AgentContext.tenant_id == tenant_id)
    found: dict[str, list[Any]] = {}
    for row in conn.execute(query.order_by(AgentContext.tenant_id, AgentContext.context_id)):
        heads = found.setdefault(row.tenant_id, [])
        if len(heads) < MAX_HEADS_PER_SEAL:
            heads.append(row)
    return found


def _claim(engine: Engine, tenant_id: str, rows: list[Any], sealed: bool) -> list[Any]:
    """Mark heads sealed (or, after a failed seal, unsealed again); the rows this process won."""
    won = []
    with write_transaction(engine) as conn:
        for row in rows:
            old, new = (row.sealed_turn_id, row.head_turn_id) if sealed else (row.head_turn_id, row.sealed_turn_id)
            result = conn.execute(update(AgentContext).where(AgentContext.tenant_id == tenant_id, AgentContext.context_id == row.context_id,
                                                             AgentContext.sealed_turn_id == old).values(sealed_turn_id=new))  # fmt: skip
            if result.rowcount == 1:
                won.append(row)
    return won


def seal_heads(engine: Engine, ledger: evidence.Ledger, tenant_id: Optional[str] = None) -> int:
    """Seal every head that moved since its last seal (of one tenant, or all); how many were sealed."""
    with read_connection(engine) as conn:
        pending = _unsealed(conn, tenant_id)
    sealed = 0
    for tenant, rows in pending.items():
        won = _claim(engine, tenant, rows, sealed=True)  # two processes never seal the same head twice
        if not won:
            continue
        heads = [{"context_id": str(row.context_id), "turn_id": str(row.head_turn_id), "depth": row.head_depth, "turn_hash": row.head_turn_hash}
                 for row in won]  # fmt: skip
        try:
            ledger.record(tenant, {
                "policy_id": SEAL_POLICY, "decision_type": "cxdb.seal", "transaction_id": SEAL_PREFIX + secrets.token_hex(12),
                "input": {"contexts": len(heads)}, "output": {"heads_sha256": commit(heads)}, "context": {"cxdb_heads": heads},
            })  # fmt: skip
        except Exception:
            _claim(engine, tenant, won, sealed=False)
            raise
        sealed += len(heads)
    return sealed


def seal_state(conn: Connection, tenant_id: str, context_id: int) -> dict[str, Any]:
    """A context's head, the turn its last seal covers, and the chain record that sealed the head (None while the
    head waits for the next seal): what the console shows."""
    row = store.get_context(conn, tenant_id, context_id)
    found = evidence.latest_record_naming(conn, tenant_id, SEAL_POLICY, row.head_turn_hash) if row.head_turn_id else None
    return {"head_turn_id": str(row.head_turn_id), "sealed_turn_id": str(row.sealed_turn_id),
            "sealed_by": None if found is None else {"seq": found[0], "transaction_id": found[1]}}  # fmt: skip


def _seal_forever(app: Any, interval: float) -> None:
    engine, ledger = app.extensions["xase"].engine, app.extensions["xase.evidence"]
    while True:
        time.sleep(interval)
        try:
            seal_heads(engine, ledger)
        except Exception:  # a signer or database outage: the heads stay unsealed and are tried again
            log.exception("sealing context heads failed; retrying in %ss", interval)


def ensure_sealer() -> None:
    """Start this process's sealer thread, once (called on the first context request a process serves)."""
    interval = current_app.extensions["xase"].settings.cxdb_seal_interval
    pid = os.getpid()
    if interval <= 0 or pid in _sealers:
        return
    with _lock:
        if pid not in _sealers:
            thread = threading.Thread(target=_seal_forever, args=(current_app._get_current_object(), interval),  # type: ignore[attr-defined]
                                      name="xase-cxdb-sealer", daemon=True)  # fmt: skip
            thread.start()
            _sealers[pid] = thread


# ---------------------------------------------------------------- integrity


@dataclass
class IntegrityReport:
    turns: int = 0
    blobs: int = 0
    contexts: int = 0
    sealed_heads: int = 0
    error: Optional[str] = None
    known: dict[int, tuple[str, int]] = field(default_factory=dict, repr=False)  # turn id -> (recomputed hash, depth)

    @property
    def ok(self) -> bool:
        return self.error is None

    def turn_problem(self, ref: TurnReference) -> Optional[str]:
        """Why a decision's turn reference does not resolve against the recomputed history, or None."""
        stored = self.known.get(ref.turn_id)
        if stored is None:
            return f"turn {ref.turn_id} is not in the context store"
        if stored[0] != ref.turn_hash:
            return f"turn {ref.turn_id} has hash {stored[0]}; the decision names {ref.turn_hash}"
        return None


class _Broken(Exception):
    pass


def _turns_with_blobs(conn: Connection, tenant_id: str) -> Iterator[Any]:
    query = (select(Turn.turn_id, Turn.parent_turn_id, Turn.depth, Turn.type_id, Turn.type_version, Turn.encoding, Turn.content_hash,
                    Turn.turn_hash, Blob.compression, Blob.uncompressed_len, Blob.data, Blob.content_hash.label("blob_hash"))
             .outerjoin(Blob, (Blob.tenant_id == Turn.tenant_id) & (Blob.content_hash == Turn.content_hash))
             .where(Turn.tenant_id == tenant_id).order_by(Turn.turn_id))  # fmt: skip
    yield from conn.execution_options(yield_per=1000).execute(query)


def _recompute(conn: Connection, tenant_id: str, report: IntegrityReport) -> dict[int, tuple[str, int]]:
    """Every turn's recomputed (hash, depth), each checked against what is stored."""
    known: dict[int, tuple[str, int]] = {0: (ZERO_HASH, 0)}
    checked_blobs: dict[str, tuple[str, int]] = {}  # stored hash -> (recomputed hash, length)
    for row in _turns_with_blobs(conn, tenant_id):
        subject = f"turn {row.turn_id}"
        if row.blob_hash is None:
            raise _Broken(f"{subject}: blob {row.content_hash} is missing")
        if row.content_hash not in checked_blobs:
            try:
                payload = codec.decompress(row.compression, row.data, row.uncompressed_len)
            except Exception as exc:  # a corrupted zstd frame
                raise _Broken(f"{subject}: blob {row.content_hash} does not decompress: {exc}") from None
            checked_blobs[row.content_hash] = (history.content_hash(payload), len(payload))
            report.blobs += 1
        recomputed, length = checked_blobs[row.content_hash]
        if recomputed != row.content_hash:
            raise _Broken(f"{subject}: blob content_hash_b3: expected {row.content_hash}, got {recomputed}")
        if length != row.uncompressed_len:
            raise _Broken(f"{subject}: blob {row.content_hash} uncompressed_len: expected {length}, got {row.uncompressed_len}")
        if row.parent_turn_id not in known or row.parent_turn_id >= row.turn_id:
            raise _Broken(f"{subject}: parent turn {row.parent_turn_id} is missing")
        parent_hash, parent_depth = known[row.parent_turn_id]
        if row.depth != parent_depth + 1:
            raise _Broken(f"{subject}: depth: expected {parent_depth + 1}, got {row.depth}")
        actual = history.turn_hash(parent_hash if row.parent_turn_id else None, row.depth, row.type_id, row.type_version, row.content_hash, row.encoding)
        if actual != row.turn_hash:
            raise _Broken(f"{subject}: turn_hash: expected {actual}, got {row.turn_hash}")
        known[row.turn_id] = (actual, row.depth)
        report.turns += 1
    return known


def _check_heads(conn: Connection, tenant_id: str, known: dict[int, tuple[str, int]], report: IntegrityReport) -> None:
    for row in conn.execute(select(AgentContext).where(AgentContext.tenant_id == tenant_id)):
        if known.get(row.head_turn_id) != (row.head_turn_hash, row.head_depth):
            raise _Broken(f"context {row.context_id}: head turn {row.head_turn_id} does not match its history")
        report.contexts += 1


def _sealed_turn(head: Any) -> tuple[int, str]:
    """(turn id, turn hash) of one sealed head, as the ledger wrote it; anything else is a broken seal."""
    turn_id = head.get("turn_id") if isinstance(head, dict) else None
    if not (is_decimal(turn_id) and len(turn_id) < 20 and isinstance(head.get("turn_hash"), str)):
        raise _Broken(f"a sealed head is not one the ledger writes: {head!r:.120}")
    return int(turn_id), head["turn_hash"]


def _check_seals(conn: Connection, tenant_id: str, known: dict[int, tuple[str, int]], report: IntegrityReport) -> None:
    for seq, policy_id, transaction_id, context in evidence.contexts_naming(conn, tenant_id, "cxdb_heads"):
        if policy_id != SEAL_POLICY or not transaction_id.startswith(SEAL_PREFIX):
            continue  # a client's record: only the ledger's own seals count as seals
        heads = context["cxdb_heads"]
        for head in heads if isinstance(heads, list) else [heads]:
            turn_id, turn_hash = _sealed_turn(head)
            if known.get(turn_id, ("", 0))[0] != turn_hash:
                raise _Broken(f"record seq {seq}: sealed head turn {turn_id} of context {head.get('context_id')} no longer matches the turns")
            report.sealed_heads += 1


def verify_tenant(engine: Engine, tenant_id: str) -> IntegrityReport:
    """Check a tenant's whole context store against itself and against the heads sealed in its chain."""
    report = IntegrityReport()
    with read_connection(engine) as conn:
        try:
            report.known = _recompute(conn, tenant_id, report)
            _check_heads(conn, tenant_id, report.known, report)
            _check_seals(conn, tenant_id, report.known, report)
        except _Broken as broken:
            report.error = str(broken)
    return report
