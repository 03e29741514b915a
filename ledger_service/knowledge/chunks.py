"""Encrypted chunks: insert, fetch, update, patch, delete, metadata searches, and encrypted Hamming distances.

Metadata filters are the project's one MongoDB-style compiler (`ledger_service.query`) over the
chunks' plaintext `meta_data`, with its caps and 400s. Contents and vectors are ciphertexts the
server stores and returns as given; it never reads them.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional, cast

from sqlalchemy import Connection, Select, Table, delete, func, insert, select, update

from ledger_service import auth
from ledger_service.errors import NotFound, ValidationFailed, over_cap
from ledger_service.knowledge import bases, homomorphic
from ledger_service.knowledge.tables import Chunk, KnowledgeBase
from ledger_service.query import compile_filter, parse_path, sort_expression
from xase import evidence
from xase.wire import is_decimal

__all__ = ["FIELDS", "MAX_CHUNKS", "MAX_IDS", "MAX_RESULTS", "insert_chunks", "update_chunks", "patch_chunks", "delete_chunks",
           "get_chunks", "meta_filter", "search", "search_page", "matching_ids", "delete_matching", "patch_matching", "vector_selection",
           "SearchPlan", "plan_search", "stored_vector", "stream_vectors", "range_filter", "query_hash", "chunk_ids_argument"]  # fmt: skip

FIELDS = ("chunk_id", "name", "chunk_content", "meta_data", "index", "context_id", "created_at", "updated_at")
SEARCH_FIELDS = ("chunk_id", "name", "meta_data", "context_id")  # a metadata search's answer unless projected
MAX_CHUNKS = 500  # per insert, update or patch: the client's batch size
MAX_IDS = 1000  # chunk ids per fetch or delete
MAX_RESULTS = 10_000  # chunks one metadata search or page may answer; past it, page
MAX_MATCHED = 100_000  # chunks one delete or patch by metadata may change
MAX_NAME = 1024
MAX_META_BYTES = 16 * 1024
_META = cast(Table, Chunk.__table__).c.meta_data
_SORTABLE = {"chunk_id": Chunk.chunk_id, "name": Chunk.name, "created_at": Chunk.created_at, "updated_at": Chunk.updated_at}


def _invalid(message: str, field: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {message}", {"field": field})


def _list(value: Any, field: str, limit: int) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise _invalid("expected a non-empty list", field)
    if len(value) > limit:
        raise over_cap(field, "items", limit)
    return value


def _meta(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid("expected an object", field)
    try:
        size = len(evidence.canonicalize(value))
    except evidence.CanonicalizationError as exc:
        raise _invalid(str(exc), field) from None
    if size > MAX_META_BYTES:
        raise _invalid(f"at most {MAX_META_BYTES} bytes of JSON", field)
    return value


def _chunk_values(item: Any, field: str, context: homomorphic.PublicContext, *, with_id: bool) -> dict[str, Any]:
    allowed = {"chunk_content", "index", "meta_data", "name", *(("chunk_id",) if with_id else ())}
    if not isinstance(item, dict):
        raise _invalid("expected an object", field)
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise ValidationFailed(f"{field}: unknown fields {unknown}", {"field": field, "fields": unknown})
    vector = homomorphic.decode_vector(item.get("index"), context, f"{field}.index")
    return {"content": _content(item.get("chunk_content"), field), "name": _name(item.get("name", ""), field),
            "meta_data": _meta(item.get("meta_data"), f"{field}.meta_data"), "vector": homomorphic.pack_vector(vector)}  # fmt: skip


def _content(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise _invalid("chunk_content: expected the AES ciphertext as text", field)
    return value


def _name(value: Any, field: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_NAME:
        raise _invalid(f"name: expected a string of at most {MAX_NAME} characters", field)
    return value


def _chunk_id(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= evidence.MAX_SAFE_INTEGER:
        raise _invalid(f"expected a chunk id (an integer within 1..{evidence.MAX_SAFE_INTEGER})", field)
    return value


def _existing(conn: Connection, kb_id: str, ids: Sequence[int]) -> None:
    found = set(conn.execute(select(Chunk.chunk_id).where(Chunk.kb_id == kb_id, Chunk.chunk_id.in_(ids))).scalars())
    missing = [chunk_id for chunk_id in ids if chunk_id not in found]
    if missing:
        raise NotFound(f"no chunks {missing[:20]} in knowledge base {kb_id}", {"chunk_ids": missing[:100]})


def _touch(conn: Connection, kb_id: str, stamp: str) -> None:
    conn.execute(update(KnowledgeBase).where(KnowledgeBase.id == kb_id).values(updated_at=stamp))


# ---------------------------------------------------------------- writes


def insert_chunks(conn: Connection, kb: Any, context_id: str, context: homomorphic.PublicContext, items: Any) -> list[int]:
    """Store the chunks under new ids, in order; the base is bound to the context they are encrypted under."""
    rows = [_chunk_values(item, f"chunks[{n}]", context, with_id=False) for n, item in enumerate(_list(items, "chunks", MAX_CHUNKS))]
    first = conn.execute(select(KnowledgeBase.next_chunk_id).where(KnowledgeBase.id == kb.id).with_for_update()).scalar_one()
    stamp = auth.now()
    ids = list(range(first, first + len(rows)))
    conn.execute(insert(Chunk), [{"kb_id": kb.id, "chunk_id": chunk_id, "context_id": context_id, "created_at": stamp, "updated_at": stamp, **row}
                                 for chunk_id, row in zip(ids, rows)])  # fmt: skip
    conn.execute(update(KnowledgeBase).where(KnowledgeBase.id == kb.id).values(next_chunk_id=first + len(rows), updated_at=stamp))
    bases.bind(conn, kb.tenant_id, kb.id, context_id)
    return ids


def update_chunks(conn: Connection, kb: Any, context_id: str, context: homomorphic.PublicContext, items: Any) -> list[int]:
    """Replace whole chunks (content, vector, metadata, name), now encrypted under `context_id`."""
    updates = _list(items, "chunk_updates", MAX_CHUNKS)
    ids = [_chunk_id(item.get("chunk_id") if isinstance(item, dict) else None, f"chunk_updates[{n}].chunk_id") for n, item in enumerate(updates)]
    rows = [_chunk_values(item, f"chunk_updates[{n}]", context, with_id=True) for n, item in enumerate(updates)]
    _existing(conn, kb.id, ids)
    stamp = auth.now()
    for chunk_id, row in zip(ids, rows):
        conn.execute(update(Chunk).where(Chunk.kb_id == kb.id, Chunk.chunk_id == chunk_id).values(context_id=context_id, updated_at=stamp, **row))
    _touch(conn, kb.id, stamp)
    bases.bind(conn, kb.tenant_id, kb.id, context_id)
    return ids


def _merged(stored: Any, patch: Mapping[str, Any], field: str) -> dict[str, Any]:
    return _meta({**(stored or {}), **patch}, field)


def patch_chunks(conn: Connection, kb: Any, items: Any) -> list[int]:
    """Partial updates: `name`, `chunk_content` replaced; `meta_data` keys merged into the stored ones."""
    patches = _list(items, "chunk_patches", MAX_CHUNKS)
    ids, changes = [], []
    for n, item in enumerate(patches):
        field = f"chunk_patches[{n}]"
        if not isinstance(item, dict) or not set(item) <= {"chunk_id", "name", "chunk_content", "meta_data"}:
            raise _invalid("expected chunk_id and any of name, chunk_content, meta_data", field)
        ids.append(_chunk_id(item.get("chunk_id"), f"{field}.chunk_id"))
        if "name" in item:
            _name(item["name"], field)
        if "chunk_content" in item:
            _content(item["chunk_content"], field)
        if "meta_data" in item and not isinstance(item["meta_data"], dict):
            raise _invalid("meta_data: expected an object", field)
        changes.append(item)
    _existing(conn, kb.id, ids)
    stored: dict[int, Any] = dict(conn.execute(select(Chunk.chunk_id, Chunk.meta_data).where(Chunk.kb_id == kb.id, Chunk.chunk_id.in_(ids))).all())
    stamp = auth.now()
    for n, (chunk_id, item) in enumerate(zip(ids, changes)):
        values: dict[str, Any] = {"updated_at": stamp}
        if "name" in item:
            values["name"] = item["name"]
        if "chunk_content" in item:
            values["content"] = item["chunk_content"]
        if "meta_data" in item:
            values["meta_data"] = stored[chunk_id] = _merged(stored[chunk_id], item["meta_data"], f"chunk_patches[{n}].meta_data")
        conn.execute(update(Chunk).where(Chunk.kb_id == kb.id, Chunk.chunk_id == chunk_id).values(**values))
    _touch(conn, kb.id, stamp)
    return ids


def chunk_ids_argument(values: Sequence[str], field: str = "chunk_ids") -> list[int]:
    """Chunk ids from repeated query parameters."""
    if not values:
        raise _invalid("expected at least one chunk id", field)
    if len(values) > MAX_IDS:
        raise over_cap(field, "ids", MAX_IDS)
    ids = []
    for value in values:
        if not is_decimal(value) or len(value) > 16:
            raise _invalid(f"expected integers, got {value[:40]!r}", field)
        ids.append(_chunk_id(int(value), field))
    return list(dict.fromkeys(ids))


def delete_chunks(conn: Connection, kb: Any, ids: list[int]) -> list[int]:
    deleted = list(conn.execute(select(Chunk.chunk_id).where(Chunk.kb_id == kb.id, Chunk.chunk_id.in_(ids)).order_by(Chunk.chunk_id)).scalars())
    conn.execute(delete(Chunk).where(Chunk.kb_id == kb.id, Chunk.chunk_id.in_(ids)))
    _touch(conn, kb.id, auth.now())
    return deleted


# ---------------------------------------------------------------- reads


def _projection(projection: Any, default: Sequence[str]) -> tuple[set[str], Optional[set[str]]]:
    """(top-level fields, metadata keys or None for all). A name that is not a field is a key of meta_data
    (the client's Retriever projects "tag1".."tag5", "facets" and reads them under meta_data)."""
    if projection is None:
        return set(default), None
    if not isinstance(projection, list) or len(projection) > 64 or not all(isinstance(name, str) and 0 < len(name) <= 128 for name in projection):
        raise _invalid("expected a list of at most 64 field names", "projection")
    fields = {name for name in projection if name in FIELDS}
    keys = {name for name in projection if name not in FIELDS}
    if keys:
        fields.add("meta_data")
    return fields, (None if "meta_data" in projection or not keys else keys)


def _view(row: Any, fields: set[str], keys: Optional[set[str]]) -> dict[str, Any]:
    full = {"chunk_id": row.chunk_id, "name": row.name, "chunk_content": row.content, "context_id": row.context_id,
            "created_at": row.created_at, "updated_at": row.updated_at}  # fmt: skip
    view = {name: full[name] for name in FIELDS if name in fields and name in full}
    if "meta_data" in fields:
        meta = row.meta_data or {}
        view["meta_data"] = meta if keys is None else {key: meta[key] for key in keys if key in meta}
    if "index" in fields:
        view["index"] = [homomorphic.encode_ciphertext(c) for c in homomorphic.unpack_vector(row.vector)]
    return view


def get_chunks(conn: Connection, kb: Any, ids: list[int], projection: Any) -> tuple[list[int], list[dict[str, Any]]]:
    """(the ids found, their chunks as projected), in the order asked."""
    fields, keys = _projection(projection, FIELDS)
    rows = {row.chunk_id: row for row in conn.execute(select(Chunk).where(Chunk.kb_id == kb.id, Chunk.chunk_id.in_(ids)))}
    found = [chunk_id for chunk_id in ids if chunk_id in rows]
    return found, [_view(rows[chunk_id], fields, keys) for chunk_id in found]


def meta_filter(value: Any, *, required: bool = False) -> Any:
    """A filter as the client sends it: an object, or its JSON text (parsed strictly)."""
    if value is None and not required:
        return None
    if isinstance(value, str):
        try:
            value = evidence.loads(value.encode("utf-8"))
        except (evidence.InvalidJSONError, UnicodeEncodeError) as exc:
            raise _invalid(f"not JSON ({exc})", "meta_filter") from None
    if not isinstance(value, dict) or (required and not value):
        raise _invalid("expected a non-empty filter object" if required else "expected a filter object", "meta_filter")
    return value


def _matching(conn: Connection, kb: Any, context_id: str, filter_: Any, columns: Sequence[Any]) -> Select[Any]:
    """The base's chunks encrypted under the context (the only ones it can decrypt) that the filter admits."""
    query = select(*columns).where(Chunk.kb_id == kb.id, Chunk.context_id == context_id)
    if filter_:
        query = query.where(compile_filter(filter_, _META, conn.dialect.name))
    return query


def search(conn: Connection, kb: Any, context_id: str, filter_: Any, projection: Any, return_content: bool) -> tuple[list[int], list[dict[str, Any]]]:
    """(ids, chunks) of every chunk matching the filter (at most MAX_RESULTS: past it, a 400 that says to page)."""
    fields, keys = _projection(projection, (*SEARCH_FIELDS, *(("chunk_content",) if return_content else ())))
    rows = conn.execute(_matching(conn, kb, context_id, filter_, [Chunk]).order_by(Chunk.chunk_id).limit(MAX_RESULTS + 1)).all()
    if len(rows) > MAX_RESULTS:
        raise over_cap("meta search results", "results (use the paginated search)", MAX_RESULTS)
    return [row.chunk_id for row in rows], [_view(row, fields, keys) for row in rows]


def _sort(conn: Connection, sort_by: Any, sort_order: Any) -> list[Any]:
    if sort_order not in ("asc", "desc"):
        raise _invalid('expected "asc" or "desc"', "sort_order")
    if not isinstance(sort_by, str):
        raise _invalid("expected a field name", "sort_by")
    column = _SORTABLE.get(sort_by)
    if column is not None:
        return [column.asc() if sort_order == "asc" else column.desc(), Chunk.chunk_id.asc() if sort_order == "asc" else Chunk.chunk_id.desc()]
    path = sort_by.removeprefix("meta_data.")
    parse_path(path)
    return sort_expression({path: 1 if sort_order == "asc" else -1}, _META, conn.dialect.name, Chunk.chunk_id.expression)


def search_page(conn: Connection, kb: Any, context_id: str, body: Mapping[str, Any]) -> tuple[list[int], dict[str, Any]]:
    limit, offset = body.get("limit"), body.get("offset", 0)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_RESULTS):
        raise _invalid(f"expected an integer within [1, {MAX_RESULTS}]", "limit")
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= 10**9:
        raise _invalid("expected a non-negative integer", "offset")
    size = limit or MAX_RESULTS
    filter_ = meta_filter(body.get("meta_filter"))
    fields, keys = _projection(body.get("projection"), (*SEARCH_FIELDS, *(("chunk_content",) if body.get("return_content") else ())))
    order = _sort(conn, body.get("sort_by", "chunk_id"), body.get("sort_order", "desc"))
    total = conn.execute(_matching(conn, kb, context_id, filter_, [func.count()])).scalar_one()
    rows = conn.execute(_matching(conn, kb, context_id, filter_, [Chunk]).order_by(*order).offset(offset).limit(size)).all()
    page = {"results": [_view(row, fields, keys) for row in rows], "total": total, "offset": offset, "limit": limit,
            "count": len(rows), "has_more": offset + len(rows) < total}  # fmt: skip
    return [row.chunk_id for row in rows], page


def matching_ids(conn: Connection, kb: Any, context_id: str, filter_: Any) -> list[int]:
    ids = list(conn.execute(_matching(conn, kb, context_id, filter_, [Chunk.chunk_id]).order_by(Chunk.chunk_id).limit(MAX_MATCHED + 1)).scalars())
    if len(ids) > MAX_MATCHED:
        raise over_cap("chunks matching the filter", "chunks", MAX_MATCHED)
    return ids


def delete_matching(conn: Connection, kb: Any, ids: list[int]) -> None:
    for start in range(0, len(ids), MAX_IDS):
        conn.execute(delete(Chunk).where(Chunk.kb_id == kb.id, Chunk.chunk_id.in_(ids[start : start + MAX_IDS])))
    _touch(conn, kb.id, auth.now())


def patch_matching(conn: Connection, kb: Any, ids: list[int], patch: Any) -> None:
    if not isinstance(patch, dict) or not patch:
        raise _invalid("expected a non-empty object of metadata fields", "patch")
    stamp = auth.now()
    for start in range(0, len(ids), MAX_IDS):
        batch = ids[start : start + MAX_IDS]
        for chunk_id, meta in conn.execute(select(Chunk.chunk_id, Chunk.meta_data).where(Chunk.kb_id == kb.id, Chunk.chunk_id.in_(batch))):
            conn.execute(update(Chunk).where(Chunk.kb_id == kb.id, Chunk.chunk_id == chunk_id)
                         .values(meta_data=_merged(meta, patch, "patch"), updated_at=stamp))  # fmt: skip
    _touch(conn, kb.id, stamp)


# ---------------------------------------------------------------- encrypted Hamming distances


def range_filter(value: Any) -> Optional[tuple[int, int]]:
    """`[min, max]`: chunk ids from min to max, both included."""
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in value) and value[0] < value[1]):
        raise _invalid("expected [min, max], integers with min < max", "range")
    return value[0], value[1]


_STORED_SIZE = func.coalesce(func.sum(func.length(Chunk.vector) + func.length(Chunk.content) + func.length(Chunk.name)), 0)


def account(conn: Connection, kb: Any, action: str, ids: list[int]) -> tuple[bool, int]:
    """Count a change into the base's stored bytes: whether it grew, and the tenant's total over all its bases.
    An insert adds its new chunks (the hot path: no scan of the base), a patch by metadata changes only metadata,
    anything else is recounted."""
    if action == "patch_by_meta":
        grown = 0
    elif action == "insert":
        grown = sum(int(conn.execute(select(_STORED_SIZE).where(Chunk.kb_id == kb.id, Chunk.chunk_id.in_(ids[start : start + MAX_IDS]))).scalar_one())
                    for start in range(0, len(ids), MAX_IDS))  # fmt: skip
    else:
        recounted = int(conn.execute(select(_STORED_SIZE).where(Chunk.kb_id == kb.id)).scalar_one())  # PostgreSQL sums into numeric
        grown = recounted - conn.execute(select(KnowledgeBase.stored_bytes).where(KnowledgeBase.id == kb.id)).scalar_one()
    if grown:
        conn.execute(update(KnowledgeBase).where(KnowledgeBase.id == kb.id).values(stored_bytes=KnowledgeBase.stored_bytes + grown))
    total = conn.execute(select(func.sum(KnowledgeBase.stored_bytes)).where(KnowledgeBase.tenant_id == kb.tenant_id)).scalar_one()
    return grown > 0, int(total)


def vector_selection(conn: Connection, kb: Any, context_id: str, filter_: Any, id_range: Optional[tuple[int, int]]) -> Select[Any]:
    """(chunk_id, stored vector) of every chunk of the base encrypted under the context that the filters admit."""
    statement = _matching(conn, kb, context_id, filter_, [Chunk.chunk_id, Chunk.vector])
    return statement if id_range is None else statement.where(Chunk.chunk_id.between(*id_range))


@dataclass(frozen=True)
class SearchPlan:
    """What a search will read, found from the vectors' lengths alone before any is read or computed."""

    chunk_ids: list[int]
    stored_bytes: int
    misfit: Optional[int]  # the first chunk whose vector is not `expected_bytes` long, if any


def plan_search(conn: Connection, selection: Select[Any], expected_bytes: int, limit: int) -> SearchPlan:
    """The chunks `selection` will answer, in order; more than `limit` is a 400."""
    sizes = selection.with_only_columns(Chunk.chunk_id, func.length(Chunk.vector)).order_by(Chunk.chunk_id).limit(limit + 1)
    chunk_ids, stored, misfit = [], 0, None
    for chunk_id, size in conn.execute(sizes):
        chunk_ids.append(chunk_id)
        stored += size
        if misfit is None and size != expected_bytes:
            misfit = chunk_id
    if len(chunk_ids) > limit:
        raise over_cap("compute_hamming", "chunks (narrow with meta_filter or range)", limit)
    return SearchPlan(chunk_ids, stored, misfit)


def stored_vector(conn: Connection, kb: Any, chunk_id: int) -> tuple[int, bytes]:
    return chunk_id, bytes(conn.execute(select(Chunk.vector).where(Chunk.kb_id == kb.id, Chunk.chunk_id == chunk_id)).scalar_one())


def stream_vectors(conn: Connection, selection: Select[Any]) -> Iterator[tuple[int, bytes]]:
    """(chunk_id, stored vector) in chunk order, read a thousand at a time as the caller iterates."""
    result = conn.execution_options(yield_per=1000).execute(selection.order_by(Chunk.chunk_id))
    for chunk_id, vector in itertools.chain.from_iterable(result.partitions()):
        yield chunk_id, bytes(vector)


def query_hash(query: Sequence[bytes]) -> str:
    return evidence.sha256_hex(json.dumps([c.hex() for c in query]).encode("ascii"))
