"""The console's data access and knowledge pages in a real browser: the holder sees its dataset, its grant and
its accesses, whose receipts (in the consumer's chain) verify in the browser; the consumer sees what was shared
with it; the knowledge page shows bases and their evidence, never a chunk. Hostile names stay text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.access.conftest import PATIENTS, open_session
from tests.conftest import Api, LedgerProcess
from tests.console.harness import Console, needs_chromium

pytestmark = [needs_chromium, pytest.mark.parametrize("ledger", ["sqlite"], indirect=True)]
HOSTILE = "<img src=x onerror=document.title=1>"


def test_the_holder_verifies_its_accesses_and_the_consumer_sees_its_grants(browser: Any, ledger: LedgerProcess, tmp_path: Path) -> None:
    holder = Api(ledger, ledger.new_api_key(scopes=["sessions", "records:read"]))
    consumer_tenant = "lab-" + holder.key[-6:].lower().replace("_", "x").replace("-", "x")
    consumer = Api(ledger, ledger.new_api_key(consumer_tenant, scopes=["sessions", "records:read"]))
    dataset = holder.post("/datasets", json={"name": "patients", "description": HOSTILE}).json()
    assert holder.post(f"/datasets/{dataset['id']}/records", json=PATIENTS[:4]).status_code == 201
    grant = {"tenant": consumer_tenant, "purposes": ["model_training"], "max_duration": "30d"}
    assert holder.post(f"/datasets/{dataset['id']}/grants", json=grant).status_code == 201
    session = open_session(consumer, dataset["id"])
    assert consumer.get(f"/sessions/{session['session_id']}/stream").status_code == 200
    as_holder = Console(browser, ledger, holder.key, tmp_path)
    try:
        as_holder.sign_in()
        as_holder.page.click("text=Data access")
        assert HOSTILE in as_holder.page.inner_text("main") and as_holder.page.title() != "1"
        as_holder.page.click("text=Verify the newest accesses")
        as_holder.page.locator(".dataset .verdict.ok").wait_for()
        assert "receipt(s) verified in this browser" in as_holder.page.inner_text(".dataset .verdict")
        assert as_holder.page.locator("table.accesses tbody tr").count() >= 1 and "FAILED" not in as_holder.page.inner_text("table.accesses")
        as_holder.shot("data-holder")
        assert as_holder.problems == []
    finally:
        as_holder.close()
    as_consumer = Console(browser, ledger, consumer.key, tmp_path)
    try:
        as_consumer.sign_in()
        as_consumer.page.click("text=Data access")
        assert "patients" in as_consumer.page.inner_text("main") and "model_training" in as_consumer.page.inner_text("main")
        assert session["session_id"] in as_consumer.page.inner_text("#sessions") and "active" in as_consumer.page.inner_text("#sessions")
        as_consumer.page.click("text=the session evidence")
        assert as_consumer.page.locator("tbody tr").count() >= 1
        assert as_consumer.problems == []
    finally:
        as_consumer.close()


def test_the_knowledge_page_shows_bases_and_evidence(browser: Any, ledger: LedgerProcess, tmp_path: Path) -> None:
    key = ledger.new_api_key(scopes=["admin"])
    tenant = Api(ledger, key).get("/stats").json()["tenant_id"]
    answer = Api(ledger, key).session.post(f"http://127.0.0.1:{ledger.port}/xtrace/v1/kbs", json={"name": HOSTILE, "description": "policies"},
                                           headers={"X-Xtrace-Key": key, "X-Xtrace-Org-Id": tenant}, timeout=10)  # fmt: skip
    assert answer.status_code in (200, 201), answer.text
    console = Console(browser, ledger, key, tmp_path)
    try:
        console.sign_in()
        console.page.click("text=Knowledge")
        assert HOSTILE in console.page.inner_text("main") and console.page.title() != "1"
        assert "ciphertexts only" in console.page.inner_text("main") and "knowledge.create_kb" in console.page.inner_text("main")  # its creation's evidence
        console.shot("knowledge")
        assert console.problems == []
    finally:
        console.close()
