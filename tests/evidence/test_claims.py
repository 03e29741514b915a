"""No client can crash or fool verification: references are checked at intake, and one that does not resolve
is the decision's claim failing (reported per record, exit 3), never BROKEN; one tenant's failure never stops the others."""

from __future__ import annotations

import dataclasses
import io
import secrets
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from ledger_service import auth, cli, contexts
from ledger_service.db import write_transaction
from ledger_service.evidence import chain
from ledger_service.evidence.intake import parse_record
from ledger_service.tenants import create_tenant
from tests.conftest import BACKENDS, Api, LedgerProcess, in_process_app
from xase import XaseClient, evidence
from xase.errors import ValidationError

HASH = "ab" * 32
BAD_REFERENCES = {
    "superscript turn id": {"cxdb": {"context_id": "1", "turn_id": "²", "turn_hash": HASH}},
    "Arabic-Indic turn id": {"cxdb": {"context_id": "1", "turn_id": "١٢", "turn_hash": HASH}},
    "null turn id": {"cxdb": {"context_id": "1", "turn_id": None, "turn_hash": HASH}},
    "turn 0, the empty root": {"cxdb": {"context_id": "1", "turn_id": "0", "turn_hash": "0" * 64}},
    "no turn hash": {"cxdb": {"context_id": "1", "turn_id": "2"}},
    "short hash": {"cxdb": {"context_id": "1", "turn_id": "2", "turn_hash": "abc"}},
    "id past 2^63": {"cxdb": {"context_id": "1", "turn_id": str(2**63), "turn_hash": HASH}},
    "unknown member": {"cxdb": {"context_id": "1", "turn_id": "2", "turn_hash": HASH, "note": "x"}},
    "a string": {"cxdb": "1/2"},
    "made-up retrieval": {"retrieval": "ret_made_up"},
    "empty retrieval list": {"retrieval": []},
    "101 retrievals": {"retrieval": ["ret_" + secrets.token_hex(12) for _ in range(101)]},
    "a retrieval id as data access": {"data_access": "ret_" + "0" * 24},
}
LOOK_ALIKES = [" xase.retrieval", "xаse.retrieval", "xase．retrieval", "xase\u200b.retrieval", "xase․cxdb", "ｘase.cxdb", "XASE.seal", "xase"]  # noqa: RUF001


@pytest.mark.parametrize("context", BAD_REFERENCES.values(), ids=list(BAD_REFERENCES))
def test_a_reference_of_the_wrong_shape_is_refused_by_the_sdk_and_by_the_ledger(api: Api, context: dict[str, Any]) -> None:
    with XaseClient(api_key="xase_pk_x", base_url="http://127.0.0.1:9", capture_runtime_context=False) as xase:
        with pytest.raises(ValidationError, match=r"context\."):
            xase.record({"policy": "p", "input": {}, "output": {}, "context": context})
    answer = api.post("/records", json={"policy": "p", "input": {}, "output": {}, "context": context})
    assert answer.status_code == 400 and answer.json()["error"]["details"]["field"].startswith("context."), answer.text
    assert api.get("/stats").json()["records"] == 0


@pytest.mark.parametrize("policy", LOOK_ALIKES)
def test_policies_that_look_like_the_ledgers_own_are_refused(api: Api, policy: str) -> None:
    answer = api.post("/records", json={"policy": policy, "input": {}, "output": {}})
    assert answer.status_code == 400 and answer.json()["error"]["details"]["field"] == "policy_id"
    assert api.post("/records", json={"policy": "xaser_policy", "input": {}, "output": {}}).status_code == 201


def _verify(ledger: LedgerProcess, *args: str) -> tuple[int, str]:
    done = ledger.cli("verify", *args, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout


def test_references_that_do_not_resolve_are_claims_not_tampering(ledger: LedgerProcess) -> None:
    name = "claims-" + secrets.token_hex(4)
    api = Api(ledger, ledger.new_api_key(name))
    unknown = "ret_" + secrets.token_hex(12)
    for context in ({"cxdb": {"context_id": "1", "turn_id": "424242", "turn_hash": HASH}}, {"retrieval": [unknown]}, {"channel": "web"}):
        assert api.post("/records", json={"policy": "p", "input": {}, "output": {}, "context": context}).status_code == 201
    code, out = _verify(ledger, "--tenant", name)
    assert code == 3, out
    assert ": OK (3 records" in out and "BROKEN" not in out and "UNRESOLVED references: 2 of 2" in out
    assert "seq 0" in out and "turn 424242 is not in the context store" in out and f"{unknown} is not in this chain" in out
    served = api.get("/verify").json()
    assert (served["ok"], served["status"], served["claims"]["unresolved"], served["claims"]["references"]) == (True, "UNRESOLVED", 2, 2)
    assert [claim["reference"] for claim in served["claims"]["listed"]] == ["cxdb", "retrieval"]


@pytest.fixture(params=BACKENDS)
def three_tenants(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """An in-process ledger with tenants a, b, c; b holds records taken in before references were checked."""
    with in_process_app(tmp_path, request.param) as (app, signer):
        engine = app.extensions["xase"].engine
        with write_transaction(engine) as conn:
            ids = [create_tenant(conn, name)["id"] for name in ("a", "b", "c")]
            for tenant_id in ids:
                auth.create_api_key(conn, tenant_id)
        plain = parse_record({"policy": "p", "input": {}, "output": {}})
        for context in ({"cxdb": {"turn_id": "²"}}, {"cxdb": None}, {"retrieval": 5}):  # what intake refuses now
            canonical = evidence.canonicalize(context)
            legacy = dataclasses.replace(plain, context_json=canonical.decode(), context_hash=evidence.sha256_hex(canonical))
            chain.append(engine, signer, ids[1], [legacy])
        yield str(engine.url.render_as_string(hide_password=False)), ids


def _cli_verify(url: str, tmp_path: Path) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli.main(["--database-url", url, "--signing-key", str(tmp_path / "key.pem"), "verify"])
    return code, out.getvalue()


def test_records_from_before_references_were_checked_are_reported_not_a_crash(three_tenants: tuple[str, list[str]], tmp_path: Path) -> None:
    url, (a, b, c) = three_tenants
    code, out = _cli_verify(url, tmp_path)
    assert code == 3, out
    assert f"{a}: OK" in out and f"{c}: OK" in out and f"{b}: OK (3 records" in out
    assert f"{b}: UNRESOLVED references: 3 of 3" in out and out.count("malformed reference") == 3


def test_one_tenant_that_cannot_be_verified_does_not_stop_the_others(three_tenants: tuple[str, list[str]], tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    url, (a, b, c) = three_tenants
    real = contexts.verify_tenant

    def failing_for_b(engine: Any, tenant_id: str) -> Any:
        if tenant_id == b:
            raise RuntimeError("the disk went away")
        return real(engine, tenant_id)

    monkeypatch.setattr(contexts, "verify_tenant", failing_for_b)
    code, out = _cli_verify(url, tmp_path)
    assert code == 1, out
    assert f"{a}: OK" in out and f"{c}: OK" in out and f"{b}: ERROR, not verified to the end: RuntimeError: the disk went away" in out
