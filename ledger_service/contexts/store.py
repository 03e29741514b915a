"""Contexts, turns and blobs: create, fork, append, walk a history, stats.

Every write first locks the tenant's counters row, so one tenant's writes are serialized (ids are
contiguous, a head moves by one writer at a time) and never wait on another tenant's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional, cast

from sqlalchemy import Connection, Row, Table, bindparam, func, insert, select, text, update

from ledger_service import workers
from ledger_service.auth import Principal, now
from ledger_service.contexts import codec
from ledger_service.contexts.counters import counters, lock_counters
from ledger_service.contexts.registry import Registry
from ledger_service.contexts.tables import AgentContext, Blob, ContextCounters, Turn
from ledger_service.db import bulk_insert
from ledger_service.errors import Conflict, NotFound, Unprocessable, ValidationFailed, check_quota, over_cap
from xase import evidence
from xase.contexts import history
from xase.evidence import ZERO_HASH
from xase.wire import is_decimal, is_label

__all__ = ["TurnInput", "parse_id", "parse_turn", "page_rows", "with_payloads", "create_context", "append", "get_context", "list_contexts",
           "children", "walk", "get_blob", "stats", "MAX_APPEND_TURNS"]  # fmt: skip

MAX_APPEND_TURNS = 1_000  # turns per append request (the batch form)
MAX_ID = 2**63 - 1
MAX_TYPE_ID = 256
MAX_IDEMPOTENCY_KEY = 128
MAX_TAG = 200
MAX_LISTED_CHILDREN = 100  # child ids a lineage block lists (child_count counts them all)
MAX_PAGE_BYTES = 8 * 1024 * 1024  # payload bytes (uncompressed) one page of turns holds: past it the page ends early


def parse_id(value: Any, what: str, *, zero: bool = True) -> int:
    """A decimal-string id (as the seed writes them; a JSON integer is taken too); 400 otherwise."""
    text_value = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not is_decimal(text_value) or len(text_value) > 19 or int(text_value) > MAX_ID:
        raise ValidationFailed(f"{what}: expected a decimal id, got {value!r}"[:200], {"field": what})
    number = int(text_value)
    if number == 0 and not zero:
        raise NotFound(f"{what} 0 does not exist", {what: "0"})
    return number


@dataclass(frozen=True)
class TurnInput:
    type_id: str
    type_version: int
    data: dict[str, Any]
    parent_turn_id: Optional[int]
    idempotency_key: Optional[str]


def parse_turn(body: dict[str, Any]) -> TurnInput:
    """One append's body (seed 003): 422 for a missing or invalid type or data, 400 for a malformed id or key."""
    type_id, version = body.get("type_id"), body.get("type_version")
    if not is_label(type_id, MAX_TYPE_ID):
        raise Unprocessable(f"type_id: expected a printable string of 1 to {MAX_TYPE_ID} characters", {"field": "type_id"})
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= 2**32 - 1:
        raise Unprocessable("type_version: expected an integer in [0, 4294967295]", {"field": "type_version"})
    if "data" in body and "payload" in body and body["data"] != body["payload"]:
        raise Unprocessable("data and payload are aliases: send one of them", {"field": "data"})
    data = body["data"] if "data" in body else body.get("payload")
    if not isinstance(data, dict):
        raise Unprocessable("data (or payload): expected a JSON object", {"field": "data"})
    parent = body.get("parent_turn_id")
    key = body.get("idempotency_key")
    if key is not None and not is_label(key, MAX_IDEMPOTENCY_KEY):
        raise ValidationFailed(f"idempotency_key: expected a printable string of 1 to {MAX_IDEMPOTENCY_KEY} characters", {"field": "idempotency_key"})
    return TurnInput(type_id, version, data, None if parent is None else parse_id(parent, "parent_turn_id"), key)


def check_tag(tag: Any) -> Optional[str]:
    if tag is not None and not is_label(tag, MAX_TAG):
        raise ValidationFailed(f"tag: expected a printable string of 1 to {MAX_TAG} characters", {"field": "tag"})
    return tag


# ---------------------------------------------------------------- contexts


def _turn(conn: Connection, tenant_id: str, turn_id: int) -> Row[Any]:
    row = conn.execute(select(Turn).where(Turn.tenant_id == tenant_id, Turn.turn_id == turn_id)).first()
    if row is None:
        raise NotFound(f"Turn {turn_id} not found", {"turn_id": str(turn_id)})
    return row


def turn_reference_problem(conn: Connection, tenant_id: str, turn_id: int, turn_hash: str) -> Optional[str]:
    """Why a decision's reference to a turn does not match the stored turn, or None (the stored hash, as stored:
    `verify_tenant` recomputes the whole history)."""
    row = conn.execute(select(Turn.turn_hash).where(Turn.tenant_id == tenant_id, Turn.turn_id == turn_id)).first()
    if row is None:
        return f"turn {turn_id} is not in the context store"
    return None if row.turn_hash == turn_hash else f"turn {turn_id} has hash {row.turn_hash}; the decision names {turn_hash}"


def get_context(conn: Connection, tenant_id: str, context_id: int) -> Row[Any]:
    row = conn.execute(select(AgentContext).where(AgentContext.tenant_id == tenant_id, AgentContext.context_id == context_id)).first()
    if row is None:
        raise NotFound(f"Context {context_id} not found", {"context_id": str(context_id)})
    return row


def context_and_bundle(conn: Connection, tenant_id: str, context_id: int) -> tuple[Row[Any], Optional[str]]:
    """A context and the tenant's latest registry bundle id (None before any), in one query."""
    query = (select(AgentContext, ContextCounters.registry_bundle_id)
             .outerjoin(ContextCounters, ContextCounters.tenant_id == AgentContext.tenant_id)
             .where(AgentContext.tenant_id == tenant_id, AgentContext.context_id == context_id))  # fmt: skip
    row: Any = conn.execute(query).first()
    if row is None:
        raise NotFound(f"Context {context_id} not found", {"context_id": str(context_id)})
    return row, row.registry_bundle_id


def create_context(conn: Connection, caller: Principal, base_turn_id: int, tag: Optional[str]) -> Row[Any]:
    """A new context whose head is `base_turn_id` (0: empty); it shares that turn's history (a fork)."""
    tenant_id = caller.tenant_id
    context_id = lock_counters(conn, tenant_id).next_context_id
    head_depth, head_hash, parent_context, root_context = 0, ZERO_HASH, None, context_id
    if base_turn_id:
        base = _turn(conn, tenant_id, base_turn_id)
        head_depth, head_hash, parent_context = base.depth, base.turn_hash, base.context_id
        root_context = get_context(conn, tenant_id, base.context_id).root_context_id
    conn.execute(insert(AgentContext), [{
        "tenant_id": tenant_id, "context_id": context_id, "head_turn_id": base_turn_id, "head_depth": head_depth, "head_turn_hash": head_hash,
        "base_turn_id": base_turn_id, "parent_context_id": parent_context, "root_context_id": root_context, "client_tag": tag,
        "created_by": caller.key_id, "created_at": now(), "sealed_turn_id": 0,
    }])  # fmt: skip
    conn.execute(update(ContextCounters).where(ContextCounters.tenant_id == tenant_id).values(next_context_id=context_id + 1))
    return get_context(conn, tenant_id, context_id)


def list_contexts(conn: Connection, tenant_id: str, limit: int, tag: Optional[str], before: Optional[int] = None) -> tuple[list[Row[Any]], int]:
    """The newest contexts first (older than context `before`, if given), and how many there are in all (with the
    tag, if given)."""
    where = [AgentContext.tenant_id == tenant_id] + ([AgentContext.client_tag == tag] if tag is not None else [])
    older = [AgentContext.context_id < before] if before is not None else []
    rows = list(conn.execute(select(AgentContext).where(*where, *older).order_by(AgentContext.context_id.desc()).limit(limit)))
    total = conn.execute(select(func.count()).select_from(AgentContext).where(*where)).scalar_one()
    return rows, int(total)


def child_ids(conn: Connection, tenant_id: str, parents: Sequence[int]) -> dict[int, tuple[list[int], int]]:
    """Each parent's first MAX_LISTED_CHILDREN children's ids (creation order) and how many it has: two queries,
    whatever the fan-out."""
    found: dict[int, tuple[list[int], int]] = {parent: ([], 0) for parent in parents}
    if not parents:
        return found
    scope = [AgentContext.tenant_id == tenant_id, AgentContext.parent_context_id.in_(list(parents))]
    for row in conn.execute(select(AgentContext.parent_context_id, func.count()).where(*scope).group_by(AgentContext.parent_context_id)):
        found[cast(int, row[0])] = ([], int(row[1]))  # never NULL: the IN filter excludes it
    position = func.row_number().over(partition_by=AgentContext.parent_context_id, order_by=AgentContext.context_id).label("position")
    numbered = select(AgentContext.parent_context_id, AgentContext.context_id, position).where(*scope).subquery()
    listed = select(numbered.c.parent_context_id, numbered.c.context_id).where(numbered.c.position <= MAX_LISTED_CHILDREN)
    for row in conn.execute(listed.order_by(numbered.c.parent_context_id, numbered.c.context_id)):
        found[cast(int, row.parent_context_id)][0].append(row.context_id)
    return found


def children(conn: Connection, tenant_id: str, context_id: int, recursive: bool, limit: int) -> list[Row[Any]]:
    """The direct children (or all descendants, breadth first) of a context, at most `limit`: each level is one
    query bounded by what is still wanted."""
    get_context(conn, tenant_id, context_id)
    found: list[Row[Any]] = []
    frontier = [context_id]
    while frontier and len(found) < limit:
        level = list(conn.execute(select(AgentContext).where(AgentContext.tenant_id == tenant_id, AgentContext.parent_context_id.in_(frontier))
                                  .order_by(AgentContext.context_id).limit(limit - len(found))))  # fmt: skip
        found.extend(level)
        frontier = [row.context_id for row in level] if recursive else []
    return found


def context_view(row: Row[Any], provenance: bool = False, lineage: bool = False, kids: Optional[tuple[list[int], int]] = None) -> dict[str, Any]:
    view: dict[str, Any] = {"context_id": str(row.context_id), "head_turn_id": str(row.head_turn_id), "head_depth": row.head_depth,
                            "head_turn_hash": row.head_turn_hash, "created_at": row.created_at}  # fmt: skip
    if provenance:
        view["provenance"] = {"client_tag": row.client_tag, "created_by_key_id": row.created_by, "base_turn_id": str(row.base_turn_id),
                              "created_at": row.created_at}  # fmt: skip
    if lineage:
        listed, count = kids or ([], 0)
        view["lineage"] = {
            "parent_context_id": None if row.parent_context_id is None else str(row.parent_context_id),
            "root_context_id": str(row.root_context_id),
            "forked_from_turn_id": str(row.base_turn_id) if row.parent_context_id is not None else None,
            "children": [str(child) for child in listed],
            "child_count": count,
        }
    return view


# ---------------------------------------------------------------- turns


def _earlier_turns(conn: Connection, tenant_id: str, context_id: int, keys: list[str]) -> dict[str, Row[Any]]:
    """The turns already appended to this context under any of these idempotency keys, by key: one query."""
    if not keys:
        return {}
    query = select(Turn).where(Turn.tenant_id == tenant_id, Turn.context_id == context_id, Turn.idempotency_key.in_(keys))
    return {row.idempotency_key: row for row in conn.execute(query)}


def _store_blobs(conn: Connection, tenant_id: str, payloads: dict[str, EncodedTurn], stored: int, quota: int) -> None:
    """Store the payloads the tenant does not hold yet (dedup), and count them into its totals (`stored` bytes so far, within `quota`)."""
    if not payloads:
        return
    held = set(conn.execute(select(Blob.content_hash).where(Blob.tenant_id == tenant_id, Blob.content_hash.in_(list(payloads)))).scalars())
    created = now()
    fresh = [turn for content_hash, turn in payloads.items() if content_hash not in held]
    if fresh:
        check_quota(stored + sum(len(turn.stored) for turn in fresh), quota, "agent context store")
        conn.execute(insert(Blob), [{"tenant_id": tenant_id, "content_hash": turn.content_hash, "compression": turn.compression,
                                     "uncompressed_len": turn.uncompressed_len, "data": turn.stored, "created_at": created} for turn in fresh])  # fmt: skip
        conn.execute(
            update(ContextCounters)
            .where(ContextCounters.tenant_id == tenant_id)
            .values(blobs=ContextCounters.blobs + len(fresh), storage_bytes=ContextCounters.storage_bytes + sum(len(turn.stored) for turn in fresh))
        )


def _turn_answer(context_id: int, row: dict[str, Any] | Row[Any]) -> dict[str, Any]:
    get = row.__getitem__ if isinstance(row, dict) else row._mapping.__getitem__
    return {"context_id": str(context_id), "turn_id": str(get("turn_id")), "parent_turn_id": str(get("parent_turn_id")), "depth": get("depth"),
            "content_hash": get("content_hash"), "turn_hash": get("turn_hash")}  # fmt: skip


@dataclass(frozen=True)
class AppendLimits:
    max_turn_bytes: int
    compress_min_bytes: int


@dataclass(frozen=True)
class EncodedTurn:
    """A turn to append, its payload encoded, hashed and compressed: all the CPU an append costs, spent before it
    takes the tenant's write lock (on SQLite, the database's only one)."""

    item: TurnInput
    content_hash: str
    uncompressed_len: int
    compression: int
    stored: bytes


TURN_FIELDS = ("type_id", "type_version", "data", "payload", "parent_turn_id", "idempotency_key")


def parse_append(body: Any, batch: bool) -> list[TurnInput]:
    """The turns of an append's JSON body: one turn, or (`batch`) `{"turns": [...]}`, 1 to MAX_APPEND_TURNS of them."""
    if not isinstance(body, dict):
        raise ValidationFailed("body must be a JSON object")
    unknown = sorted(set(body) - ({"turns"} if batch else set(TURN_FIELDS)))
    if unknown:
        raise ValidationFailed(f"unknown fields {unknown}", {"fields": unknown})
    if not batch:
        return [parse_turn(body)]
    items = body.get("turns")
    if not isinstance(items, list) or not items:
        raise ValidationFailed("turns: expected a non-empty array", {"field": "turns"})
    if len(items) > MAX_APPEND_TURNS:
        raise over_cap("turns per append", "MAX_APPEND_TURNS", MAX_APPEND_TURNS)
    inputs = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or set(item) - set(TURN_FIELDS):
            raise ValidationFailed(f"turns[{index}]: expected a turn object with members among {list(TURN_FIELDS)}", {"index": index})
        inputs.append(parse_turn(item))
    return inputs


def encode_body(database: workers.Database, tenant_id: str, body: bytes, batch: bool, limits: AppendLimits) -> list[EncodedTurn]:
    """An append's raw JSON body parsed, checked and encoded, in a worker process (through its own connection); the
    turns come back without their JSON data, which only the encoding needed."""
    try:
        parsed = evidence.loads(body)
    except evidence.InvalidJSONError as exc:
        raise ValidationFailed(str(exc)) from None
    with workers.engine_for(database).connect() as conn:
        encoded = encode_turns(conn, tenant_id, parse_append(parsed, batch), limits)
    return [dataclasses.replace(turn, item=dataclasses.replace(turn.item, data={})) for turn in encoded]


def encode_turns(conn: Connection, tenant_id: str, inputs: Sequence[TurnInput], limits: AppendLimits) -> list[EncodedTurn]:
    """Each turn's payload as it will be stored; 422 for data that does not fit its descriptor, 400 past the size cap."""
    registry = Registry(conn, tenant_id)
    encoded = []
    for item in inputs:
        payload = codec.encode(item.data, registry.descriptor(item.type_id, item.type_version), registry)
        if len(payload) > limits.max_turn_bytes:
            raise over_cap("turn payload bytes", "XASE_CXDB_MAX_TURN_BYTES", limits.max_turn_bytes)
        compression, stored = codec.compress(payload, limits.compress_min_bytes)
        encoded.append(EncodedTurn(item, history.content_hash(payload), len(payload), compression, stored))
    return encoded


@dataclass
class _Head:
    """A context's head as an append moves it, turn by turn."""

    turn_id: int
    depth: int
    turn_hash: str
    next_turn_id: int


def _check_replay(earlier: Row[Any], item: TurnInput, content_hash: str) -> None:
    if (earlier.type_id, earlier.type_version, earlier.content_hash) != (item.type_id, item.type_version, content_hash):
        raise Conflict("idempotency_key was used for a different turn", {"idempotency_key": item.idempotency_key, "turn_id": str(earlier.turn_id)})


def _next_turn(tenant_id: str, context_id: int, head: _Head, item: TurnInput, content_hash: str, created: str) -> dict[str, Any]:
    """The row of the turn `item` appends on `head`, which moves to it."""
    if item.parent_turn_id is not None and item.parent_turn_id != head.turn_id:
        raise Conflict(f"parent_turn_id {item.parent_turn_id} is not the head of context {context_id}",
                       {"parent_turn_id": str(item.parent_turn_id), "head_turn_id": str(head.turn_id)})  # fmt: skip
    depth = head.depth + 1
    turn_hash = history.turn_hash(head.turn_hash if depth > 1 else None, depth, item.type_id, item.type_version, content_hash)
    row = {"tenant_id": tenant_id, "turn_id": head.next_turn_id, "parent_turn_id": head.turn_id, "context_id": context_id, "depth": depth,
           "type_id": item.type_id, "type_version": item.type_version, "encoding": history.ENCODING_MSGPACK, "content_hash": content_hash,
           "turn_hash": turn_hash, "idempotency_key": item.idempotency_key, "created_at": created}  # fmt: skip
    head.turn_id, head.depth, head.turn_hash, head.next_turn_id = head.next_turn_id, depth, turn_hash, head.next_turn_id + 1
    return row


_TURNS = cast(Table, Turn.__table__)
_TURN_COLUMNS = tuple(column.key for column in _TURNS.columns)


def append(conn: Connection, tenant_id: str, context_id: int, turns: Sequence[EncodedTurn], quota: int = 0) -> tuple[list[dict[str, Any]], bool]:
    """Append encoded turns, each on the previous, to a context's head; their answers, and whether all were replays
    of earlier appends with the same idempotency keys."""
    keys = [turn.item.idempotency_key for turn in turns if turn.item.idempotency_key is not None]
    if len(keys) != len(set(keys)):
        raise ValidationFailed("idempotency_key: the same key twice in one append", {"field": "idempotency_key"})
    locked = lock_counters(conn, tenant_id)
    next_turn_id = locked.next_turn_id
    context = get_context(conn, tenant_id, context_id)
    head = _Head(context.head_turn_id, context.head_depth, context.head_turn_hash, next_turn_id)
    earlier_turns = _earlier_turns(conn, tenant_id, context_id, keys)
    answers: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    payloads: dict[str, EncodedTurn] = {}
    created = now()
    for turn in turns:
        item = turn.item
        earlier = earlier_turns.get(item.idempotency_key) if item.idempotency_key else None
        if earlier is not None:
            _check_replay(earlier, item, turn.content_hash)
            answers.append(_turn_answer(context_id, earlier))
            continue
        rows.append(_next_turn(tenant_id, context_id, head, item, turn.content_hash, created))
        payloads[turn.content_hash] = turn
        answers.append(_turn_answer(context_id, rows[-1]))
    if rows:
        _store_blobs(conn, tenant_id, payloads, locked.storage_bytes, quota)
        bulk_insert(conn, _TURNS, [tuple(row[column] for column in _TURN_COLUMNS) for row in rows])  # inside the write lock: the cheapest insert
        conn.execute(update(AgentContext).where(AgentContext.tenant_id == tenant_id, AgentContext.context_id == context_id)
                     .values(head_turn_id=head.turn_id, head_depth=head.depth, head_turn_hash=head.turn_hash))  # fmt: skip
        conn.execute(update(ContextCounters).where(ContextCounters.tenant_id == tenant_id).values(next_turn_id=head.next_turn_id))
    return answers, not rows


_WALK = text("""
WITH RECURSIVE walk(turn_id, n) AS (
    SELECT CAST(:start AS BIGINT), 1
    UNION ALL
    SELECT t.parent_turn_id, walk.n + 1 FROM walk JOIN cxdb_turns t ON t.tenant_id = :tenant AND t.turn_id = walk.turn_id
    WHERE walk.n < :count AND t.parent_turn_id <> 0
)
SELECT t.turn_id, t.parent_turn_id, t.depth, t.type_id, t.type_version, t.encoding, t.content_hash, t.turn_hash, t.created_at,
       b.compression, b.uncompressed_len, b.content_hash AS blob_hash
FROM walk JOIN cxdb_turns t ON t.tenant_id = :tenant AND t.turn_id = walk.turn_id
LEFT JOIN cxdb_blobs b ON b.tenant_id = :tenant AND b.content_hash = t.content_hash
ORDER BY t.depth
""").bindparams(bindparam("start"), bindparam("tenant"), bindparam("count"))


def walk(conn: Connection, tenant_id: str, start_turn_id: int, count: int) -> list[Row[Any]]:
    """`count` turns from `start_turn_id` towards the root, oldest first, each with its blob's size (not its bytes):
    one query at any depth."""
    if start_turn_id == 0 or count <= 0:
        return []
    return list(conn.execute(_WALK, {"start": start_turn_id, "tenant": tenant_id, "count": count}))


def _within_budget(rows: list[Row[Any]], budget: int) -> list[Row[Any]]:
    """The newest of `rows` whose payloads add up to at most `budget` bytes (at least one), oldest first."""
    kept: list[Row[Any]] = []
    total = 0
    for row in reversed(rows):
        total += row.uncompressed_len or 0
        if kept and total > budget:
            break
        kept.append(row)
    return kept[::-1]


def _payloads(conn: Connection, tenant_id: str, content_hashes: set[str]) -> dict[str, bytes]:
    """content hash -> payload, each distinct blob read and decompressed once."""
    wanted = sorted(content_hashes)
    found: dict[str, bytes] = {}
    for start in range(0, len(wanted), 500):
        query = select(Blob.content_hash, Blob.compression, Blob.data, Blob.uncompressed_len)
        query = query.where(Blob.tenant_id == tenant_id, Blob.content_hash.in_(wanted[start : start + 500]))
        found.update({row.content_hash: codec.decompress(row.compression, row.data, row.uncompressed_len) for row in conn.execute(query)})
    return found


def page_rows(conn: Connection, tenant_id: str, context: Row[Any], limit: int, before_turn_id: Optional[int], from_turn_id: Optional[int] = None,
              budget: int = MAX_PAGE_BYTES) -> list[Row[Any]]:  # fmt: skip
    """A page of history, oldest first, without payloads: the `limit` turns from the context's head, from
    `from_turn_id` (that turn and older), or below `before_turn_id` (older than that turn). The page ends early, at
    the newest turns whose payloads add up to `budget` bytes."""
    if from_turn_id is not None:
        rows = walk(conn, tenant_id, _turn(conn, tenant_id, from_turn_id).turn_id if from_turn_id else 0, limit)
    elif before_turn_id is None:
        rows = walk(conn, tenant_id, context.head_turn_id, limit)
    elif before_turn_id == 0:
        rows = []
    else:
        rows = walk(conn, tenant_id, _turn(conn, tenant_id, before_turn_id).parent_turn_id, limit)
    return _within_budget(rows, budget)


def with_payloads(conn: Connection, tenant_id: str, rows: list[Row[Any]]) -> list[tuple[Row[Any], Optional[bytes]]]:
    """Each turn with its payload (None: its blob is missing), each distinct blob read and decompressed once."""
    payloads = _payloads(conn, tenant_id, {row.content_hash for row in rows if row.blob_hash is not None})
    return [(row, payloads.get(row.content_hash)) for row in rows]


def get_blob(conn: Connection, tenant_id: str, content_hash: str) -> bytes:
    row = conn.execute(select(Blob).where(Blob.tenant_id == tenant_id, Blob.content_hash == content_hash)).first()
    if row is None:
        raise NotFound(f"Blob {content_hash} not found", {"content_hash": content_hash})
    return codec.decompress(row.compression, row.data, row.uncompressed_len)


def stats(conn: Connection, tenant_id: str) -> dict[str, Any]:
    row = counters(conn, tenant_id)
    if row is None:
        return {"contexts": 0, "turns": 0, "blobs": 0, "storage_bytes": 0, "dedup_hit_rate": 0.0}
    turns = row.next_turn_id - 1
    return {"contexts": row.next_context_id - 1, "turns": turns, "blobs": row.blobs, "storage_bytes": row.storage_bytes,
            "dedup_hit_rate": round((turns - row.blobs) / turns, 4) if turns else 0.0}  # fmt: skip
