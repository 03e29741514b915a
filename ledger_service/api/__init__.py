"""HTTP blueprints: each parses, authorizes and calls into the plain modules below it."""

from ledger_service.api import admin, evidence_routes, health, records

BLUEPRINTS = (records.blueprint, evidence_routes.blueprint, admin.blueprint, health.blueprint)

__all__ = ["BLUEPRINTS"]
