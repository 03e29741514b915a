"""XTraceIntegration, the seed 000 client surface, on aiohttp: the data plane and the admin plane of a knowledge base server.

Method for method the names, parameters, defaults and return types of seed 000 (the published
xtrace-ai-sdk 0.1.1 client), with what a production client adds: retries with tenacity on 5xx
answers and connection errors, a bounded timeout per request, redirects never followed (keys are
never resent elsewhere), ids percent-quoted as one path segment each, an Idempotency-Key on every chunk
change (fixed once per call, so a retry after a lost answer never stores or deletes twice), errors as
`KnowledgeError` (an XaseError with the HTTP `.status`), and `last_evidence_id`: the ledger's evidence of
the latest answer (its X-Evidence-Id header; None when it had none).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
from typing import Any, Optional, Union, cast

import aiohttp
import msgpack
import yarl
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from xase.errors import XaseError
from xase.transport import url_path

__all__ = ["XTraceIntegration", "KnowledgeError"]

_CODES = {400: "VALIDATION_ERROR", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 409: "CONFLICT", 413: "VALIDATION_ERROR",
          429: "RATE_LIMIT_EXCEEDED"}  # fmt: skip


class KnowledgeError(XaseError):
    """A knowledge-base request that failed: `code` as everywhere in the SDK, `status` the HTTP status (0: none)."""

    def __init__(self, code: str, message: str, status: int = 0, details: Optional[dict[str, Any]] = None) -> None:
        super().__init__(code, message, status or None, details)
        self.status = status


def _retryable(error: BaseException) -> bool:
    return isinstance(error, KnowledgeError) and (error.status >= 500 or error.code == "NETWORK_ERROR")


class XTraceIntegration:
    """Async client of an encrypted knowledge base server (a Xase ledger at `http://HOST:PORT/xtrace`).

    :param org_id: the organisation (tenant) id or name.
    :param api_key: data-plane key; default `XTRACE_API_KEY`.
    :param admin_key: admin-plane key; default `XTRACE_ADMIN_KEY`.
    :param api_url: the data plane's base URL.
    :param admin_api_url: the admin plane's; default `XTRACE_ADMIN_API_URL`, else `api_url`.
    """

    def __init__(
        self,
        org_id: str,
        api_key: Optional[str] = None,
        admin_key: Optional[str] = None,
        api_url: str = "https://api.production.xtrace.ai",
        admin_api_url: Optional[str] = None,
        *,
        timeout_s: float = 60.0,
        max_retries: int = 3,
    ) -> None:
        self.org_id = org_id
        self.api_url = api_url.rstrip("/")
        self.admin_api_url = (admin_api_url or os.environ.get("XTRACE_ADMIN_API_URL") or self.api_url).rstrip("/")
        self.batch_size = 500
        self.session: Optional[aiohttp.ClientSession] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._lock = asyncio.Lock()
        self.api_key = api_key or os.environ.get("XTRACE_API_KEY")
        if not self.api_key:
            raise KnowledgeError("VALIDATION_ERROR", "api_key is required (or XTRACE_API_KEY)")
        self.admin_key: Optional[str] = admin_key or os.environ.get("XTRACE_ADMIN_KEY")
        self.timeout_s, self.max_retries = timeout_s, max_retries
        self.last_evidence_id: Optional[str] = None

    # ---------------------------------------------------------------- session lifecycle

    async def init_session(self) -> aiohttp.ClientSession:
        """A live session for the running event loop (re-created if closed or made on another loop)."""
        loop = asyncio.get_running_loop()
        async with self._lock:
            if self.session is None or self.session.closed or self._loop is not loop:
                if self.session is not None and not self.session.closed:
                    await self.session.close()
                self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=50), timeout=aiohttp.ClientTimeout(total=self.timeout_s))
                self._loop = loop
        return self.session

    async def close(self) -> None:
        """Close the session and its connections."""
        if self.session is not None and not self.session.closed:
            await self.session.close()
        self.session, self._loop = None, None

    async def __aenter__(self) -> XTraceIntegration:
        await self.init_session()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        await self.close()

    # ---------------------------------------------------------------- requests

    def _headers(self) -> dict[str, str]:
        return {"x-api-key": str(self.api_key)}

    def _admin_headers(self) -> dict[str, str]:
        if not self.admin_key:
            raise KnowledgeError("VALIDATION_ERROR", "admin_key is required for admin operations (or XTRACE_ADMIN_KEY)")
        return {"x-xtrace-key": self.admin_key, "x-xtrace-org-id": self.org_id}

    async def _request(self, method: str, url: str, *, admin: bool = False, idempotent: bool = False, **kwargs: Any) -> Any:
        """`idempotent`: a change the server may have made although its answer was lost; every attempt carries one key."""
        headers = self._admin_headers() if admin else self._headers()
        if idempotent:
            headers["Idempotency-Key"] = "kc_" + secrets.token_hex(16)
        async for attempt in AsyncRetrying(stop=stop_after_attempt(self.max_retries), wait=wait_exponential(multiplier=0.5, max=8),
                                           retry=retry_if_exception(_retryable), reraise=True):  # fmt: skip
            with attempt:
                return await self._send(method, url, headers, **kwargs)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(self, method: str, url: str, headers: dict[str, str], **kwargs: Any) -> Any:
        session = await self.init_session()
        try:
            # encoded=True: the URL is sent as url_path quoted it (yarl would otherwise unquote `=` and `&` in an id)
            async with session.request(method, yarl.URL(url, encoded=True), headers=headers, allow_redirects=False, **kwargs) as response:
                body = await response.read()
                if 300 <= response.status < 400:
                    raise KnowledgeError("UNEXPECTED_REDIRECT", f"{method} {url} answered a redirect, not followed (it would resend the key)", response.status)
                if response.status >= 400:
                    raise _error(method, url, response.status, body)
                self.last_evidence_id = response.headers.get("X-Evidence-Id")  # never an earlier answer's
                if "application/x-msgpack" in response.headers.get("Content-Type", ""):
                    return msgpack.unpackb(body, raw=False)
                return json.loads(body) if body else None
        except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
            raise KnowledgeError("NETWORK_ERROR", f"{method} {url}: {type(exc).__name__}: {exc}") from None

    def _data(self, *segments: str) -> str:
        """The data plane's URL of `segments` (the first one naming the resource), then the organisation, then any ids."""
        resource, *ids = segments
        return f"{self.api_url}/v1" + url_path(*resource.split("/"), self.org_id, *ids)

    # ---------------------------------------------------------------- chunks

    def _encode_index(self, index_item: Any) -> str:
        value = int(index_item)
        return base64.b64encode(value.to_bytes((value.bit_length() + 7) // 8, "little")).decode("utf-8")

    def _preprocess_chunks(self, db: list[dict[str, Any]], index: list[list[Any]], update: bool = False) -> list[list[dict[str, Any]]]:
        if len(db) != len(index):
            raise ValueError("db and index must be the same length")
        chunks = []
        for j, (item, vector) in enumerate(zip(db, index)):
            content = item["chunk_content"]
            if not isinstance(content, bytes):
                raise TypeError("chunk_content must be bytes (AES-encrypted) before storing")
            chunk: dict[str, Any] = {"chunk_content": content.decode("utf-8"), "index": [self._encode_index(i) for i in vector],
                                     "meta_data": item.get("meta_data", {}), "name": item.get("name", f"default_name_chunk_{j}")}  # fmt: skip
            if update:
                chunk["chunk_id"] = item["chunk_id"]
            chunks.append(chunk)
        return [chunks[start : start + self.batch_size] for start in range(0, len(chunks), self.batch_size)]

    async def get_chunk_by_id(self, chunk_ids: list[int], kb_id: str, projection: Optional[list[str]] = None) -> list[dict[str, Any]]:
        """Chunks by id; an `index`, when projected, comes back as bytes."""
        params: list[tuple[str, str]] = [("kb_id", kb_id), *(("chunk_ids", str(i)) for i in chunk_ids), *(("projection", p) for p in projection or [])]
        data = await self._request("GET", self._data("chunk"), params=params)
        for chunk in data:
            if chunk.get("index"):
                chunk["index"] = [base64.b64decode(i) for i in chunk["index"]]
        return list(data)

    async def store_db(self, db: list[dict[str, Any]], index: list[list[Any]], kb_id: str, context_id: str, concurrent: bool = False) -> list[dict[str, Any]]:
        """Upload an encrypted collection in batches of `batch_size`; one answer per batch."""
        batches = self._preprocess_chunks(db, index)
        if concurrent:
            return list(await asyncio.gather(*(self.insert_chunks(kb_id, batch, context_id) for batch in batches)))
        return [await self.insert_chunks(kb_id, batch, context_id) for batch in batches]

    async def insert_chunks(self, kb_id: str, chunks: list[dict[str, Any]], context_id: str) -> dict[str, Any]:
        """Insert one prepared batch of chunks; the server's answer (chunk_ids, evidence_id)."""
        return dict(await self._request("POST", self._data("chunk"), idempotent=True, json={"kb_id": kb_id, "chunks": chunks, "context_id": context_id}))

    async def update_chunks(self, index_updates: list[list[Any]], chunk_updates: list[dict[str, Any]], context_id: str, kb_id: str) -> list[dict[str, Any]]:
        """Replace chunks (each with its chunk_id) and their vectors, in batches; one answer per batch."""
        results = []
        for batch in self._preprocess_chunks(chunk_updates, index_updates, update=True):
            body = {"kb_id": kb_id, "chunk_updates": batch, "context_id": context_id}
            results.append(dict(await self._request("PUT", self._data("chunk"), idempotent=True, json=body)))
        return results

    async def delete_chunks(self, chunk_ids: list[int], kb_id: str) -> dict[str, Any]:
        """Delete chunks by id."""
        params = [("kb_id", kb_id), *(("chunk_ids", str(i)) for i in chunk_ids)]
        return dict(await self._request("DELETE", self._data("chunk"), idempotent=True, params=params))

    async def patch_chunks(self, kb_id: str, context_id: str, chunk_patches: list[dict[str, Any]]) -> dict[str, Any]:
        """Partial updates: name, chunk_content, meta_data keys (merged)."""
        return dict(await self._request("PATCH", self._data("chunk"), idempotent=True, json={"kb_id": kb_id, "context_id": context_id,
                                                                                              "chunk_patches": chunk_patches}))  # fmt: skip

    # ---------------------------------------------------------------- searches

    async def compute_hamming_distances(
        self,
        query: list[Any],
        context_id: str,
        kb_id: str,
        meta_filter: Union[str, dict[str, Any], None] = None,
        range: Optional[list[int]] = None,  # noqa: A002
    ) -> list[tuple[int, list[Union[int, bytes]]]]:
        """(chunk_id, encrypted distance) for every chunk the filters admit; decrypt with the context."""
        body: dict[str, Any] = {"kb_id": kb_id, "query": [self._encode_index(i) for i in query], "context_id": context_id}
        if meta_filter is not None:
            body["meta_filter"] = json.dumps(meta_filter) if isinstance(meta_filter, dict) else meta_filter
        if range is not None:
            if not (isinstance(range, list) and len(range) == 2 and range[0] < range[1]):
                raise ValueError("range must be [min_int, max_int]")
            body["range"] = range
        answer = await self._request("POST", self._data("compute_hamming"), json=body)
        return [(item[1], item[0]) for item in answer]

    async def meta_search(self, kb_id: str, meta_filter: Union[str, dict[str, Any]], context_id: str, return_content: bool = False,
                          projection: Optional[list[str]] = None) -> list[dict[str, Any]]:  # fmt: skip
        """Every chunk whose metadata matches the filter (a MongoDB-style object or its JSON)."""
        body: dict[str, Any] = {"kb_id": kb_id, "context_id": context_id,
                                "meta_filter": json.dumps(meta_filter) if isinstance(meta_filter, (dict, list)) else meta_filter}  # fmt: skip
        if projection is not None:
            body["projection"] = projection
        if return_content:
            body["return_content"] = True
        return list(await self._request("POST", self._data("chunk/meta"), json=body))

    async def meta_search_paginated(self, kb_id: str, context_id: str, meta_filter: Union[str, dict[str, Any], None] = None,
                                    projection: Optional[list[str]] = None, limit: Optional[int] = None, offset: int = 0,
                                    sort_order: str = "desc", sort_by: str = "chunk_id", return_content: bool = False) -> dict[str, Any]:  # fmt: skip
        """One page of a metadata search: results, total, offset, limit, has_more."""
        body: dict[str, Any] = {"kb_id": kb_id, "context_id": context_id, "offset": offset, "sort_order": sort_order, "sort_by": sort_by}
        if meta_filter is not None:
            body["meta_filter"] = json.loads(meta_filter) if isinstance(meta_filter, str) else meta_filter
        if projection is not None:
            body["projection"] = projection
        if limit is not None:
            body["limit"] = limit
        if return_content:
            body["return_content"] = True
        return dict(await self._request("POST", self._data("chunk/meta/page"), json=body))

    async def delete_chunks_by_meta(self, kb_id: str, context_id: str, meta_filter: Union[str, dict[str, Any]], dry_run: bool = False) -> dict[str, Any]:
        """Delete the chunks matching a non-empty filter; dry_run only counts them (would_delete_count)."""
        body = {"kb_id": kb_id, "context_id": context_id, "meta_filter": json.loads(meta_filter) if isinstance(meta_filter, str) else meta_filter,
                "dry_run": dry_run}  # fmt: skip
        return dict(await self._request("DELETE", self._data("chunk/by-meta"), idempotent=not dry_run, json=body))

    async def patch_chunks_by_meta(self, kb_id: str, context_id: str, meta_filter: Union[str, dict[str, Any]], patch: dict[str, Any],
                                   dry_run: bool = False) -> dict[str, Any]:  # fmt: skip
        """Merge `patch` into the metadata of the chunks matching a filter; dry_run only counts them."""
        body = {"kb_id": kb_id, "context_id": context_id, "meta_filter": json.loads(meta_filter) if isinstance(meta_filter, str) else meta_filter,
                "patch": patch, "dry_run": dry_run}  # fmt: skip
        return dict(await self._request("PATCH", self._data("chunk/by-meta"), idempotent=not dry_run, json=body))

    # ---------------------------------------------------------------- execution contexts and bindings

    async def store_exec_context(self, exec_context_dict: dict[str, Any], context_id: str) -> str:
        """Store an execution context's encrypted form; the id the server confirms."""
        answer = await self._request("POST", self._data("exec_context"), json={"data": exec_context_dict, "context_id": context_id})
        return str(answer["context_id"])

    async def get_serialized_exec_context(self, context_id: str) -> dict[str, Any]:
        """An execution context's stored form (its secret key still encrypted)."""
        return dict(await self._request("GET", self._data("exec_context", context_id)))

    async def list_exec_contexts(self) -> list[str]:
        """The ids of the organisation's execution contexts."""
        return list((await self._request("GET", self._data("exec_context")))["contexts"])

    async def delete_exec_context(self, context_id: str) -> bool:
        """Delete an execution context no chunk is encrypted under; True."""
        await self._request("DELETE", self._data("exec_context", context_id))
        return True

    async def get_ctx_for_kb(self, kb_id: str) -> Optional[list[str]]:
        """The contexts bound to a base; None if the lookup fails (as the seed documents)."""
        try:
            return list((await self._request("GET", self._data("exec_context", kb_id, "context"))).get("context_ids") or [])
        except KnowledgeError:
            return None

    async def get_kbs_for_ctx(self, ctx_id: str) -> Optional[list[str]]:
        """The bases bound to a context; None if the lookup fails."""
        try:
            return list((await self._request("GET", self._data("exec_context", ctx_id, "kb"))).get("kb_ids") or [])
        except KnowledgeError:
            return None

    async def register_kb_binding(self, kb_id: str, ctx_id: str) -> bool:
        """Bind a base to a context; False if the server refused."""
        try:
            await self._request("POST", self._data("exec_context", kb_id, "bind", ctx_id))
        except KnowledgeError:
            return False
        return True

    # ---------------------------------------------------------------- the admin plane

    def _admin(self, *segments: str) -> str:
        return f"{self.admin_api_url}/v1" + url_path(*segments)

    async def list_kbs(self) -> list[dict[str, Any]]:
        """Every knowledge base of the organisation (admin)."""
        return list(await self._request("GET", self._admin("kbs"), admin=True))

    async def get_kb(self, kb_id: str) -> dict[str, Any]:
        """One knowledge base: id, name, description, numberOfVectors, createdAt, updatedAt (admin)."""
        return dict(await self._request("GET", self._admin("kbs", kb_id), admin=True))

    async def create_kb(self, name: str, description: str = "") -> dict[str, Any]:
        """A new knowledge base (admin)."""
        return dict(await self._request("POST", self._admin("kbs"), admin=True, json={"name": name, "description": description}))

    async def delete_kb(self, kb_id: str) -> None:
        """Delete a base, its chunks, bindings and permissions; its evidence stays in the chain (admin)."""
        await self._request("DELETE", self._admin("kbs", kb_id), admin=True)

    async def list_api_keys(self) -> list[dict[str, Any]]:
        """The organisation's knowledge keys: hash, firstN, name, description, status (admin)."""
        return list(await self._request("GET", self._admin("keys"), admin=True))

    async def create_api_key(self, name: str, description: str = "") -> dict[str, Any]:
        """`apiKey` (its metadata) and `secretKey` (shown once)."""
        return dict(await self._request("POST", self._admin("keys"), admin=True, json={"name": name, "description": description}))

    async def revoke_api_key(self, key_hash: str) -> None:
        """Revoke a key: it is refused (401) from then on (admin)."""
        await self._request("PATCH", self._admin("keys", key_hash, "status", "revoke"), admin=True)

    async def get_key_permissions(self, key_hash: str) -> list[dict[str, Any]]:
        """A key's permission per base (admin)."""
        return list(await self._request("GET", self._admin("keys", key_hash, "permissions"), admin=True))

    async def set_key_permission(self, key_hash: str, kb_id: str, permission: int) -> dict[str, Any]:
        """1 read, 3 write, 7 delete (0: none)."""
        return dict(await self._request("PUT", self._admin("keys", key_hash, "permissions", kb_id), admin=True, json={"permission": permission}))


def _error(method: str, url: str, status: int, body: bytes) -> KnowledgeError:
    code = _CODES.get(status, "SERVER_ERROR" if status >= 500 else "VALIDATION_ERROR")
    message, details = body[:300].decode("utf-8", "replace"), cast(dict[str, Any], {})
    try:
        error = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        error = None
    if isinstance(error, dict):  # any JSON may come: keep only members of the types an error body has
        code = error["code"] if isinstance(error.get("code"), str) else code
        message = error["message"] if isinstance(error.get("message"), str) else message
        details = error["details"] if isinstance(error.get("details"), dict) else details
    return KnowledgeError(code, f"{method} {url.split('?')[0]}: {status}: {message}", status, details)
