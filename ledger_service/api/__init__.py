"""HTTP blueprints: each parses, authorizes and calls into the plain modules below it."""

from ledger_service.api import admin, datasets, evidence_routes, health, records, sessions

BLUEPRINTS = (records.blueprint, evidence_routes.blueprint, datasets.blueprint, sessions.blueprint, admin.blueprint, health.blueprint)

__all__ = ["BLUEPRINTS"]
