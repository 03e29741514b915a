"""The evidence a decision cites: the typed references a record's `context` may carry (docs/references.md).

A decision names what it was made on with reserved members of its context:

    "cxdb":        {"context_id", "turn_id", "turn_hash"[, "depth"]}   the agent context history (seed 003)
    "retrieval":   "ret_…" or a list of them                          knowledge retrievals (seed 000)
    "data_access": "acc_…" or a list of them                          governed data access (seed 002)

Their shapes are checked where a record enters (the SDK's `record()`, the ledger's intake: a 400 that
says what is wrong) by `parse_references`, the one implementation both use. Whether a reference
resolves (the turn exists with that hash, the retrieval is in the chain before the decision) is the
decision's *claim*, checked by verification and reported per record, never as tampering: the ledger
cannot vouch for what a client says it used, only for its own data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional, Union

from xase.evidence import is_hex64

__all__ = ["LEDGER_POLICY_PREFIX", "REFERENCES_VERSION", "REFERENCE_MEMBERS", "MAX_CITED", "evidence_problem", "TurnReference", "EvidenceReference",
           "Reference", "BadReference",
           "parse_references"]  # fmt: skip

REFERENCES_VERSION = 1
MAX_CITED = 100  # evidence ids per member
LEDGER_POLICY_PREFIX = "xase."  # the policies of the records the ledger itself writes
_MAX_ID = 2**63 - 1  # turn and context ids are the store's signed 64-bit integers, written in decimal
_DECIMAL = re.compile(r"[1-9][0-9]{0,18}")
_EVIDENCE_IDS = {"retrieval": re.compile(r"ret_[0-9a-f]{24}"), "data_access": re.compile(r"acc_[0-9a-f]{24}")}
REFERENCE_MEMBERS = ("cxdb", *_EVIDENCE_IDS)


class BadReference(ValueError):
    """A reference of the wrong shape: `member` (`cxdb`), `field` (`context.cxdb.turn_id`) and the `reason`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.reason = field, message
        self.member = field.split(".")[1]


@dataclass(frozen=True)
class TurnReference:
    """A turn of an agent context, and the hash that commits to its whole history."""

    context_id: int
    turn_id: int
    turn_hash: str


@dataclass(frozen=True)
class EvidenceReference:
    """A record of the same chain that the ledger wrote (`member` names which kind)."""

    member: str
    transaction_id: str


Reference = Union[TurnReference, EvidenceReference]


def _store_id(ref: Mapping[str, Any], name: str) -> int:
    value = ref.get(name)
    if type(value) is not str or not _DECIMAL.fullmatch(value) or int(value) > _MAX_ID:
        raise BadReference(f"context.cxdb.{name}", f"expected the store's id as decimal digits (1 to {_MAX_ID}), got {value!r:.60}")
    return int(value)


def _turn(ref: Any) -> TurnReference:
    if not isinstance(ref, Mapping):
        raise BadReference("context.cxdb", "expected a turn reference {context_id, turn_id, turn_hash} (AppendedTurn.evidence_context)")
    unknown = sorted(str(name)[:40] for name in ref if name not in ("context_id", "turn_id", "turn_hash", "depth"))
    if unknown:
        raise BadReference("context.cxdb", f"unknown member(s) {unknown}")
    turn_hash = ref.get("turn_hash")
    if not is_hex64(turn_hash):
        raise BadReference("context.cxdb.turn_hash", "expected the turn's 64 lowercase hex hash, as the ledger answered the append")
    depth = ref.get("depth")
    if "depth" in ref and (type(depth) is not int or not 1 <= depth <= _MAX_ID):
        raise BadReference("context.cxdb.depth", f"expected a positive integer, got {depth!r:.60}")
    return TurnReference(_store_id(ref, "context_id"), _store_id(ref, "turn_id"), turn_hash)


def _cited(member: str, value: Any) -> list[EvidenceReference]:
    ids = [value] if isinstance(value, str) else value
    pattern = _EVIDENCE_IDS[member]
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_CITED or not all(type(i) is str and pattern.fullmatch(i) for i in ids):
        prefix = pattern.pattern[:4]
        raise BadReference(f"context.{member}", f"expected an evidence id ({prefix}…, as the ledger answered) or a list of 1 to {MAX_CITED}")
    return [EvidenceReference(member, transaction_id) for transaction_id in dict.fromkeys(ids)]


def parse_references(context: Any) -> list[Reference]:
    """The references in a record's context, in member order; BadReference for one of the wrong shape.
    A context that is not a mapping carries none."""
    if not isinstance(context, Mapping):
        return []
    found: list[Reference] = []
    if "cxdb" in context:
        found.append(_turn(context["cxdb"]))
    for member in _EVIDENCE_IDS:
        if member in context:
            found.extend(_cited(member, context[member]))
    return found


def evidence_problem(reference: EvidenceReference, citing_seq: int, cited: Optional[tuple[int, str]]) -> Optional[str]:
    """Why a decision at `citing_seq` cannot cite `reference`, or None: the record it names (`cited`: its seq and
    policy, None if the chain has no such transaction) must be one the ledger wrote, earlier in the same chain."""
    if cited is None:
        return f"{reference.transaction_id} is not in this chain"
    seq, policy_id = cited
    if not policy_id.startswith(LEDGER_POLICY_PREFIX):
        return f"{reference.transaction_id} (seq {seq}) is not evidence the ledger wrote"
    if seq >= citing_seq:
        return f"{reference.transaction_id} (seq {seq}) was recorded after the decision"
    return None
