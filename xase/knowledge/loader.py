"""DataLoader and Retriever: encrypt and upload a collection; search it by encrypted Hamming distance and decrypt.

The names and signatures of xtrace-ai-sdk 0.1.1's loader and retriever. Embeddings are floats,
binarized by sign (x > 0 is 1) before encryption, as the published client does.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional, Union

import gmpy2

from xase.knowledge import paillier
from xase.knowledge.context import ExecutionContext
from xase.knowledge.integration import XTraceIntegration

__all__ = ["DataLoader", "Retriever", "binarize"]

Encrypted = tuple[list[list[Any]], list[dict[str, Any]]]  # (encrypted index, encrypted chunks)
PARALLEL_ANSWERS = 256  # below this, handing shares to threads costs more than it saves
DEFAULT_PROJECTION = ["chunk_id", "chunk_content", "tag1", "tag2", "tag3", "tag4", "tag5", "facets"]


def binarize(vector: Sequence[float]) -> list[int]:
    """1 where a component is positive, else 0."""
    return [1 if value > 0 else 0 for value in vector]


def _progress(items: range, enabled: bool) -> Any:
    if not enabled:
        return items
    try:
        from tqdm import tqdm
    except ImportError:  # the progress bar is optional (the `progress` extra)
        return items
    return tqdm(items, desc="Encrypting", unit="chunk")


class DataLoader:
    """Encrypts chunks (AES) and their embeddings (Paillier) on this machine, then uploads them."""

    def __init__(self, execution_context: ExecutionContext, integration: XTraceIntegration) -> None:
        self.execution_context = execution_context
        self.integration = integration

    async def load_data_from_memory(self, chunks: Sequence[dict[str, Any]], vectors: Sequence[Any], disable_progress: bool = False) -> Encrypted:
        """(encrypted index, encrypted chunks), ready for `dump_db`. A vector may be an awaitable (an embedding call)."""
        if len(chunks) != len(vectors):
            raise ValueError("Number of chunks and vectors must be the same")
        context, index, encrypted = self.execution_context, [], []
        for i in _progress(range(len(chunks)), enabled=not disable_progress and len(chunks) >= 1000):
            vector = await vectors[i] if inspect.isawaitable(vectors[i]) else vectors[i]
            if len(vector) != context.embed_len():
                raise ValueError(f"Vector dimension {len(vector)} does not match the context's embed_len {context.embed_len()}")
            index.append(context.keys.encrypt_vector(binarize(vector)))
            encrypted.append({"chunk_content": context.aes.encrypt(chunks[i]["chunk_content"]), "meta_data": chunks[i].get("meta_data", {}),
                              "name": chunks[i].get("name", ""), "chunk_id": chunks[i].get("chunk_id", 0)})  # fmt: skip
        return index, encrypted

    async def load_data_from_memory_batch(self, chunks: Sequence[dict[str, Any]], vectors: Sequence[Any], disable_progress: bool = False) -> Encrypted:
        """Same as `load_data_from_memory` (the published name for batch encryption)."""
        return await self.load_data_from_memory(chunks, vectors, disable_progress)

    async def dump_db(self, db: list[dict[str, Any]], index: list[list[Any]], kb_id: str, concurrent: bool = False) -> list[dict[str, Any]]:
        """Upload an encrypted collection under this context; one answer per batch."""
        return await self.integration.store_db(db, index, kb_id, context_id=self.execution_context.id, concurrent=concurrent)

    async def upsert_one(self, chunk: dict[str, Any], vector: Any, kb_id: str) -> list[dict[str, Any]]:
        """Encrypt and upload one chunk."""
        index, db = await self.load_data_from_memory([chunk], [vector], disable_progress=True)
        return await self.integration.store_db(db, index, kb_id, context_id=self.execution_context.id)

    async def delete_chunks(self, chunk_ids: list[int], kb_id: str) -> dict[str, Any]:
        """Delete chunks by id."""
        return await self.integration.delete_chunks(chunk_ids, kb_id)

    async def update_chunks(self, chunk_updates: list[dict[str, Any]], vectors: list[Any], kb_id: str) -> list[dict[str, Any]]:
        """Re-encrypt and replace chunks (each with its chunk_id)."""
        index, db = await self.load_data_from_memory(chunk_updates, vectors, disable_progress=True)
        return await self.integration.update_chunks(index, db, context_id=self.execution_context.id, kb_id=kb_id)


def _decode_share(keys: paillier.Keys, answers: list[list[Any]]) -> list[int]:
    """Decode on a thread of the pool: gmpy2 lets go of the interpreter's lock during its arithmetic (a setting of
    this thread's context), so the shares run on every core at once."""
    gmpy2.get_context().allow_release_gil = True
    return [keys.decode_hamming(ciphertexts) for ciphertexts in answers]


class Retriever:
    """Nearest neighbours by encrypted Hamming distance, then the chunks decrypted.

    `evidence_ids` holds the ledger's evidence of this retriever's latest search and fetch (the
    records a decision cites: `XaseClient.record({..., "context": {"retrieval": evidence_id}})`).
    """

    def __init__(self, execution_context: ExecutionContext, integration: XTraceIntegration, parallel: bool = True) -> None:
        self.execution_context = execution_context
        self.integration = integration
        self.parallel = parallel  # decode answers of PARALLEL_ANSWERS or more on a thread per core; False: on the caller's
        self.evidence_ids: list[str] = []

    async def nn_search_for_ids(self, query_vector: Any, k: int = 3, kb_id: str = "", meta_filter: Optional[dict[str, Any]] = None,
                                range_filter: Optional[list[int]] = None,
                                include_scores: bool = False) -> Union[list[int], tuple[list[int], list[int]]]:  # fmt: skip
        """The k chunk ids nearest the query; with include_scores also every distance, in the server's order."""
        if inspect.isawaitable(query_vector):
            query_vector = await query_vector
        context = self.execution_context
        if len(query_vector) != context.embed_len():
            raise ValueError(f"Query dimension {len(query_vector)} does not match the context's embed_len {context.embed_len()}")
        query = context.keys.encrypt_vector(binarize(query_vector))
        answer = await self.integration.compute_hamming_distances(query, context.id, kb_id, meta_filter=meta_filter, range=range_filter)
        self.evidence_ids = [self.integration.last_evidence_id] if self.integration.last_evidence_id else []
        scores = await self._decode([ciphertexts for _, ciphertexts in answer])
        nearest = sorted(range(len(answer)), key=lambda i: (scores[i], i))[:k]
        ids = [answer[i][0] for i in nearest]
        return (ids, scores) if include_scores else ids

    async def _decode(self, answers: list[list[Any]]) -> list[int]:
        """Every distance, decrypted: with `parallel` (the default) and PARALLEL_ANSWERS or more, by a thread per core,
        each a share of the answer, the event loop free meanwhile; else on the calling thread."""
        keys = self.execution_context.keys
        jobs = os.cpu_count() or 1
        if not self.parallel or len(answers) < PARALLEL_ANSWERS or jobs < 2:
            return [keys.decode_hamming(ciphertexts) for ciphertexts in answers]
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(jobs, thread_name_prefix="xase-decode") as pool:
            decoded = await asyncio.gather(*(loop.run_in_executor(pool, _decode_share, keys, answers[i::jobs]) for i in range(jobs)))
        scores = [0] * len(answers)
        for i, share in enumerate(decoded):
            scores[i::jobs] = share
        return scores

    async def retrieve_and_decrypt(self, chunk_ids: list[int], kb_id: str, projection: Optional[list[str]] = None) -> list[dict[str, Any]]:
        """Fetch chunks by id and decrypt their contents: [{chunk_content, meta_data}]."""
        found = await self.integration.get_chunk_by_id(chunk_ids, kb_id, projection=projection or DEFAULT_PROJECTION)
        if self.integration.last_evidence_id:
            self.evidence_ids.append(self.integration.last_evidence_id)
        return [{"chunk_content": self.execution_context.aes.decrypt(chunk["chunk_content"]), "meta_data": chunk.get("meta_data", {})} for chunk in found]

    @staticmethod
    def format_context(contexts: list[Any]) -> str:
        """Numbered lines, for a prompt."""
        return "".join(f"{i}. {value}\n" for i, value in enumerate(contexts))
