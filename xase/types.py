"""The shapes seed 001 documents: what you record, what you get back, what get_stats() says."""

from __future__ import annotations

from typing import Any, Literal, Optional, TypedDict

__all__ = ["RecordPayload", "RecordResult", "ClientStats"]


class RecordPayload(TypedDict, total=False):
    """One AI decision. `policy`, `input` and `output` are required."""

    policy: str  # policy/model id, e.g. "credit_policy_v4"
    input: dict[str, Any]  # what the decision was made on
    output: dict[str, Any]  # what was decided
    confidence: Optional[float]  # 0..1
    context: Optional[dict[str, Any]]  # extra metadata, stored as-is
    transaction_id: Optional[str]  # your id; also makes the record idempotent
    policy_version: Optional[str]
    decision_type: Optional[str]
    processing_time: Optional[float]  # milliseconds
    store_payload: Optional[bool]  # keep raw input/output in the ledger (default False: hashes only)


class _RecordResultRequired(TypedDict):
    success: bool
    transaction_id: str
    receipt_url: str
    timestamp: str
    record_hash: str
    chain_position: Literal["chained", "genesis"]


class RecordResult(_RecordResultRequired, total=False):
    """The ledger's answer for one record (plus its `seq` and `block_seq` in the chain)."""

    seq: int
    block_seq: int


class ClientStats(TypedDict):
    size: int  # records waiting in the queue
    closed: bool
    sent: int  # acknowledged by the ledger
    failed: int  # given up on (reported through on_error)
    dropped: int  # refused because the queue was full
    retries: int  # HTTP attempts beyond the first
    batches: int  # batches delivered
    in_flight: int  # taken by the worker, not yet final
    spooled: int  # on disk in the spool, not yet acknowledged (0 without spool_path)
    spilled: int  # of those, waiting on disk for room in the memory queue
