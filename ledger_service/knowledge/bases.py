"""Knowledge bases, the keys that reach them and their permissions, execution contexts and bindings.

The admin plane of seed 000 (bases, keys, permissions) and the context half of its data plane.
Every function takes the caller's tenant: another tenant's base, key or context is not found.
"""

from __future__ import annotations

import secrets
from typing import Any, Optional

import gmpy2
from sqlalchemy import Connection, delete, func, insert, select, update

from ledger_service import auth
from ledger_service.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ledger_service.knowledge import homomorphic
from ledger_service.knowledge.tables import Chunk, ContextBinding, ExecutionContext, KeyPermission, KnowledgeBase, KnowledgeKey
from ledger_service.tables import ApiKey
from xase import evidence
from xase.wire import UNPRINTABLE

__all__ = ["READ", "WRITE", "DELETE", "KEY_SCOPES", "kb_view", "list_kbs", "get_kb", "create_kb", "delete_kb", "create_key", "list_keys",
           "revoke_key", "permissions", "set_permission", "require", "check_id", "kb_row", "store_context", "get_context", "list_contexts", "delete_context",
           "public_context", "bind", "contexts_of", "kbs_of"]  # fmt: skip

READ, WRITE, DELETE = 1, 2, 4
LEVELS = {0: 0, 1: READ, 3: READ | WRITE, 7: READ | WRITE | DELETE}  # as the client numbers them: none, read, write, delete
KEY_SCOPES = ("knowledge", "records:write", "records:read")  # ordinary Xase keys that may also reach knowledge bases
FIRST_N = 5  # the client's CLI finds a key by the first five characters of its secret
MAX_CONTEXT_BYTES = 256 * 1024
MAX_ID = 128


def _text(value: Any, field: str, limit: int, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit or UNPRINTABLE.search(value):
        raise ValidationFailed(f"{field}: expected a string of at most {limit} characters, without control characters", {"field": field})
    return value


def check_id(value: Any, field: str) -> str:
    """A context or base id from a path or body: printable, at most MAX_ID characters."""
    return _text(value, field, MAX_ID)


# ---------------------------------------------------------------- bases


def kb_view(row: Any, vectors: int) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "description": row.description, "numberOfVectors": vectors,
            "createdAt": row.created_at, "updatedAt": row.updated_at}  # fmt: skip


def _counts(conn: Connection, kb_ids: list[str]) -> dict[str, int]:
    if not kb_ids:
        return {}
    query = select(Chunk.kb_id, func.count()).where(Chunk.kb_id.in_(kb_ids)).group_by(Chunk.kb_id)
    return {kb_id: count for kb_id, count in conn.execute(query)}


def list_kbs(conn: Connection, tenant_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(KnowledgeBase).where(KnowledgeBase.tenant_id == tenant_id).order_by(KnowledgeBase.created_at)).all()
    counts = _counts(conn, [row.id for row in rows])
    return [kb_view(row, counts.get(row.id, 0)) for row in rows]


def kb_row(conn: Connection, tenant_id: str, kb_id: str, *, for_update: bool = False) -> Any:
    query = select(KnowledgeBase).where(KnowledgeBase.tenant_id == tenant_id, KnowledgeBase.id == kb_id)
    row = conn.execute(query.with_for_update() if for_update else query).first()
    if row is None:
        raise NotFound(f"no knowledge base {kb_id!r}")
    return row


def get_kb(conn: Connection, tenant_id: str, kb_id: str) -> dict[str, Any]:
    row = kb_row(conn, tenant_id, kb_id)
    return kb_view(row, _counts(conn, [kb_id]).get(kb_id, 0))


def create_kb(conn: Connection, tenant_id: str, name: Any, description: Any) -> dict[str, Any]:
    name = _text(name, "name", 200).strip()
    description = _text(description, "description", 2000, required=False)
    if conn.execute(select(KnowledgeBase.id).where(KnowledgeBase.tenant_id == tenant_id, KnowledgeBase.name == name)).first():
        raise Conflict(f"a knowledge base named {name!r} already exists", {"name": name})
    stamp = auth.now()
    row = {"id": "kb_" + secrets.token_hex(8), "tenant_id": tenant_id, "name": name, "description": description,
           "next_chunk_id": 1, "created_at": stamp, "updated_at": stamp}  # fmt: skip
    conn.execute(insert(KnowledgeBase).values(**row))
    return get_kb(conn, tenant_id, row["id"])


def delete_kb(conn: Connection, tenant_id: str, kb_id: str) -> tuple[dict[str, Any], list[int]]:
    """The base, its chunks, bindings and permissions; the base as it was and the ids of the chunks deleted.
    What it served stays in the chain as evidence."""
    view = get_kb(conn, tenant_id, kb_id)
    chunk_ids = list(conn.execute(select(Chunk.chunk_id).where(Chunk.kb_id == kb_id).order_by(Chunk.chunk_id)).scalars())
    for table in (Chunk, ContextBinding, KeyPermission):
        conn.execute(delete(table).where(table.kb_id == kb_id))
    conn.execute(delete(KnowledgeBase).where(KnowledgeBase.id == kb_id))
    return view, chunk_ids


# ---------------------------------------------------------------- keys and permissions


def _key_view(row: Any) -> dict[str, Any]:
    return {"hash": row.id, "firstN": row.first_n, "name": row.name, "description": row.description,
            "status": "revoked" if row.revoked_at else "active", "createdAt": row.created_at, "revokedAt": row.revoked_at}  # fmt: skip


def _keys(conn: Connection, tenant_id: str) -> Any:
    return (
        select(ApiKey.id, ApiKey.name, ApiKey.created_at, ApiKey.revoked_at, KnowledgeKey.first_n, KnowledgeKey.description)
        .join(KnowledgeKey, KnowledgeKey.key_id == ApiKey.id)
        .where(KnowledgeKey.tenant_id == tenant_id)
    )


def list_keys(conn: Connection, tenant_id: str) -> list[dict[str, Any]]:
    return [_key_view(row) for row in conn.execute(_keys(conn, tenant_id).order_by(ApiKey.created_at))]


def _key_row(conn: Connection, tenant_id: str, key_id: str) -> Any:
    row = conn.execute(_keys(conn, tenant_id).where(ApiKey.id == key_id)).first()
    if row is None:
        raise NotFound(f"no knowledge API key {key_id!r}")
    return row


def create_key(conn: Connection, tenant_id: str, name: Any, description: Any) -> dict[str, Any]:
    """An ordinary Xase key of the tenant, with the knowledge scope, listed by its first characters.

    The client's CLI finds a key by the first FIRST_N characters of its secret, but every Xase secret
    starts with the same prefix; so `firstN` is taken after it, unique within the tenant. The CLI's
    lookup then fails closed (no grant) where it would otherwise pick the wrong key.
    """
    name = _text(name, "name", 200).strip()
    description = _text(description, "description", 2000, required=False)
    taken = set(conn.execute(select(KnowledgeKey.first_n).where(KnowledgeKey.tenant_id == tenant_id)).scalars())
    while True:
        created = auth.create_api_key(conn, tenant_id, name, KEY_SCOPES)
        first_n = created["secret"][len(auth.KEY_PREFIX) : len(auth.KEY_PREFIX) + FIRST_N]
        if first_n not in taken:
            break
        conn.execute(delete(ApiKey).where(ApiKey.id == created["id"]))  # never handed out
    conn.execute(insert(KnowledgeKey).values(key_id=created["id"], tenant_id=tenant_id, first_n=first_n, description=description))
    return {"apiKey": _key_view(_key_row(conn, tenant_id, created["id"])), "secretKey": created["secret"]}


def revoke_key(conn: Connection, tenant_id: str, key_id: str) -> dict[str, Any]:
    _key_row(conn, tenant_id, key_id)
    auth.revoke_api_key(conn, key_id)
    return _key_view(_key_row(conn, tenant_id, key_id))


def permissions(conn: Connection, tenant_id: str, key_id: str) -> list[dict[str, Any]]:
    _key_row(conn, tenant_id, key_id)
    rows = conn.execute(select(KeyPermission).where(KeyPermission.key_id == key_id).order_by(KeyPermission.kb_id))
    return [{"keyHash": key_id, "knowledgeBaseId": row.kb_id, "permission": row.permission} for row in rows]


def set_permission(conn: Connection, tenant_id: str, key_id: str, kb_id: str, permission: Any) -> dict[str, Any]:
    """1 read, 3 write (and read), 7 delete (and both); 0 takes every permission away."""
    if type(permission) is not int or permission not in LEVELS:
        raise ValidationFailed(f"permission: expected one of {sorted(LEVELS)} (none, read, write, delete)", {"field": "permission"})
    _key_row(conn, tenant_id, key_id)
    kb_row(conn, tenant_id, kb_id)
    conn.execute(delete(KeyPermission).where(KeyPermission.key_id == key_id, KeyPermission.kb_id == kb_id))
    if permission:
        conn.execute(insert(KeyPermission).values(key_id=key_id, kb_id=kb_id, permission=permission))
    return {"keyHash": key_id, "knowledgeBaseId": kb_id, "permission": permission}


_VERBS = {READ: "read", WRITE: "write", DELETE: "delete"}


def _granted(conn: Connection, key_id: str) -> dict[str, int]:
    """The key's permissions, base by base, as bits (READ, WRITE, DELETE)."""
    rows = conn.execute(select(KeyPermission.kb_id, KeyPermission.permission).where(KeyPermission.key_id == key_id))
    return {kb_id: LEVELS.get(permission or 0, 0) for kb_id, permission in rows}


def require(conn: Connection, caller: auth.Principal, kb_id: Any, need: int) -> Any:
    """The caller's base `kb_id` if its key holds `need` there; 404 for a base it cannot see, 403 without the permission."""
    row = kb_row(conn, caller.tenant_id, check_id(kb_id, "kb_id"))
    if "admin" in caller.scopes:
        return row
    granted = conn.execute(select(KeyPermission.permission).where(KeyPermission.key_id == caller.key_id, KeyPermission.kb_id == row.id)).scalar()
    if LEVELS.get(granted or 0, 0) & need != need:
        verb = _VERBS.get(need, "use")
        raise Forbidden(f"this API key may not {verb} knowledge base {row.id}", {"kb_id": row.id, "required_permission": need})
    return row


# ---------------------------------------------------------------- execution contexts and bindings


def require_context_access(conn: Connection, caller: auth.Principal, context_id: Optional[str], need: int, *, stored: bool = True) -> None:
    """Execution contexts follow the bases they serve. A context bound to bases needs `need` on one of them (every one
    of them to delete it); an unbound one (and listing, storing) needs `need` on some base of the organisation. An
    `admin` key may do anything. A key with no permission anywhere never sees a context's encrypted secret key.
    `stored`: the context must exist (404 first, as for any id of another organisation)."""
    if context_id is not None and stored:
        _context_row(conn, caller.tenant_id, context_id)
    if "admin" in caller.scopes:
        return
    granted = _granted(conn, caller.key_id)
    bound = [] if context_id is None else list(conn.execute(
        select(ContextBinding.kb_id).where(ContextBinding.tenant_id == caller.tenant_id, ContextBinding.context_id == context_id)).scalars())  # fmt: skip
    holds = [granted.get(kb_id, 0) & need == need for kb_id in (bound or granted)]
    if not (all(holds) if need == DELETE and bound else any(holds)):
        verb = _VERBS.get(need, "use")
        where = "every base it serves" if need == DELETE and bound else "a base it serves" if bound else "some knowledge base"
        raise Forbidden(f"this API key may {verb} an execution context only with that permission on {where}", {"required_permission": need})


_PUBLIC_PART = ("type", "pk", "config")


def store_context(conn: Connection, tenant_id: str, context_id: Any, data: Any) -> dict[str, Any]:
    """Store a context once. Saving it again (the client encrypts its secret key afresh each time) keeps
    the first copy; another public key or configuration under the same id is a 409."""
    context_id = check_id(context_id, "context_id")
    public = homomorphic.parse_context(data)
    text = evidence.canonicalize(data).decode("utf-8")
    if len(text) > MAX_CONTEXT_BYTES:
        raise ValidationFailed(f"data: at most {MAX_CONTEXT_BYTES} bytes", {"field": "data"})
    stored = conn.execute(select(ExecutionContext.data).where(ExecutionContext.tenant_id == tenant_id, ExecutionContext.context_id == context_id)).scalar()
    if stored is not None and any(evidence.loads(stored).get(name) != data.get(name) for name in _PUBLIC_PART):
        raise Conflict(f"execution context {context_id!r} exists with another public key or configuration", {"context_id": context_id})
    if stored is None:
        conn.execute(insert(ExecutionContext).values(tenant_id=tenant_id, context_id=context_id, scheme=public.scheme,
                                                     n_squared=str(public.n_squared), data=text, created_at=auth.now()))  # fmt: skip
    return {"context_id": context_id}


def _context_row(conn: Connection, tenant_id: str, context_id: str) -> Any:
    row = conn.execute(select(ExecutionContext).where(ExecutionContext.tenant_id == tenant_id, ExecutionContext.context_id == context_id)).first()
    if row is None:
        raise NotFound(f"no execution context {context_id!r}")
    return row


def get_context(conn: Connection, tenant_id: str, context_id: str) -> Any:
    return evidence.loads(_context_row(conn, tenant_id, check_id(context_id, "context_id")).data)


def public_context(conn: Connection, tenant_id: str, context_id: Any) -> homomorphic.PublicContext:
    row = _context_row(conn, tenant_id, check_id(context_id, "context_id"))
    return homomorphic.PublicContext(row.scheme, gmpy2.mpz(row.n_squared))


def list_contexts(conn: Connection, caller: auth.Principal) -> list[str]:
    """The contexts the caller may read: all for an admin key; else those bound to a base it may read, and unbound ones."""
    query = select(ExecutionContext.context_id).where(ExecutionContext.tenant_id == caller.tenant_id).order_by(ExecutionContext.created_at)
    ids = list(conn.execute(query).scalars())
    if "admin" in caller.scopes:
        return ids
    require_context_access(conn, caller, None, READ)
    readable = {kb_id for kb_id, bits in _granted(conn, caller.key_id).items() if bits & READ}
    bound: dict[str, set[str]] = {}
    for context_id, kb_id in conn.execute(select(ContextBinding.context_id, ContextBinding.kb_id).where(ContextBinding.tenant_id == caller.tenant_id)):
        bound.setdefault(context_id, set()).add(kb_id)
    return [context_id for context_id in ids if context_id not in bound or bound[context_id] & readable]


def delete_context(conn: Connection, tenant_id: str, context_id: str) -> dict[str, Any]:
    """Refused while chunks are encrypted under it: they could never be searched again."""
    row = _context_row(conn, tenant_id, check_id(context_id, "context_id"))
    in_use = conn.execute(
        select(func.count()).select_from(Chunk).join(KnowledgeBase, KnowledgeBase.id == Chunk.kb_id)
        .where(KnowledgeBase.tenant_id == tenant_id, Chunk.context_id == row.context_id)
    ).scalar()  # fmt: skip
    if in_use:
        raise Conflict(f"{in_use} chunks are encrypted under execution context {row.context_id!r}: delete them first", {"chunks": in_use})
    conn.execute(delete(ContextBinding).where(ContextBinding.tenant_id == tenant_id, ContextBinding.context_id == row.context_id))
    conn.execute(delete(ExecutionContext).where(ExecutionContext.tenant_id == tenant_id, ExecutionContext.context_id == row.context_id))
    return {"context_id": row.context_id, "deleted": True}


def bind(conn: Connection, tenant_id: str, kb_id: str, context_id: str) -> dict[str, Any]:
    context_id = _context_row(conn, tenant_id, check_id(context_id, "context_id")).context_id
    exists = conn.execute(select(ContextBinding.kb_id).where(ContextBinding.kb_id == kb_id, ContextBinding.context_id == context_id)).first()
    if not exists:
        conn.execute(insert(ContextBinding).values(kb_id=kb_id, context_id=context_id, tenant_id=tenant_id, created_at=auth.now()))
        conn.execute(update(KnowledgeBase).where(KnowledgeBase.id == kb_id).values(updated_at=auth.now()))
    return {"kb_id": kb_id, "context_id": context_id}


def contexts_of(conn: Connection, tenant_id: str, kb_id: str) -> list[str]:
    kb_row(conn, tenant_id, check_id(kb_id, "kb_id"))
    return list(conn.execute(select(ContextBinding.context_id).where(ContextBinding.kb_id == kb_id).order_by(ContextBinding.created_at)).scalars())


def kbs_of(conn: Connection, tenant_id: str, context_id: str) -> list[str]:
    _context_row(conn, tenant_id, check_id(context_id, "context_id"))
    query = select(ContextBinding.kb_id).where(ContextBinding.tenant_id == tenant_id, ContextBinding.context_id == context_id)
    return list(conn.execute(query.order_by(ContextBinding.created_at)).scalars())
