"""The evidence subsystem's handle: the one way records enter a tenant's chain.

`Ledger.append` takes clients' records (POST /records); `Ledger.record` writes
the ledger's own evidence (a data access, a retrieval, a change) for another
subsystem. A subsystem that changes its own tables passes its write transaction
as `within`: the change and its evidence then commit together or not at all, and
evidence the ledger refuses rolls the change back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional, Union

from flask import current_app
from sqlalchemy import Connection, Engine

from ledger_service.config import Settings
from ledger_service.db import write_transaction
from ledger_service.errors import LedgerError
from ledger_service.evidence import audit, chain, checkpoints, publishing, tree, witnessing
from ledger_service.evidence.group_commit import AfterAppend, GroupCommitter
from ledger_service.evidence.intake import RecordInput, parse_record
from ledger_service.evidence.signing import Signer
from ledger_service.metrics import Metrics

__all__ = ["Ledger", "current_ledger"]


class _MeteredSigner:
    """The signer, counting its signatures and timing each one."""

    def __init__(self, signer: Signer, metrics: Metrics) -> None:
        self.inner, self._metrics = signer, metrics
        self.key_id, self.public_pem, self.algorithm, self.kms_key_arn = signer.key_id, signer.public_pem, signer.algorithm, signer.kms_key_arn

    def sign(self, canonical_body: bytes, digest: bytes) -> str:
        try:
            with self._metrics.signing_latency.time():
                signature = self.inner.sign(canonical_body, digest)
        except Exception:
            self._metrics.signatures.labels("failed").inc()
            raise
        self._metrics.signatures.labels("signed").inc()
        return signature


@dataclass(frozen=True)
class Ledger:
    engine: Engine
    signer: Signer
    committer: GroupCommitter
    group_commit: bool
    metrics: Metrics
    tiles: tree.TileCache
    checkpointer: checkpoints.Checkpointer
    witnessing: witnessing.Witnessing
    witness_quorum: int  # cosignatures a witnessed receipt needs

    @classmethod
    def start(cls, settings: Settings, engine: Engine, signer: Signer, metrics: Optional[Metrics] = None) -> Ledger:
        """Register the signers' public keys, build the trees of chains that predate them, set up group commit."""
        metrics = metrics or Metrics()
        chain.register_signer(engine, signer)
        metered = _MeteredSigner(signer, metrics)
        keys = checkpoints.LogKeys.configured(settings.log_kms_key_id, settings.log_key_file, signer)  # block signatures are what metrics count
        checkpoints.register_log_key(engine, keys)
        tree.backfill(engine)
        tiles = tree.TileCache()

        def observe_group(requests: int, records: int) -> None:
            metrics.group_commit_requests.observe(requests)
            metrics.group_commit_records.observe(records)

        committer = GroupCommitter(engine, metered, max_items=2 * settings.max_batch_size, observe_group=observe_group)
        checkpointer = checkpoints.Checkpointer(engine, keys, settings.checkpoint_interval, settings.public_url, tiles)
        if settings.log_bucket:
            publisher = publishing.Publisher(engine, settings.log_bucket, tiles)
            checkpointer.listeners.append(publisher.notify)
            publisher.notify_all()
        witnesses = witnessing.parse_witnesses(settings.witnesses)
        witnessed = witnessing.Witnessing(engine, witnesses, tiles, metrics)
        if witnesses:
            checkpointer.listeners.append(witnessed.notify)
            metrics.at_scrape.append(witnessed.lag_metrics)
        return cls(engine=engine, signer=metered, committer=committer, group_commit=settings.group_commit, metrics=metrics,
                   tiles=tiles, checkpointer=checkpointer, witnessing=witnessed,
                   witness_quorum=min(settings.witness_quorum or len(witnesses), len(witnesses)))  # fmt: skip

    def append(self, tenant_id: str, items: Sequence[Union[RecordInput, LedgerError]], after: Optional[AfterAppend] = None) -> list[chain.Outcome]:
        """One block for these items, shared with concurrent appends when group commit is on; `after` writes more
        in the same transaction."""
        self.metrics.append_batch.observe(len(items))
        with self.metrics.append_latency.time():
            if self.group_commit:
                outcomes = self.committer.append(tenant_id, items, after)
            else:
                with write_transaction(self.engine) as conn:
                    outcomes = chain.append_within(conn, self.signer, tenant_id, items)
                    if after is not None:
                        after(conn)
        self._count(outcomes, tenant_id)
        return outcomes

    def _count(self, outcomes: Sequence[chain.Outcome], tenant_id: str) -> None:
        """Count the outcomes; the tree grew if any was appended, so a checkpoint is due."""
        counts = Counter("rejected" if outcome.error else "replayed" if outcome.replayed else "appended" for outcome in outcomes)
        for outcome, count in counts.items():
            self.metrics.records.labels(outcome).inc(count)
        if counts["appended"]:
            self.checkpointer.poke(tenant_id)

    def record(self, tenant_id: str, fields: Mapping[str, Any], *, within: Optional[Connection] = None) -> dict[str, Any]:
        """Append one record the ledger itself writes, in its own block; its RecordResult. Raises what refused it.

        `within`: the caller's write transaction, which the record joins (else it commits in one of its own)."""
        item = parse_record(dict(fields), written_by_ledger=True)
        if within is not None:
            (outcome,) = chain.append_within(within, self.signer, tenant_id, [item])
        else:
            (outcome,) = chain.append(self.engine, self.signer, tenant_id, [item])
        self._count([outcome], tenant_id)
        if outcome.error is not None:
            raise outcome.error
        assert outcome.result is not None
        return dict(outcome.result)

    def recorded(self, conn: Connection, tenant_id: str, idempotency_key: str) -> Optional[dict[str, Any]]:
        """The record appended under this idempotency key (its transaction id, record, context and payload), or None:
        a subsystem replays a change whose answer was lost from its evidence, instead of making it twice."""
        return audit.record_with_key(conn, tenant_id, idempotency_key)


def current_ledger() -> Ledger:
    """The running app's Ledger (inside a request)."""
    return current_app.extensions["xase.evidence"]  # type: ignore[no-any-return]
