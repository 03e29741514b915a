"""What decisions claim they were made on, checked against the chain: the references of `xase.references`.

A client's record may cite evidence the ledger wrote (`retrieval`, `data_access`) or an agent context turn
(`cxdb`, checked by the context store). A reference that does not resolve is the client's claim failing,
never tampering: verification reports it per record (`Claim`) and keeps `BROKEN` for the ledger's own data.
Records taken in before references were checked at intake may carry ones of the wrong shape: the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable, Optional

from sqlalchemy import Connection, select

from ledger_service.evidence.audit import contexts_naming
from ledger_service.evidence.tables import Record
from xase.references import REFERENCE_MEMBERS, BadReference, EvidenceReference, Reference, TurnReference, evidence_problem, parse_references

__all__ = ["Claim", "cited_record", "unresolved_references"]

_BATCH = 500


@dataclass(frozen=True)
class Claim:
    """A reference of record `seq` that does not resolve, and why."""

    seq: int
    transaction_id: str
    member: str
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "transaction_id": self.transaction_id, "reference": self.member, "message": self.message}


TurnCheck = Callable[[TurnReference], "str | None"]  # why a turn reference does not resolve, or None


def _citing(conn: Connection, tenant_id: str) -> Iterator[tuple[int, str, Any]]:
    """(seq, transaction_id, context) of every record whose context has a reference member, in chain order, each once."""
    seen: set[int] = set()
    found = []
    for member in REFERENCE_MEMBERS:
        for seq, _policy, transaction_id, context in contexts_naming(conn, tenant_id, member):
            if seq not in seen:
                seen.add(seq)
                found.append((seq, transaction_id, context))
    yield from sorted(found, key=lambda item: item[0])


def _cited_records(conn: Connection, tenant_id: str, transaction_ids: list[str]) -> dict[str, tuple[int, str]]:
    """transaction id -> (seq, policy) of the records named, looked up in batches."""
    found: dict[str, tuple[int, str]] = {}
    for start in range(0, len(transaction_ids), _BATCH):
        wanted = transaction_ids[start : start + _BATCH]
        query = select(Record.transaction_id, Record.seq, Record.policy_id).where(Record.tenant_id == tenant_id, Record.transaction_id.in_(wanted))
        found.update({row.transaction_id: (row.seq, row.policy_id) for row in conn.execute(query)})
    return found


def cited_record(conn: Connection, tenant_id: str, transaction_id: str) -> Optional[tuple[int, str]]:
    """(seq, policy) of the record a decision cites, or None: what `evidence_problem` judges."""
    return _cited_records(conn, tenant_id, [transaction_id]).get(transaction_id)


def unresolved_references(conn: Connection, tenant_id: str, check_turn: TurnCheck) -> tuple[int, list[Claim]]:
    """How many references the tenant's records make, and each one that does not resolve (in chain order).
    `check_turn` resolves agent context turns (the context store's)."""
    citing = list(_citing(conn, tenant_id))
    parsed: list[tuple[int, str, list[Reference] | BadReference]] = []
    for seq, transaction_id, context in citing:
        try:
            parsed.append((seq, transaction_id, parse_references(context)))
        except BadReference as bad:
            parsed.append((seq, transaction_id, bad))
    wanted = {ref.transaction_id for _, _, refs in parsed if isinstance(refs, list) for ref in refs if isinstance(ref, EvidenceReference)}
    cited = _cited_records(conn, tenant_id, sorted(wanted))
    checked, claims = 0, []
    for seq, transaction_id, refs in parsed:
        if isinstance(refs, BadReference):
            checked += 1
            claims.append(Claim(seq, transaction_id, refs.member, f"malformed reference: {refs}"))
            continue
        for ref in refs:
            checked += 1
            problem = check_turn(ref) if isinstance(ref, TurnReference) else evidence_problem(ref, seq, cited.get(ref.transaction_id))
            if problem is not None:
                claims.append(Claim(seq, transaction_id, "cxdb" if isinstance(ref, TurnReference) else ref.member, problem))
    return checked, claims
