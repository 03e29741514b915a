"""One verification of a tenant, the same for `xase-ledger verify` and `GET /verify`: integrity, then claims.

Integrity is the ledger's own data: the hash chain and its signed blocks, the agent context store
against itself and the heads sealed into the chain. Only a change to that data makes a tenant BROKEN.
Claims are what decisions cite (`xase.references`): a reference that does not resolve is reported per
record, with its own exit status, and never called tampering. Whatever goes wrong while one tenant is
verified is that tenant's ERROR: the others are verified all the same.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from flask import Blueprint, Response
from sqlalchemy import Engine

from ledger_service import contexts, evidence
from ledger_service.db import read_connection
from ledger_service.web import PREFIX, json_response, principal, state
from xase import note

__all__ = ["MAX_LISTED_CLAIMS", "TenantVerification", "verify_tenant", "blueprint"]

log = logging.getLogger("xase.ledger")

MAX_LISTED_CLAIMS = 100  # unresolved references listed in a report; the count is always whole


@dataclass
class TenantVerification:
    tenant_id: str
    chain: dict[str, Any] = field(default_factory=dict)
    contexts: Optional[contexts.IntegrityReport] = None
    references: int = 0  # references checked
    claims: list[evidence.Claim] = field(default_factory=list)  # those that do not resolve
    failure: Optional[str] = None  # why verification could not finish

    @property
    def intact(self) -> bool:
        return self.failure is None and bool(self.chain.get("ok")) and (self.contexts is None or self.contexts.ok)

    @property
    def status(self) -> str:
        """OK, BROKEN (the ledger's data was altered), ERROR (not verified to the end) or UNRESOLVED (intact; claims fail)."""
        if self.failure is not None:
            return "ERROR"
        if not self.intact:
            return "BROKEN"
        return "UNRESOLVED" if self.claims else "OK"

    def _error(self) -> Optional[dict[str, Any]]:
        if self.failure is not None:
            return {"step": "verification", "message": self.failure}
        if self.chain.get("error"):
            return dict(self.chain["error"])
        if self.contexts is not None and self.contexts.error:
            return {"step": "contexts", "message": self.contexts.error}
        return None

    def as_json(self) -> dict[str, Any]:
        report = self.contexts
        return {
            **self.chain, "tenant_id": self.tenant_id, "ok": self.intact, "status": self.status, "error": self._error(),
            "contexts": None if report is None else {"ok": report.ok, "turns": report.turns, "blobs": report.blobs, "contexts": report.contexts,
                                                     "sealed_heads": report.sealed_heads},
            "claims": {"ok": not self.claims, "references": self.references, "unresolved": len(self.claims),
                       "listed": [claim.as_json() for claim in self.claims[:MAX_LISTED_CLAIMS]]},
        }  # fmt: skip


def verify_tenant(engine: Engine, tenant_id: str, *, jobs: int = 1, witnesses: Sequence[note.Verifier] = ()) -> TenantVerification:
    """Verify one tenant's chain (its log, and the stored cosignatures of `witnesses`), context store and
    references; never raises (a failure is the report's ERROR)."""
    result = TenantVerification(tenant_id)
    try:
        result.chain = evidence.verify_chain(engine, tenant_id, jobs=jobs, witnesses=witnesses)
        result.contexts = contexts.verify_tenant(engine, tenant_id)
        with read_connection(engine) as conn:
            result.references, result.claims = evidence.unresolved_references(conn, tenant_id, result.contexts.turn_problem)
    except Exception as exc:
        log.exception("verifying tenant %s failed", tenant_id)
        result.failure = f"{type(exc).__name__}: {exc}"
    return result


blueprint = Blueprint("verification", __name__, url_prefix=PREFIX)


@blueprint.get("/verify")
def verify() -> Response:
    caller = principal("records:read")
    witnesses = [witness.verifier for witness in evidence.current_ledger().witnessing.witnesses]
    return json_response(verify_tenant(state().engine, caller.tenant_id, witnesses=witnesses).as_json())
