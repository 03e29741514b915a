"""The heart of the ledger: append records to a tenant's chain and seal them in one signed block.

One call of `append` is one database transaction: lock the tenant's chain
head, resolve idempotent replays, append the new records (`seq`, `prev_hash`,
`record_hash`), seal exactly one block over them (Merkle root, `prev_block_hash`,
signature), store the tiles of the organisation's tree they fill (`tree`) and
move the head. Either all of it commits or none of it does.
`append_within` does the same inside a transaction the caller opened, so that a
change and its evidence commit together or not at all.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Optional, Union, cast

from sqlalchemy import Connection, Engine, Table, bindparam, insert, select, update

from ledger_service.auth import now
from ledger_service.db import bulk_insert, write_transaction
from ledger_service.errors import IdempotencyConflict, LedgerError, NotFound
from ledger_service.evidence import tree
from ledger_service.evidence.intake import RecordInput
from ledger_service.evidence.signing import Signer
from ledger_service.evidence.tables import Block, ChainHead, Payload, Record, SigningKey
from xase import evidence

__all__ = ["Outcome", "append", "append_within", "open_chain", "record_body", "record_result", "register_signer"]

_RECORDS = cast(Table, Record.__table__)
_RECORD_COLUMNS = tuple(column.key for column in _RECORDS.columns)
RESULT_COLUMNS = (Record.seq, Record.transaction_id, Record.recorded_at, Record.record_hash, Record.block_seq)
DECISION_COLUMNS = (Record.idempotency_key, Record.policy_id, Record.policy_version, Record.input_hash, Record.output_hash)


@dataclass(frozen=True)
class Outcome:
    """What became of one submitted record: a new or replayed result, or an error."""

    result: Optional[dict[str, Any]] = None
    replayed: bool = False
    error: Optional[LedgerError] = None


def record_body(row: Any) -> dict[str, Any]:
    """The record body of section 2 from a records row (mapping or object)."""
    get = row.__getitem__ if isinstance(row, dict) else row._mapping.__getitem__
    return {"v": evidence.FORMAT_VERSION, **{name: get(name) for name in evidence.RECORD_FIELDS if name != "v"}}


def record_result(row: Any) -> dict[str, Any]:
    """RecordResult (seed 001) minus receipt_url, which only the API layer can make absolute."""
    get = row.__getitem__ if isinstance(row, dict) else row._mapping.__getitem__
    return {
        "success": True,
        "transaction_id": get("transaction_id"),
        "timestamp": get("recorded_at"),
        "record_hash": get("record_hash"),
        "chain_position": evidence.chain_position(get("seq")),
        "seq": get("seq"),
        "block_seq": get("block_seq"),
    }


def open_chain(conn: Connection, tenant_id: str) -> None:
    """Start a new tenant's empty chain: the head row every append locks."""
    conn.execute(insert(ChainHead).values(tenant_id=tenant_id, next_seq=0, head_hash=evidence.ZERO_HASH, next_block_seq=0, head_block_hash=evidence.ZERO_HASH))


def register_signer(engine: Engine, signer: Signer) -> None:
    """Publish the signer's public key in signing_keys (once), so /keys and verifiers find it."""
    with write_transaction(engine) as conn:
        known = conn.execute(select(SigningKey.key_id).where(SigningKey.key_id == signer.key_id)).first()
        if not known:
            conn.execute(
                insert(SigningKey).values(
                    key_id=signer.key_id, public_pem=signer.public_pem, algorithm=signer.algorithm,
                    kms_key_arn=signer.kms_key_arn, first_used_at=now(),
                )
            )  # fmt: skip


# ---------------------------------------------------------------- idempotency


def _priors_by(column: Any) -> Any:
    """Built once: the statement (and its compiled form, cached) serves every append."""
    return select(*RESULT_COLUMNS, *DECISION_COLUMNS).where(Record.tenant_id == bindparam("tenant_id"),
                                                            column.in_(bindparam("wanted", expanding=True)))  # fmt: skip


_PRIORS_BY_KEY = _priors_by(Record.idempotency_key)
_PRIORS_BY_TRANSACTION = _priors_by(Record.transaction_id)


class _Priors:
    """Records already in the chain (or earlier in this request) that an item may replay."""

    def __init__(self) -> None:
        self._by_key: dict[str, dict[str, Any]] = {}
        self._by_transaction: dict[str, dict[str, Any]] = {}

    @classmethod
    def load(cls, conn: Connection, tenant_id: str, items: Sequence[RecordInput]) -> _Priors:
        priors = cls()
        keys = sorted({item.idempotency_key for item in items if item.idempotency_key})
        transactions = sorted({item.transaction_id for item in items if item.transaction_id})
        for query, wanted in ((_PRIORS_BY_KEY, keys), (_PRIORS_BY_TRANSACTION, transactions)):
            for start in range(0, len(wanted), 500):
                for row in conn.execute(query, {"tenant_id": tenant_id, "wanted": wanted[start : start + 500]}).mappings():
                    priors.add(dict(row))
        return priors

    def add(self, row: dict[str, Any]) -> None:
        if row.get("idempotency_key"):
            self._by_key[row["idempotency_key"]] = row
        self._by_transaction[row["transaction_id"]] = row

    def find(self, item: RecordInput) -> Optional[dict[str, Any]]:
        """The record `item` replays, None if it is new; IdempotencyConflict if it contradicts one."""
        by_key = self._by_key.get(item.idempotency_key) if item.idempotency_key else None
        by_transaction = self._by_transaction.get(item.transaction_id) if item.transaction_id else None
        if by_key and by_transaction and by_key["seq"] != by_transaction["seq"]:
            raise IdempotencyConflict(
                "idempotency key and transaction_id belong to two different records",
                {"idempotency_key": item.idempotency_key, "transaction_id": item.transaction_id},
            )
        prior = by_key or by_transaction
        if prior is None:
            return None
        recorded = (prior["policy_id"], prior["policy_version"], prior["input_hash"], prior["output_hash"])
        if recorded != item.decision() or (item.transaction_id and item.transaction_id != prior["transaction_id"]):
            raise IdempotencyConflict(
                "this idempotency key or transaction_id was already used for a different decision",
                {"idempotency_key": item.idempotency_key, "transaction_id": prior["transaction_id"]},
            )
        return prior


# ---------------------------------------------------------------- appending


def _new_transaction_ids(count: int) -> Iterator[str]:
    """`txn_` + the time in milliseconds (12 hex digits) + 64 random bits. Time-ordered, so the unique index
    on transaction ids grows at its end instead of at random pages; one read of the OS's randomness per append."""
    stamp = f"{time.time_ns() // 1_000_000:012x}"
    pool = secrets.token_hex(8 * count)
    return (f"txn_{stamp}{pool[start : start + 16]}" for start in range(0, len(pool), 16))


def _seal(signer: Signer, head: Any, tenant_id: str, rows: list[dict[str, Any]], sealed_at: str) -> dict[str, Any]:
    body = {
        "v": evidence.FORMAT_VERSION,
        "tenant_id": tenant_id,
        "block_seq": head.next_block_seq,
        "prev_block_hash": head.head_block_hash,
        "first_seq": rows[0]["seq"],
        "last_seq": rows[-1]["seq"],
        "merkle_root": evidence.merkle_root([row["record_hash"] for row in rows]),
        "head_record_hash": rows[-1]["record_hash"],
        "sealed_at": sealed_at,
        "key_id": signer.key_id,
        "algorithm": signer.algorithm,
    }
    canonical, digest = evidence.block_signing_input(body)
    return {**body, "block_hash": digest.hex(), "signature": signer.sign(canonical, digest)}


def _store_payloads(conn: Connection, tenant_id: str, payloads: dict[str, bytes]) -> None:
    if not payloads:
        return
    present = set(conn.execute(select(Payload.payload_ref).where(Payload.tenant_id == tenant_id, Payload.payload_ref.in_(list(payloads)))).scalars())
    fresh = [{"tenant_id": tenant_id, "payload_ref": ref, "body": body.decode("utf-8"), "erased_at": None}
             for ref, body in payloads.items() if ref not in present]  # fmt: skip
    if fresh:
        conn.execute(insert(Payload), fresh)


def append(engine: Engine, signer: Signer, tenant_id: str, items: Sequence[Union[RecordInput, LedgerError]]) -> list[Outcome]:
    """Append the valid items as one block, in a transaction of their own; return an Outcome per item, in order."""
    with write_transaction(engine) as conn:
        return append_within(conn, signer, tenant_id, items)


def append_within(conn: Connection, signer: Signer, tenant_id: str, items: Sequence[Union[RecordInput, LedgerError]]) -> list[Outcome]:
    """`append` inside the caller's write transaction: it commits with whatever else the caller changed, or not at all."""
    head = conn.execute(select(ChainHead).where(ChainHead.tenant_id == tenant_id).with_for_update()).first()
    if head is None:
        raise NotFound(f"tenant {tenant_id!r} has no chain")
    priors = _Priors.load(conn, tenant_id, [item for item in items if isinstance(item, RecordInput)])
    recorded_at = now()
    fresh_ids = _new_transaction_ids(sum(1 for item in items if isinstance(item, RecordInput) and not item.transaction_id))
    seq, prev_hash = head.next_seq, head.head_hash
    rows: list[dict[str, Any]] = []
    payloads: dict[str, bytes] = {}
    outcomes: list[Outcome] = []
    for item in items:
        if isinstance(item, LedgerError):
            outcomes.append(Outcome(error=item))
            continue
        try:
            prior = priors.find(item)
        except IdempotencyConflict as conflict:
            outcomes.append(Outcome(error=conflict))
            continue
        if prior is not None:
            outcomes.append(Outcome(result=record_result(prior), replayed=True))
            continue
        payload_ref = hashlib.sha256(item.payload).hexdigest() if item.payload is not None else None
        if item.payload is not None and payload_ref is not None:
            payloads[payload_ref] = item.payload
        row = {
            "tenant_id": tenant_id, "seq": seq, "prev_hash": prev_hash,
            "transaction_id": item.transaction_id or next(fresh_ids),
            "policy_id": item.policy_id, "policy_version": item.policy_version,
            "decision_type": item.decision_type, "confidence": item.confidence,
            "processing_time_ms": item.processing_time_ms, "input_hash": item.input_hash,
            "output_hash": item.output_hash, "context_hash": item.context_hash,
            "commitment": item.commitment, "payload_ref": payload_ref, "recorded_at": recorded_at,
        }  # fmt: skip
        row["record_hash"] = evidence.record_hash(record_body(row))
        row.update(block_seq=head.next_block_seq, idempotency_key=item.idempotency_key, context_json=item.context_json)
        rows.append(row)
        priors.add(row)
        outcomes.append(Outcome(result=record_result(row)))
        seq, prev_hash = seq + 1, row["record_hash"]
    if rows:
        block = _seal(signer, head, tenant_id, rows, recorded_at)
        bulk_insert(conn, _RECORDS, [tuple(row[column] for column in _RECORD_COLUMNS) for row in rows])
        _store_payloads(conn, tenant_id, payloads)
        conn.execute(insert(Block).values(tenant_id=tenant_id, **{k: v for k, v in block.items() if k not in ("v", "tenant_id")}))
        tree.extend(conn, tenant_id, head.next_seq, seq)
        conn.execute(
            update(ChainHead)
            .where(ChainHead.tenant_id == tenant_id)
            .values(next_seq=seq, head_hash=prev_hash, next_block_seq=head.next_block_seq + 1, head_block_hash=block["block_hash"])
        )
    return outcomes
