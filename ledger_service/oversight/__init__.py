"""Human oversight (EU AI Act Article 14): people overriding, confirming, stopping or escalating decisions, each
event a record in the organisation's chain, linked to the decision it acts on; per-policy two-person rules.

Owns
    events.py   the rules of an event (what it may name, the two-person rule) and its evidence
    api.py      POST/GET /records/{id}/oversight, PUT/GET /oversight/rules
    tables.py   oversight_rules, oversight_events

May import the shared layer, `ledger_service.evidence` (its public names) and `xase`.
"""

from __future__ import annotations

from flask import Flask

from ledger_service.oversight import api
from ledger_service.oversight.events import events_for, rules

__all__ = ["events_for", "install", "rules"]


def install(app: Flask) -> None:
    app.register_blueprint(api.blueprint)
