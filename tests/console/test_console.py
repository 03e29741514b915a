"""The evidence console in a real browser: Playwright drives Debian's Chromium (no browser is downloaded) on
loopback, where WebCrypto has its secure context. Sign-in keeps the key out of every URL and page, a decision's
receipt is verified in the browser, a tampered one fails at the step `xase verify` names, hostile values stay
text, a revoked key ends its session, and no page logs an error. Screenshots are kept in the test's directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import Api, LedgerProcess, decision
from tests.console.harness import Console, needs_chromium

pytestmark = [needs_chromium, pytest.mark.parametrize("ledger", ["sqlite"], indirect=True)]
HOSTILE = '<img src=x onerror="document.title=1">'


@pytest.fixture
def console(browser: Any, ledger: LedgerProcess, tmp_path: Path) -> Iterator[Console]:
    key = ledger.new_api_key()
    api = Api(ledger, key)
    for n in range(3):
        assert api.post("/records", json=decision(n, policy_id="credit_policy", policy_version="4.2")).status_code == 201
    assert api.post("/records", json=decision(9, policy_id=HOSTILE, context={"note": HOSTILE})).status_code == 201
    opened = Console(browser, ledger, key, tmp_path)
    yield opened
    opened.context.close()


def test_sign_in_keeps_the_key_out_of_urls_and_pages_and_the_cookie_locked(console: Console, ledger: LedgerProcess) -> None:
    answer = requests.get(console.root + "/login", timeout=10)
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"] and "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    console.sign_in()
    (cookie,) = [c for c in console.context.cookies() if c["name"] == "xase_console"]
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict" and cookie["value"] != console.key
    assert console.key not in console.page.url and console.key not in console.page.content()
    assert HOSTILE in console.page.inner_text("main") and console.page.title() != "1"  # shown as text, never run
    console.shot("decisions")
    console.page.click("text=Sign out")
    console.page.wait_for_url(console.root + "/login")
    assert console.key not in (Path(ledger.directory) / "ledger.log").read_text()
    assert console.problems == []


def test_a_decision_s_receipt_is_verified_in_the_browser(console: Console, ledger: LedgerProcess) -> None:
    console.sign_in()
    console.page.locator("tbody tr", has_text="credit_policy").first.locator("a").click()
    console.page.wait_for_selector("#verdict.ok")
    assert "Receipt verified" in console.page.inner_text("#verdict") and "integrity, not origin" in console.page.inner_text("#verdict")
    key_id = requests.get(ledger.base_url + "/keys", timeout=10).json()["current_key_id"]
    console.page.fill("#pinned", key_id)
    console.page.click("#verify")
    console.page.locator("#verdict", has_text="the key you trust").wait_for()  # (the CSP forbids eval: no wait_for_function)
    console.shot("decision")
    console.page.fill("#pinned", "sha256:" + "0" * 64)
    console.page.click("#verify")
    console.page.wait_for_selector("#verdict.failed")
    assert "step public_key" in console.page.inner_text("#verdict")
    assert console.problems == []


def test_a_pasted_receipt_that_was_changed_fails_at_its_step(console: Console, ledger: LedgerProcess) -> None:
    api = Api(ledger, console.key)
    transaction_id = api.get("/records", params={"policy_id": "credit_policy"}).json()["records"][0]["transaction_id"]
    receipt = api.get(f"/receipts/{transaction_id}").json()
    import json

    console.page.goto(console.root + "/verify")  # needs no account
    console.page.fill("#receipt", json.dumps(receipt))
    console.page.click("#verify")
    console.page.wait_for_selector("#verdict.ok")
    receipt["block"]["sealed_at"] = receipt["block"]["sealed_at"].replace("Z", "1Z")
    console.page.fill("#receipt", json.dumps(receipt))
    console.page.click("#verify")
    console.page.wait_for_selector("#verdict.failed")
    assert "FAILED at step block_hash" in console.page.inner_text("#verdict")
    console.shot("verify-tampered")
    assert console.problems == []


def test_a_form_posted_from_another_site_is_refused(console: Console, ledger: LedgerProcess) -> None:
    login = console.root + "/login"
    refused = requests.post(login, data={"api_key": console.key}, headers={"Origin": "https://evil.example"}, allow_redirects=False, timeout=10)
    assert refused.status_code == 403 and "xase_console" not in refused.cookies  # no login CSRF: no session was made
    ours = requests.post(login, data={"api_key": console.key}, headers={"Origin": f"http://127.0.0.1:{ledger.port}"}, allow_redirects=False, timeout=10)
    assert ours.status_code == 302 and ours.cookies.get("xase_console")
    console.sign_in()  # and a real browser's own form passes


def test_revoking_the_key_ends_its_session(console: Console, ledger: LedgerProcess) -> None:
    console.sign_in()
    tenant = Api(ledger, console.key).get("/stats").json()["tenant_id"]
    keys = ledger.admin("GET", f"/tenants/{tenant}/api-keys").json()
    key_id = (keys["api_keys"] if isinstance(keys, dict) else keys)[0]["id"]
    assert ledger.admin("POST", f"/api-keys/{key_id}/revoke").status_code == 200
    console.page.goto(console.root + "/decisions")
    assert console.page.url == console.root + "/login"


def test_a_phone_and_a_keyboard_can_use_it(browser: Any, ledger: LedgerProcess, console: Console, tmp_path: Path) -> None:
    phone = Console(browser, ledger, console.key, tmp_path, viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True)
    try:
        phone.sign_in()
        assert phone.page.evaluate("document.documentElement.scrollWidth") <= 375 + 1  # nothing wider than the screen
        phone.shot("decisions-phone")
        phone.page.keyboard.press("Tab")
        assert phone.page.evaluate("document.activeElement.textContent") == "Xase console"
        assert phone.problems == []
    finally:
        phone.context.close()


AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"  # axe-core, vendored from npm (MPL-2.0, vendor/axe-LICENSE)


def test_no_page_has_a_serious_accessibility_violation(browser: Any, ledger: LedgerProcess, console: Console, tmp_path: Path) -> None:
    key = ledger.new_api_key(scopes=["records:read", "records:write", "contexts", "sessions"])
    api = Api(ledger, key)
    transaction_id = api.post("/records", json=decision(1)).json()["transaction_id"]
    cxdb = f"http://127.0.0.1:{ledger.port}/cxdb/v1"
    context_id = requests.post(cxdb + "/contexts/create", json={}, headers={"X-API-Key": key}, timeout=10).json()["context_id"]
    requests.post(f"{cxdb}/contexts/{context_id}/append", json={"type_id": "t", "type_version": 1, "data": {"a": 1}}, headers={"X-API-Key": key}, timeout=10)
    checked = Console(browser, ledger, key, tmp_path, bypass_csp=True)  # only so that the test can inject axe-core
    try:
        checked.sign_in()
        pages = ("/login", "/decisions", f"/decisions/{transaction_id}", "/verify", "/contexts", f"/contexts/{context_id}", "/log", "/health", "/data",
                 "/knowledge")  # fmt: skip
        for path in pages:
            checked.page.goto(checked.root + path)
            checked.page.wait_for_load_state("networkidle")  # the pages' scripts have drawn what they fetch
            checked.page.add_script_tag(path=str(AXE))
            found = checked.page.evaluate("async () => (await axe.run()).violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))")
            serious = [violation for violation in found if violation["impact"] in ("serious", "critical")]
            assert serious == [], (path, serious)
        checked.page.set_content('<html lang="en"><title>t</title><main><input></main></html>')  # the harness sees a violation
        checked.page.add_script_tag(path=str(AXE))
        assert "label" in checked.page.evaluate("async () => (await axe.run()).violations.map(v => v.id)")
    finally:
        checked.context.close()


def test_older_records_are_offered_only_when_there_are_some(console: Console, ledger: LedgerProcess) -> None:
    api = Api(ledger, console.key)
    more = [decision(100 + n, policy_id="credit_policy", policy_version="4.2") for n in range(47)]
    assert api.post("/records/batch", json={"records": more}).status_code == 200  # 3 + 47: exactly a page of this policy
    console.sign_in()
    console.page.goto(console.root + "/decisions?policy=credit_policy")
    assert console.page.locator("tbody tr").count() == 50 and console.page.locator("text=Older records").count() == 0
    assert api.post("/records", json=decision(999, policy_id="credit_policy")).status_code == 201
    console.page.goto(console.root + "/decisions?policy=credit_policy")
    console.page.click("text=Older records")
    assert console.page.locator("tbody tr").count() == 1


def test_decisions_are_filtered_by_type_time_and_outcome(console: Console, ledger: LedgerProcess) -> None:
    api = Api(ledger, console.key)
    stored = [decision(200 + n, decision_type="loan", store_payload=True, output={"decision": verdict}) for n, verdict in enumerate(["APPROVED", "DENIED"])]
    assert api.post("/records/batch", json={"records": [*stored, decision(300, decision_type="fraud")]}).status_code == 200
    console.sign_in()
    console.page.fill("#type", "loan")
    console.page.click("text=Filter")
    assert console.page.locator("tbody tr").count() == 2
    console.page.fill("#outcome", "DENIED")
    console.page.click("text=Filter")
    assert console.page.locator("tbody tr").count() == 1 and "stored payloads" in console.page.inner_text("main")
    console.page.goto(console.root + "/decisions?type=loan&since=2000-01-01 00:00")  # a space reads as the T of ISO 8601
    assert console.page.locator("tbody tr").count() == 2
    console.page.goto(console.root + "/decisions?since=2999-01-01")
    assert console.page.locator("tbody tr").count() == 0 and "match these filters" in console.page.inner_text("main")
    console.page.goto(console.root + "/decisions?until=2000-01-01&type=" + "x" * 5000)  # capped, not refused
    assert console.page.locator("text=match these filters").count() == 1
    assert console.problems == []
