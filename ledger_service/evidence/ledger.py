"""The evidence subsystem's handle: the one way records enter a tenant's chain.

`Ledger.append` takes clients' records (POST /records); `Ledger.record` writes
the ledger's own evidence (a data access, a retrieval) for another subsystem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

from flask import current_app
from sqlalchemy import Engine

from ledger_service.config import Settings
from ledger_service.errors import LedgerError
from ledger_service.evidence import chain
from ledger_service.evidence.group_commit import GroupCommitter
from ledger_service.evidence.intake import RecordInput, parse_record
from ledger_service.evidence.signing import Signer

__all__ = ["Ledger", "current_ledger"]


@dataclass(frozen=True)
class Ledger:
    engine: Engine
    signer: Signer
    committer: GroupCommitter
    group_commit: bool

    @classmethod
    def start(cls, settings: Settings, engine: Engine, signer: Signer) -> Ledger:
        """Register the signer's public key and set up group commit."""
        chain.register_signer(engine, signer)
        committer = GroupCommitter(engine, signer, max_items=2 * settings.max_batch_size)
        return cls(engine=engine, signer=signer, committer=committer, group_commit=settings.group_commit)

    def append(self, tenant_id: str, items: Sequence[Union[RecordInput, LedgerError]]) -> list[chain.Outcome]:
        """One block for these items, shared with concurrent appends when group commit is on."""
        if self.group_commit:
            return self.committer.append(tenant_id, items)
        return chain.append(self.engine, self.signer, tenant_id, items)

    def record(self, tenant_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Append one record the ledger itself writes, in its own block; its RecordResult. Raises what refused it."""
        (outcome,) = chain.append(self.engine, self.signer, tenant_id, [parse_record(dict(fields), written_by_ledger=True)])
        if outcome.error is not None:
            raise outcome.error
        assert outcome.result is not None
        return dict(outcome.result)


def current_ledger() -> Ledger:
    """The running app's Ledger (inside a request)."""
    return current_app.extensions["xase.evidence"]  # type: ignore[no-any-return]
