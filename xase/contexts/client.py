"""`Client(url)`: the agent context store (seed 003) from Python, sync on requests like the rest of the SDK.

    from xase.contexts import Client

    client = Client("http://localhost:3000/cxdb", api_key="xase_pk_...")
    ctx = client.create_context()
    turn = client.append_turn(ctx.context_id, {"type_id": "com.example.Message", "type_version": 1,
                                               "data": {"role": "user", "text": "Hello!"}})
    turns = client.get_turns(ctx.context_id, limit=10)
    xase_client.record({..., "context": turn.evidence_context})   # the decision commits to this history

Retries (connection errors, 408, 429, 5xx) follow the SDK's policy; every append carries an idempotency
key (one is generated when the turn has none), so a retried append never adds a turn twice.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from xase.config import XaseClientConfig
from xase.contexts import history
from xase.errors import ValidationError
from xase.transport import Transport, url_path

__all__ = ["Client", "Context", "AppendedTurn", "TurnPage", "RegistryBundle", "MAX_APPEND_TURNS"]

MAX_APPEND_TURNS = 1_000  # the ledger's cap per batch append
DEFAULT_URL = "http://localhost:3000/cxdb"


@dataclass(frozen=True)
class Context:
    context_id: str
    head_turn_id: str
    head_depth: int
    head_turn_hash: str
    created_at: Optional[str] = None
    provenance: Optional[dict[str, Any]] = None
    lineage: Optional[dict[str, Any]] = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Context:
        return cls(str(body["context_id"]), str(body["head_turn_id"]), int(body["head_depth"]), str(body.get("head_turn_hash", "")),
                   body.get("created_at"), body.get("provenance"), body.get("lineage"))  # fmt: skip


@dataclass(frozen=True)
class AppendedTurn:
    context_id: str
    turn_id: str
    parent_turn_id: str
    depth: int
    content_hash: str
    turn_hash: str

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> AppendedTurn:
        return cls(str(body["context_id"]), str(body["turn_id"]), str(body["parent_turn_id"]), int(body["depth"]), str(body["content_hash"]),
                   str(body["turn_hash"]))  # fmt: skip

    @property
    def ref(self) -> dict[str, Any]:
        """This turn as a decision names it: context, turn, and the hash that commits to its whole history."""
        return history.turn_ref(self.context_id, self.turn_id, self.turn_hash, self.depth)

    @property
    def evidence_context(self) -> dict[str, Any]:
        """`XaseClient.record(..., context=turn.evidence_context)`: the decision commits to this history."""
        return {"cxdb": self.ref}


@dataclass(frozen=True)
class TurnPage:
    """One page of a context's turns, oldest first; `next_before_turn_id` continues to older turns."""

    meta: dict[str, Any]
    turns: list[dict[str, Any]]
    next_before_turn_id: Optional[str] = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.turns)

    def __len__(self) -> int:
        return len(self.turns)


@dataclass(frozen=True)
class RegistryBundle:
    body: dict[str, Any]
    etag: str = field(default="")


def _turn_body(turn: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(turn, Mapping):
        raise ValidationError("a turn is a mapping with type_id, type_version and data")
    body = dict(turn)
    body.setdefault("idempotency_key", "xase-" + uuid.uuid4().hex)  # a retried append never adds the turn twice
    return body


def _flags(**values: Optional[bool]) -> dict[str, str]:
    return {name: "true" if value else "false" for name, value in values.items() if value is not None}


class Client:
    """The agent context store of a Xase ledger. `url` is the store's base (`http://HOST:PORT/cxdb`, or
    XASE_CXDB_URL); `api_key` a key with the `contexts` scope (or XASE_API_KEY)."""

    def __init__(self, url: Optional[str] = None, api_key: Optional[str] = None, *, timeout: float = 30.0, max_retries: int = 3) -> None:
        base = url or os.environ.get("XASE_CXDB_URL") or DEFAULT_URL
        config = XaseClientConfig.build(api_key=api_key, base_url=base, timeout=timeout, max_retries=max_retries, atexit_timeout=0)
        self._transport = Transport(config)

    # ---------------------------------------------------------------- contexts

    def create_context(self, base_turn_id: str = "0", *, tag: Optional[str] = None) -> Context:
        """A new context: empty (`base_turn_id` "0"), or starting at a turn's history."""
        body: dict[str, Any] = {"base_turn_id": str(base_turn_id)}
        if tag is not None:
            body["tag"] = tag
        return Context.from_json(self._transport.call("POST", "/v1/contexts/create", body))

    def fork(self, base_turn_id: str, *, tag: Optional[str] = None) -> Context:
        """A new context whose head is `base_turn_id`: it shares that history and diverges with its own appends."""
        body: dict[str, Any] = {"base_turn_id": str(base_turn_id)}
        if tag is not None:
            body["tag"] = tag
        return Context.from_json(self._transport.call("POST", "/v1/contexts/fork", body))

    def get_context(self, context_id: str, *, include_provenance: bool = True, include_lineage: bool = True) -> Context:
        params = _flags(include_provenance=include_provenance, include_lineage=include_lineage)
        return Context.from_json(self._transport.call("GET", url_path("v1", "contexts", str(context_id)), params=params))

    def list_contexts(self, limit: int = 100, *, tag: Optional[str] = None, include_provenance: bool = False,
                      include_lineage: bool = False) -> list[Context]:  # fmt: skip
        params: dict[str, Any] = {"limit": limit, **_flags(include_provenance=include_provenance, include_lineage=include_lineage)}
        if tag is not None:
            params["tag"] = tag
        return [Context.from_json(item) for item in self._transport.call("GET", "/v1/contexts", params=params)["contexts"]]

    def children(self, context_id: str, *, recursive: bool = False, limit: int = 256, include_provenance: bool = True,
                 include_lineage: bool = True) -> list[Context]:  # fmt: skip
        params = {"limit": limit, **_flags(recursive=recursive, include_provenance=include_provenance, include_lineage=include_lineage)}
        answer = self._transport.call("GET", url_path("v1", "contexts", str(context_id), "children"), params=params)
        return [Context.from_json(item) for item in answer["children"]]

    # ---------------------------------------------------------------- turns

    def append_turn(self, context_id: str, turn: Mapping[str, Any]) -> AppendedTurn:
        """Append one turn (`type_id`, `type_version`, `data` or `payload`, optional `parent_turn_id`, `idempotency_key`)."""
        return AppendedTurn.from_json(self._transport.call("POST", url_path("v1", "contexts", str(context_id), "append"), _turn_body(turn)))

    def append_turns(self, context_id: str, turns: Sequence[Mapping[str, Any]]) -> list[AppendedTurn]:
        """Append turns in order, each on the previous, in requests of up to MAX_APPEND_TURNS (each all or nothing)."""
        appended: list[AppendedTurn] = []
        path = url_path("v1", "contexts", str(context_id), "append_batch")
        for start in range(0, len(turns), MAX_APPEND_TURNS):
            chunk = [_turn_body(turn) for turn in turns[start : start + MAX_APPEND_TURNS]]
            appended.extend(AppendedTurn.from_json(item) for item in self._transport.call("POST", path, {"turns": chunk})["turns"])
        return appended

    def get_turns(self, context_id: str, limit: int = 64, *, before_turn_id: Optional[str] = None, view: str = "typed",
                  **options: Any) -> TurnPage:  # fmt: skip
        """A page of turns, oldest first. `options` are the seed's query parameters: type_hint_mode, as_type_id,
        as_type_version, include_unknown, bytes_render, u64_format, enum_render, time_render (and from_turn_id)."""
        params: dict[str, Any] = {"limit": limit, "view": view}
        if before_turn_id is not None:
            params["before_turn_id"] = str(before_turn_id)
        for name, value in options.items():
            params[name] = ("true" if value else "false") if isinstance(value, bool) else value
        answer = self._transport.call("GET", url_path("v1", "contexts", str(context_id), "turns"), params=params)
        return TurnPage(answer["meta"], answer["turns"], answer.get("next_before_turn_id"))

    def history(self, context_id: str, turn_id: Optional[str] = None, *, page_size: int = 1024) -> list[dict[str, Any]]:
        """The whole history below a turn (default: the head), oldest first, with raw bytes and typed data:
        what `xase.contexts.verify_history` and `xase verify --turns` check offline."""
        page = self.get_turns(context_id, page_size, view="both", **({"from_turn_id": str(turn_id)} if turn_id is not None else {}))
        pages = [page.turns]  # newest page first
        while page.turns and page.turns[0]["parent_turn_id"] != "0":  # stop at the root, without asking for the empty page below it
            page = self.get_turns(context_id, page_size, before_turn_id=page.next_before_turn_id, view="both")
            pages.append(page.turns)
        return [turn for older_first in reversed(pages) for turn in older_first]

    # ---------------------------------------------------------------- blobs, registry, stats

    def get_blob(self, content_hash: str) -> bytes:
        """A payload's raw (uncompressed msgpack) bytes by its BLAKE3 hash."""
        return self._transport.response("GET", url_path("v1", "blobs", content_hash)).content

    def publish_registry(self, bundle: Mapping[str, Any], bundle_id: Optional[str] = None) -> bool:
        """Publish a type bundle; True if stored now, False if this exact bundle was already there."""
        bundle_id = bundle_id or bundle.get("bundle_id")
        if not isinstance(bundle_id, str) or not bundle_id:
            raise ValidationError("bundle_id: pass it, or put it in the bundle")
        answer = self._transport.call("PUT", url_path("v1", "registry", "bundles", bundle_id), dict(bundle))
        return answer is not None  # 201 answers with a body; 204 (identical bundle) with none

    def get_registry_bundle(self, bundle_id: str, *, etag: Optional[str] = None) -> Optional[RegistryBundle]:
        """The bundle, or None when `etag` (from an earlier answer) still matches (304 Not Modified)."""
        headers = {"If-None-Match": etag} if etag else None
        response = self._transport.response("GET", url_path("v1", "registry", "bundles", bundle_id), headers=headers)
        if response.status_code == 304:
            return None
        return RegistryBundle(response.json(), response.headers.get("ETag", ""))

    def get_type(self, type_id: str, type_version: int) -> dict[str, Any]:
        return dict(self._transport.call("GET", url_path("v1", "registry", "types", type_id, "versions", str(type_version))))

    def list_types(self) -> list[dict[str, Any]]:
        return list(self._transport.call("GET", "/v1/registry/types")["types"])

    def stats(self) -> dict[str, Any]:
        return dict(self._transport.call("GET", "/v1/stats"))

    def health(self) -> dict[str, Any]:
        return dict(self._transport.call("GET", "/health"))

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
