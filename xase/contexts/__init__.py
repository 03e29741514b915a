"""The agent context store's client (seed 003) and the tamper-evident history format it shares with the ledger.

`Client` talks to `/cxdb` on a Xase ledger; `verify_history` and `verify_decision_context` check, offline,
that turns form the history a turn hash (and a decision's receipt) names.
"""

from __future__ import annotations

from xase.contexts.client import AppendedTurn, Client, Context, RegistryBundle, TurnPage
from xase.contexts.history import content_hash, turn_hash, turn_ref, verify_decision_context, verify_history

__all__ = ["Client", "Context", "AppendedTurn", "TurnPage", "RegistryBundle", "content_hash", "turn_hash", "turn_ref", "verify_history",
           "verify_decision_context"]  # fmt: skip
