"""Reading evidence back: records, receipts, blocks, keys, full-chain verification and export.

Every function is scoped to one tenant; a transaction id or block of another
tenant is simply not found.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import Connection, Engine, func, literal, select

from ledger_service.db import make_engine, read_connection
from ledger_service.errors import NotFound
from ledger_service.evidence import checkpoints, tree
from ledger_service.evidence.chain import record_body, record_result
from ledger_service.evidence.tables import Block, ChainHead, Payload, Record, SigningKey
from xase import bundle, evidence, note, segments

__all__ = ["get_record", "list_records", "receipt", "get_block", "checkpoint", "public_keys", "verify_chain", "export_lines", "stats"]

BLOCK_COLUMNS = [getattr(Block, name) for name in (*evidence.BLOCK_FIELDS[1:], "block_hash", "signature")]
_PAGE = 1000


def block_view(row: Any) -> dict[str, Any]:
    """A block as served: body members, block_hash and signature."""
    mapping = row._mapping if hasattr(row, "_mapping") else row
    return {"v": evidence.FORMAT_VERSION, **{column.key: mapping[column.key] for column in BLOCK_COLUMNS}}


def record_row(conn: Connection, tenant_id: str, transaction_id: str) -> Any:
    """The tenant's record with this transaction id, or NotFound."""
    row = conn.execute(select(Record).where(Record.tenant_id == tenant_id, Record.transaction_id == transaction_id)).first()
    if row is None:
        raise NotFound(f"no record with transaction_id {transaction_id!r}")
    return row


def _payload_view(conn: Connection, tenant_id: str, payload_ref: Optional[str]) -> Optional[dict[str, Any]]:
    if payload_ref is None:
        return None
    row = conn.execute(select(Payload).where(Payload.tenant_id == tenant_id, Payload.payload_ref == payload_ref)).first()
    if row is None or row.body is None:
        return {"payload_ref": payload_ref, "erased_at": row.erased_at if row else None}
    return {"payload_ref": payload_ref, "erased_at": None, **json.loads(row.body)}


def get_record(conn: Connection, tenant_id: str, transaction_id: str) -> dict[str, Any]:
    row = record_row(conn, tenant_id, transaction_id)
    return {
        **record_result(row),
        "record": record_body(row),
        "context": json.loads(row.context_json),
        "payload": _payload_view(conn, tenant_id, row.payload_ref),
    }


def record_with_key(conn: Connection, tenant_id: str, idempotency_key: str) -> Optional[dict[str, Any]]:
    """The tenant's record appended under this idempotency key (get_record's view), or None."""
    found = conn.execute(select(Record.transaction_id).where(Record.tenant_id == tenant_id, Record.idempotency_key == idempotency_key)).scalar()
    return get_record(conn, tenant_id, found) if found is not None else None


def list_records(conn: Connection, tenant_id: str, *, after_seq: int = -1, limit: int = 100, policy_id: Optional[str] = None) -> dict[str, Any]:
    query = select(Record).where(Record.tenant_id == tenant_id, Record.seq > after_seq)
    if policy_id is not None:
        query = query.where(Record.policy_id == policy_id)
    rows = conn.execute(query.order_by(Record.seq).limit(limit + 1)).all()
    page = rows[:limit]
    return {
        "records": [{**record_result(row), "record": record_body(row)} for row in page],
        "next_cursor": str(page[-1].seq) if len(rows) > limit else None,
    }


@dataclass(frozen=True)
class RecordFilter:
    """What the console's decisions list narrows by; `outcome` is text in a stored payload's output."""

    policy_id: Optional[str] = None
    decision_type: Optional[str] = None
    since: Optional[str] = None  # recorded_at >= since (ISO 8601 UTC, compared as text: the stored form sorts by time)
    until: Optional[str] = None  # recorded_at < until
    outcome: Optional[str] = None


OUTCOME_SCAN_RECORDS = 5_000  # an outcome search reads at most this many payloads, newest first,
OUTCOME_SCAN_BYTES = 16 << 20  # and at most this many bytes of them


def find_records(conn: Connection, tenant_id: str, wanted: RecordFilter, *, before_seq: Optional[int] = None, limit: int = 50) -> dict[str, Any]:
    """The newest records matching `wanted` (older than `before_seq`, if given): `records`, `next_before` (the seq to
    page on from, or None), and `searched_to` (the oldest seq an outcome search reached, when its caps stopped it)."""
    query = select(Record).where(Record.tenant_id == tenant_id)
    for matches, value in ((Record.policy_id.__eq__, wanted.policy_id), (Record.decision_type.__eq__, wanted.decision_type),
                           (Record.recorded_at.__ge__, wanted.since), (Record.recorded_at.__lt__, wanted.until),
                           (Record.seq.__lt__, before_seq)):  # fmt: skip
        if value is not None:
            query = query.where(matches(value))
    if wanted.outcome is None:
        rows = conn.execute(query.order_by(Record.seq.desc()).limit(limit + 1)).all()
        return _found(list(rows[:limit]), len(rows) > limit, None)
    scanned = conn.execute(query.where(Record.payload_ref.is_not(None)).add_columns(Payload.body)
                           .join(Payload, (Payload.tenant_id == Record.tenant_id) & (Payload.payload_ref == Record.payload_ref))
                           .order_by(Record.seq.desc()).limit(OUTCOME_SCAN_RECORDS))  # fmt: skip
    matched: list[Any] = []
    read = 0
    for row in scanned:
        read += len(row.body or "")
        if row.body is not None and wanted.outcome in json.dumps(json.loads(row.body).get("output"), ensure_ascii=False):
            matched.append(row)
            if len(matched) > limit:
                return _found(matched[:limit], True, None)
        if read > OUTCOME_SCAN_BYTES:
            return _found(matched, True, row.seq)
    return _found(matched, False, None)


def _found(rows: list[Any], more: bool, searched_to: Optional[int]) -> dict[str, Any]:
    next_before = searched_to if searched_to is not None else (rows[-1].seq if more and rows else None)
    return {"records": [{**record_result(row), "record": record_body(row)} for row in rows], "next_before": next_before, "searched_to": searched_to}


def _key_pem(conn: Connection, key_id: str) -> str:
    pem = conn.execute(select(SigningKey.public_pem).where(SigningKey.key_id == key_id)).scalar()
    if pem is None:
        raise NotFound(f"public key {key_id} is not published by this ledger")
    return str(pem)


def _block_row(conn: Connection, tenant_id: str, block_seq: int) -> Any:
    row = conn.execute(select(*BLOCK_COLUMNS).where(Block.tenant_id == tenant_id, Block.block_seq == block_seq)).first()
    if row is None:
        raise NotFound(f"no block {block_seq}")
    return row


def receipt(conn: Connection, tenant_id: str, transaction_id: str) -> dict[str, Any]:
    """The self-contained receipt of EVIDENCE-FORMAT.md section 5."""
    row = record_row(conn, tenant_id, transaction_id)
    block = block_view(_block_row(conn, tenant_id, row.block_seq))
    hashes = (
        conn.execute(
            select(Record.record_hash).where(Record.tenant_id == tenant_id, Record.seq.between(block["first_seq"], block["last_seq"])).order_by(Record.seq)
        )
        .scalars()
        .all()
    )
    leaf_index = row.seq - block["first_seq"]
    result: dict[str, Any] = {
        "receipt_version": 1,
        "record": record_body(row),
        "record_hash": row.record_hash,
        "chain_position": evidence.chain_position(row.seq),
        "block": block,
        "inclusion_proof": {
            "leaf_index": leaf_index,
            "tree_size": len(hashes),
            "audit_path": evidence.inclusion_proof(hashes, leaf_index) if leaf_index < len(hashes) else [],
        },
        "public_key": {"key_id": block["key_id"], "pem": _key_pem(conn, block["key_id"])},
    }
    payload = _payload_view(conn, tenant_id, row.payload_ref)
    if payload is not None:
        result["payload"] = {"payload_ref": payload["payload_ref"], "erased_at": payload["erased_at"]}
    return result


def get_block(conn: Connection, tenant_id: str, block_seq: int) -> dict[str, Any]:
    return block_view(_block_row(conn, tenant_id, block_seq))


def checkpoint(conn: Connection, tenant_id: str) -> dict[str, Any]:
    """The latest signed block and where the chain stands: what an auditor mirrors elsewhere."""
    head = conn.execute(select(ChainHead).where(ChainHead.tenant_id == tenant_id)).one()
    latest = None
    if head.next_block_seq > 0:
        latest = get_block(conn, tenant_id, head.next_block_seq - 1)
    return {"tenant_id": tenant_id, "records": head.next_seq, "blocks": head.next_block_seq,
            "head_record_hash": head.head_hash, "block": latest}  # fmt: skip


def public_keys(conn: Connection) -> list[dict[str, Any]]:
    """Every key that ever signed, with the range of time it signed blocks."""
    used = dict(
        (row.key_id, (row.first, row.last))
        for row in conn.execute(select(Block.key_id, func.min(Block.sealed_at).label("first"), func.max(Block.sealed_at).label("last")).group_by(Block.key_id))
    )
    keys = []
    for row in conn.execute(select(SigningKey).order_by(SigningKey.first_used_at)):
        first, last = used.get(row.key_id, (None, None))
        keys.append({"key_id": row.key_id, "algorithm": row.algorithm, "pem": row.public_pem, "kms_key_arn": row.kms_key_arn,
                     "registered_at": row.first_used_at, "first_signed_at": first, "last_signed_at": last})  # fmt: skip
    return keys


# ---------------------------------------------------------------- the whole chain


# A record's body members in section 2 order, then what verification and export also need: a row's
# first len(RECORD_FIELDS) values zipped with RECORD_FIELDS are its body, with no per-member lookup.
_CHAIN_RECORD_COLUMNS = (
    literal(evidence.FORMAT_VERSION).label("v"), *(getattr(Record, name) for name in evidence.RECORD_FIELDS[1:]),
    Record.record_hash, Record.context_json, Record.block_seq,
)  # fmt: skip


def _chain_record_body(row: Any) -> dict[str, Any]:
    return dict(zip(evidence.RECORD_FIELDS, row))


def _records_in_order(conn: Connection, tenant_id: str, after_seq: int = -1, through_seq: Optional[int] = None) -> Iterator[Any]:
    query = select(*_CHAIN_RECORD_COLUMNS).where(Record.tenant_id == tenant_id, Record.seq > after_seq)
    if through_seq is not None:
        query = query.where(Record.seq <= through_seq)
    yield from conn.execution_options(yield_per=_PAGE).execute(query.order_by(Record.seq))


def _blocks_in_order(conn: Connection, tenant_id: str, first_block: int = 0, end_block: Optional[int] = None) -> Iterator[Any]:
    after = first_block - 1
    while True:
        query = select(*BLOCK_COLUMNS).where(Block.tenant_id == tenant_id, Block.block_seq > after)
        if end_block is not None:
            query = query.where(Block.block_seq < end_block)
        page = conn.execute(query.order_by(Block.block_seq).limit(_PAGE)).all()
        yield from page
        if len(page) < _PAGE:
            return
        after = page[-1].block_seq


def _chain(conn: Connection, tenant_id: str, start: evidence.ChainState = evidence.GENESIS, end: Optional[Any] = None) -> Iterator[tuple[str, Any]]:
    """("record", row) and ("block", row) in bundle order: each block's records, then the block.

    From `start` (the state after a block) to the block row `end` included, or to the end of the chain.
    """
    through_seq, end_block = (None, None) if end is None else (end.last_seq, end.block_seq + 1)
    records = _records_in_order(conn, tenant_id, start.next_seq - 1, through_seq)
    pending = next(records, None)
    for block in _blocks_in_order(conn, tenant_id, start.blocks, end_block):
        while pending is not None and pending.seq <= block.last_seq:
            yield "record", pending
            pending = next(records, None)
        yield "block", block
    while pending is not None:
        yield "record", pending
        pending = next(records, None)


def _check_payload(conn: Connection, tenant_id: str, row: Any) -> None:
    if row.payload_ref is None:
        return
    stored = conn.execute(select(Payload).where(Payload.tenant_id == tenant_id, Payload.payload_ref == row.payload_ref)).first()
    if stored is None or (stored.body is None and stored.erased_at is None):
        raise evidence.VerificationError(f"record seq {row.seq}", "payload", f"expected stored payload {row.payload_ref}, got none", seq=row.seq)
    if stored.body is not None and evidence.sha256_hex(stored.body.encode("utf-8")) != row.payload_ref:
        actual = evidence.sha256_hex(stored.body.encode("utf-8"))
        raise evidence.VerificationError(f"record seq {row.seq}", "payload", f"expected {row.payload_ref}, got {actual}", seq=row.seq)


def _keys_by_id(conn: Connection) -> dict[str, str]:
    return {row.key_id: row.public_pem for row in conn.execute(select(SigningKey.key_id, SigningKey.public_pem))}


def _check_context(row: Any) -> None:
    """The ledger stores a context as its canonical JSON, so the hash of the stored text is its commitment:
    no parse needed, and any change to a stored byte (even one that keeps the same JSON value) is found."""
    actual = evidence.sha256_hex(row.context_json.encode("utf-8"))
    if actual != row.context_hash:
        raise evidence.VerificationError(f"record seq {row.seq}", "context_hash", f"expected {row.context_hash}, got {actual}", seq=row.seq)


def _check_block_pointers(rows: list[Any], block_seq: int) -> None:
    """Each record points at the block that seals it: receipts are built by following that pointer."""
    for row in rows:
        if row.block_seq != block_seq:
            raise evidence.VerificationError(f"record seq {row.seq}", "block_seq", f"expected block {block_seq}, got {row.block_seq}", seq=row.seq)


def verify_chain(engine: Engine, tenant_id: str, *, jobs: int = 1, witnesses: Sequence[note.Verifier] = ()) -> dict[str, Any]:
    """Section 6 full-chain verification of one tenant, straight from the database, then its log: tiles,
    checkpoints, and the stored cosignatures of `witnesses` (cosigner keys; others cannot be checked).

    With jobs > 1, in that many processes, each a range of blocks (see xase.segments): the same
    report as with one, faster. Not for a request handler, which must not fork.
    """
    if jobs > 1:
        report = _verify_in_segments(engine, tenant_id, jobs)
        if report is not None:
            return report if not report["ok"] else _verify_log(engine, tenant_id, report, witnesses)
    with read_connection(engine) as conn:
        verifier = evidence.ChainVerifier(tenant_id, _keys_by_id(conn))
        try:
            _verify_to_the_head(conn, verifier, _chain(conn, tenant_id))
        except evidence.VerificationError as failure:
            return {"ok": False, "tenant_id": tenant_id, "records": verifier.records, "blocks": verifier.blocks,
                    "first_broken_seq": failure.seq, "error": {"step": failure.step, "message": str(failure)}}  # fmt: skip
    return _verify_log(engine, tenant_id, _verified(tenant_id, verifier.records, verifier.blocks), witnesses)


def _verify_log(engine: Engine, tenant_id: str, report: dict[str, Any], witnesses: Sequence[note.Verifier]) -> dict[str, Any]:
    """A verified chain's tree: its stored tiles are the chain's, each checkpoint is signed and states the tree's root,
    each stored cosignature of a known witness verifies."""
    cosignatures = 0
    with read_connection(engine, snapshot=True) as conn:
        size = tree.tree_size(conn, tenant_id)
        in_order = select(Record.record_hash).where(Record.tenant_id == tenant_id, Record.seq < size).order_by(Record.seq)
        problem = tree.check_tree(conn, tenant_id, conn.execute(in_order.execution_options(yield_per=_PAGE)).scalars())
        step = "log_tree"
        if problem is None:
            problem, step = checkpoints.verify_checkpoints(conn, tenant_id, tree.TreeReader(conn, tenant_id, size)), "checkpoint"
        if problem is None:
            (cosignatures, problem), step = checkpoints.verify_cosignatures(conn, tenant_id, witnesses), "cosignature"
    if problem is not None:
        seq, message = problem
        return {**report, "ok": False, "first_broken_seq": seq, "error": {"step": step, "message": message}}
    return {**report, "cosignatures_checked": cosignatures} if cosignatures else report  # a ledger without witnesses: the chain's report


def _verified(tenant_id: str, records: int, blocks: int) -> dict[str, Any]:
    return {"ok": True, "tenant_id": tenant_id, "records": records, "blocks": blocks, "first_broken_seq": None, "error": None}


def _verify_rows(conn: Connection, verifier: evidence.ChainVerifier, rows: Iterator[tuple[str, Any]]) -> None:
    unsealed: list[Any] = []
    for kind, row in rows:
        if kind == "record":
            verifier.add_record(_chain_record_body(row), row.record_hash)
            _check_context(row)
            _check_payload(conn, verifier.tenant_id, row)
            unsealed.append(row)
        else:
            verifier.add_block(block_view(row))
            _check_block_pointers(unsealed, row.block_seq)
            unsealed = []


def _verify_to_the_head(conn: Connection, verifier: evidence.ChainVerifier, rows: Iterator[tuple[str, Any]]) -> None:
    """The rest of the chain, then the chain head: it must count exactly what was verified."""
    _verify_rows(conn, verifier, rows)
    verifier.finish()
    head = conn.execute(select(ChainHead).where(ChainHead.tenant_id == verifier.tenant_id)).one()
    if (head.next_seq, head.next_block_seq) != (verifier.records, verifier.blocks):
        raise evidence.VerificationError(
            f"record seq {verifier.records}", "chain_head",
            f"expected {head.next_seq} records and {head.next_block_seq} blocks, got {verifier.records} and {verifier.blocks}",
            seq=min(head.next_seq, verifier.records),
        )  # fmt: skip


def _verify_in_segments(engine: Engine, tenant_id: str, jobs: int) -> Optional[dict[str, Any]]:
    """The report if every range of blocks verifies and joins; None for the sequential pass to decide."""
    if engine.url.get_backend_name() == "sqlite" and engine.url.database in (None, "", ":memory:"):
        return None  # another process cannot open it
    with read_connection(engine) as conn:
        blocks = conn.execute(select(ChainHead.next_block_seq).where(ChainHead.tenant_id == tenant_id)).scalar() or 0
        keys = _keys_by_id(conn)
    bounds = sorted({blocks * k // jobs for k in range(jobs)})
    if len(bounds) < 2:
        return None
    engine.dispose()  # no pooled connection may live on in a forked worker
    url = engine.url.render_as_string(hide_password=False)
    ranges = zip(bounds, [*bounds[1:], None])
    end = segments.joined(segments.run_segments(_verify_segment, [(url, tenant_id, keys, first, last) for first, last in ranges]))
    return None if end is None else _verified(tenant_id, end.next_seq, end.blocks)


def _verify_segment(url: str, tenant_id: str, keys: dict[str, str], first_block: int, end_block: Optional[int]) -> Optional[segments.Segment]:
    """Blocks [first_block, end_block) and their records, in a worker process; the last range runs to the head."""
    engine = make_engine(url)
    try:
        with read_connection(engine) as conn:
            start = evidence.GENESIS if first_block == 0 else evidence.ChainState.after_block(block_view(_block_row(conn, tenant_id, first_block - 1)))
            verifier = evidence.ChainVerifier(tenant_id, keys, start)
            if end_block is None:
                _verify_to_the_head(conn, verifier, _chain(conn, tenant_id, start))
            else:
                _verify_rows(conn, verifier, _chain(conn, tenant_id, start, _block_row(conn, tenant_id, end_block - 1)))
    except Exception:
        return None
    finally:
        engine.dispose()
    state = verifier.state
    return None if state is None else segments.Segment(start, state)


def _exported_context(stored: str) -> Any:
    """The stored context; if it is no longer JSON (tampered, corrupt), its text, for the verifier to reject by seq."""
    try:
        return json.loads(stored)
    except ValueError:
        return stored


def bundle_keys(conn: Connection) -> list[dict[str, Any]]:
    """The public keys as an export bundle's header names them."""
    return [{"key_id": key["key_id"], "pem": key["pem"], "kms_key_arn": key["kms_key_arn"]} for key in public_keys(conn)]


def record_lines(conn: Connection, tenant_id: str, count: int) -> Iterator[dict[str, Any]]:
    """Records [0, count) of the chain as an export bundle's record lines (parsed), in order."""
    for row in _records_in_order(conn, tenant_id, through_seq=count - 1):
        yield {"type": "record", "record": _chain_record_body(row), "record_hash": row.record_hash, "context": _exported_context(row.context_json)}


def export_lines(engine: Engine, tenant_id: str) -> Iterator[bytes]:
    """The section 6 JSON Lines bundle, streamed; xase.bundle.verify_bundle checks it."""
    with read_connection(engine) as conn:
        yield bundle.header_line(tenant_id, bundle_keys(conn), evidence.format_timestamp(datetime.now(timezone.utc)))
        records = blocks = 0
        for kind, row in _chain(conn, tenant_id):
            if kind == "record":
                records += 1
                yield bundle.record_line(_chain_record_body(row), row.record_hash, _exported_context(row.context_json))
            else:
                blocks += 1
                yield bundle.block_line(block_view(row))
        yield bundle.end_line(records, blocks)


def stats(conn: Connection, tenant_id: str) -> dict[str, Any]:
    head = conn.execute(select(ChainHead).where(ChainHead.tenant_id == tenant_id)).one()
    latest = conn.execute(select(Block.sealed_at).where(Block.tenant_id == tenant_id).order_by(Block.block_seq.desc()).limit(1)).scalar()
    return {"tenant_id": tenant_id, "records": head.next_seq, "blocks": head.next_block_seq,
            "head_record_hash": head.head_hash, "last_sealed_at": latest}  # fmt: skip


def latest_record_naming(conn: Connection, tenant_id: str, policy_id: str, text: str) -> Optional[tuple[int, str]]:
    """(seq, transaction_id) of the newest record of `policy_id` whose stored context contains `text` (a hash, an
    id), or None: how another subsystem finds the record that evidenced one of its objects."""
    query = (select(Record.seq, Record.transaction_id).where(Record.tenant_id == tenant_id, Record.policy_id == policy_id,
                                                             Record.context_json.contains(text)).order_by(Record.seq.desc()).limit(1))  # fmt: skip
    row = conn.execute(query).first()
    return None if row is None else (row.seq, row.transaction_id)


def contexts_naming(conn: Connection, tenant_id: str, member: str) -> Iterator[tuple[int, str, str, dict[str, Any]]]:
    """(seq, policy_id, transaction_id, context) of each record whose stored context has `member` at its top
    level, in chain order: how another subsystem finds the records that commit to its objects."""
    query = (select(Record.seq, Record.policy_id, Record.transaction_id, Record.context_json)
             .where(Record.tenant_id == tenant_id, Record.context_json.contains(f'"{member}"')).order_by(Record.seq))  # fmt: skip
    for row in conn.execute(query):
        try:
            context = json.loads(row.context_json)
        except ValueError:
            continue  # not JSON any more: verify_chain reports it by seq
        if isinstance(context, dict) and member in context:
            yield row.seq, row.policy_id, row.transaction_id, context
