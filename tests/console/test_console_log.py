"""The console's log page in a real browser, on a ledger with a real witness process: the checkpoints over time,
the witness's cosignatures and lag, and, in the browser, both newest checkpoints' signatures, their consistency
proof and the witness's cosignature verified; a proof changed on its way, or a log key the user pins that did not
sign, fails the check; a witness key the user pins is checked instead of the ledger's word."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.conftest import Api, LedgerProcess, decision, until
from tests.console.harness import Console, needs_chromium
from tests.witness.test_witness_protocol import WitnessProcess
from xase import note

pytestmark = needs_chromium


def _cosigned_at(api: Api, size: int) -> bool:
    served = api.get("/log/checkpoint").text
    return f"\n{size}\n" in served and "witness.test/w1" in served


@pytest.fixture(scope="module")
def witnessed_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LedgerProcess, Api]]:
    """A ledger whose checkpoints a real witness cosigns, with two checkpoints at least, the newer one cosigned."""
    root = tmp_path_factory.mktemp("witnessed")
    ledger = LedgerProcess(root / "ledger", env={"XASE_CHECKPOINT_INTERVAL": "0.1"})
    ledger.directory.mkdir()
    ledger.start()
    api = Api(ledger, ledger.new_api_key("acme"))
    log_vkey = api.get("/log/keys").json()["vkeys"][0]
    ledger.stop()
    (root / "w1").mkdir()
    witness = WitnessProcess(root / "w1", [log_vkey], "witness.test/w1").start()
    ledger.env["XASE_WITNESSES"] = f"{witness.url} {witness.cosigner.vkey}"
    ledger.start()
    try:
        for batch in range(2):
            api.post("/records/batch", json={"records": [decision(10 * batch + n) for n in range(5)]})
            until(lambda size=5 * (batch + 1): _cosigned_at(api, size))
        yield ledger, api
    finally:
        ledger.destroy()
        witness.stop()


@pytest.fixture
def witnessed(browser: Any, witnessed_ledger: tuple[LedgerProcess, Api], tmp_path: Path) -> Iterator[tuple[Console, Api]]:
    ledger, api = witnessed_ledger
    console = Console(browser, ledger, api.key, tmp_path)
    console.sign_in()
    yield console, api
    console.close()


def test_the_log_is_checked_in_the_browser(witnessed: tuple[Console, Api]) -> None:
    console, _ = witnessed
    console.page.click("text=Log")
    console.page.wait_for_selector("#verdict.ok")
    verdict = console.page.inner_text("#verdict")
    assert "is a prefix of tree 10" in verdict and "witness.test/w1 cosigned tree 10" in verdict and "integrity, not origin" in verdict
    assert "witness.test/w1" in console.page.inner_text("table") and console.page.locator("#checkpoints tbody tr").count() >= 2
    console.shot("log")
    assert console.problems == []


def test_a_changed_proof_or_a_key_that_did_not_sign_fails(witnessed: tuple[Console, Api]) -> None:
    console, api = witnessed

    def changed(route: Any) -> None:
        answer = route.fetch()
        proof = answer.json()
        proof["proof"][0] = proof["proof"][0][:-4] + ("AAA=" if not proof["proof"][0].endswith("AAA=") else "BBB=")
        route.fulfill(response=answer, body=json.dumps(proof))

    console.page.route("**/console/api/api/xase/v1/log/proof/consistency*", changed)
    console.page.goto(console.root + "/log")
    console.page.wait_for_selector("#verdict.failed")
    assert "Check FAILED" in console.page.inner_text("#verdict")
    console.page.unroute("**/console/api/api/xase/v1/log/proof/consistency*")
    origin = api.get("/log/keys").json()["origin"]
    stranger = note.ed25519_verifier(origin, ed25519.Ed25519PrivateKey.generate().public_key()).vkey
    console.page.fill("#vkeys", stranger)
    console.page.click("#verify")
    console.page.locator("#verdict", has_text="expected a signature by a trusted key").wait_for()
    console.page.fill("#vkeys", api.get("/log/keys").json()["vkeys"][0])
    console.page.click("#verify")
    console.page.locator("#verdict", has_text="signed by the keys you trust").wait_for()
    witness_vkey = console.page.get_attribute("tr.witness", "data-vkey")
    impostor = note.cosigner_verifier("witness.test/w1", ed25519.Ed25519PrivateKey.generate().public_key()).vkey
    console.page.fill("#witness-keys", impostor)
    console.page.click("#verify")
    console.page.locator("#verdict", has_text="witness.test/w1 has not cosigned tree").wait_for()  # the ledger's word is not taken
    console.page.fill("#witness-keys", str(witness_vkey))
    console.page.click("#verify")
    console.page.locator("#verdict", has_text="(a key you trust)").wait_for()
    assert console.problems == []
