"""The console's agent contexts in a real browser: the list with its tag filter and search, a forked conversation
drawn as a DAG (SVG) with links between the branches, typed and raw turns, paging, the head's seal and the chain
record that sealed it, and the history verified in the browser (BLAKE3 and turn hashes recomputed there): a turn
changed on its way to the browser fails at the step `xase verify` names."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import LedgerProcess
from tests.console.harness import Console, needs_chromium

pytestmark = [needs_chromium, pytest.mark.parametrize("ledger", ["sqlite"], indirect=True)]
HOSTILE = "<img src=x onerror=document.title=1>"  # no quotes: the turns are shown as JSON
SCOPES = ["records:read", "records:write", "contexts"]


class Cxdb:
    def __init__(self, ledger: LedgerProcess, key: str) -> None:
        self.base, self.session = ledger.base_url.split("/api/")[0] + "/cxdb/v1", requests.Session()
        self.session.headers["X-API-Key"] = key

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.session.post(self.base + path, json=body, timeout=30)
        assert answer.status_code in (200, 201), answer.text
        return answer.json()  # type: ignore[no-any-return]

    def say(self, context_id: str, text: str) -> dict[str, Any]:
        return self.post(f"/contexts/{context_id}/append", {"type_id": "com.example.Message", "type_version": 1, "data": {"role": "user", "text": text}})


@pytest.fixture
def conversation(browser: Any, ledger: LedgerProcess, tmp_path: Path) -> Iterator[tuple[Console, Cxdb, dict[str, Any]]]:
    key = ledger.new_api_key(scopes=SCOPES)
    cxdb = Cxdb(ledger, key)
    main = cxdb.post("/contexts/create", {"tag": "support-bot"})
    turns = [cxdb.say(main["context_id"], text) for text in ("Hello", HOSTILE, "What is my balance?")]
    branch = cxdb.post("/contexts/fork", {"base_turn_id": turns[1]["turn_id"], "tag": HOSTILE})
    cxdb.say(branch["context_id"], "A different question")
    ledger.cli("seal-contexts")
    console = Console(browser, ledger, key, tmp_path)
    console.sign_in()
    yield console, cxdb, {"main": main, "branch": branch, "turns": turns}
    console.close()


def test_the_list_filters_by_tag_and_searches(conversation: tuple[Console, Cxdb, dict[str, Any]]) -> None:
    console, _, made = conversation
    console.page.click("text=Agent contexts")
    console.page.wait_for_selector("#contexts tbody tr")
    assert console.page.locator("#contexts tbody tr").count() == 2
    assert HOSTILE in console.page.inner_text("#contexts") and console.page.title() != "1"
    console.shot("contexts")
    console.page.fill("#tag", "support-bot")
    console.page.click("text=Show")
    console.page.locator("#summary", has_text="1 context tagged support-bot").wait_for()
    assert console.page.locator("#contexts tbody tr").count() == 1
    console.page.goto(console.root + "/contexts?q=" + made["branch"]["context_id"])
    console.page.wait_for_url(console.root + "/contexts/" + made["branch"]["context_id"])
    assert console.problems == []


def test_a_forked_conversation_is_drawn_with_its_branches_and_its_seal(conversation: tuple[Console, Cxdb, dict[str, Any]]) -> None:
    console, _, made = conversation
    main, branch = made["main"]["context_id"], made["branch"]["context_id"]
    console.page.goto(f"{console.root}/contexts/{main}")
    console.page.wait_for_selector("svg.dag")
    assert console.page.locator("#turns tbody tr").count() == 3
    assert HOSTILE in console.page.inner_text("#turns") and console.page.title() != "1"
    assert "sealed in the evidence chain by record" in console.page.inner_text("main")
    fork_link = console.page.locator(f'svg.dag a[href="/console/contexts/{branch}"]')
    assert fork_link.count() == 1 and "depth 3" in fork_link.text_content()
    console.shot("context-dag")
    console.page.select_option("#view", "raw")
    console.page.locator("#turns", has_text="content_hash_b3").wait_for()
    fork_link.click()
    console.page.wait_for_url(f"{console.root}/contexts/{branch}")
    console.page.wait_for_selector("svg.dag")
    assert f"forked from context {main} here" in console.page.inner_text("#dag")
    console.page.click("a:has-text('cxs_')")  # the seal's record: a decision page whose receipt the browser verifies
    console.page.wait_for_selector("#verdict.ok")
    assert console.problems == []


def test_a_history_is_verified_in_the_browser_and_a_changed_turn_fails(conversation: tuple[Console, Cxdb, dict[str, Any]]) -> None:
    console, _, made = conversation
    main = made["main"]["context_id"]
    console.page.goto(f"{console.root}/contexts/{main}")
    console.page.wait_for_selector("svg.dag")
    console.page.click("#verify")
    console.page.wait_for_selector("#verdict.ok")
    assert "3 turn(s) from depth 1" in console.page.inner_text("#verdict")
    console.page.fill("#turn", made["turns"][1]["turn_id"])
    console.page.click("#verify")
    console.page.locator("#verdict", has_text="2 turn(s) from depth 1").wait_for()

    def one_byte_changed(route: Any) -> None:  # what a ledger (or a proxy) that rewrote a turn would answer
        answer = route.fetch()
        page = answer.json()
        if page["turns"] and page["turns"][0]["depth"] == 1:
            raw = bytearray(base64.b64decode(page["turns"][0]["bytes_b64"]))
            raw[-1] ^= 1
            page["turns"][0]["bytes_b64"] = base64.b64encode(bytes(raw)).decode()
        route.fulfill(response=answer, body=json.dumps(page))

    console.page.route("**/console/api/cxdb/v1/contexts/*/turns*", one_byte_changed)
    console.page.fill("#turn", "")
    console.page.click("#verify")
    console.page.wait_for_selector("#verdict.failed")
    assert f"FAILED at turn {made['turns'][0]['turn_id']}, step content_hash_b3" in console.page.inner_text("#verdict")
    console.shot("context-tampered")
    assert console.problems == []


def test_the_bridge_reads_for_the_session_only(conversation: tuple[Console, Cxdb, dict[str, Any]], ledger: LedgerProcess) -> None:
    console, _, made = conversation
    root = f"http://127.0.0.1:{ledger.port}/console/api"
    assert requests.get(root + "/cxdb/v1/contexts", timeout=10).status_code == 401  # no session
    request = console.context.request
    assert request.get(root + "/cxdb/v1/contexts").json()["total"] == 2
    assert request.get(root + "/cxdb/v1/contexts/" + made["main"]["context_id"]).status == 200
    assert request.post(root + "/cxdb/v1/contexts/create", data="{}").status == 405  # reads only
    assert request.get(root + "/admin/tenants").status == 404  # only the API's paths
    assert request.get(root + "/api/xase/v1/records").status == 200


def test_health_shows_the_counts_and_a_live_feed(conversation: tuple[Console, Cxdb, dict[str, Any]], ledger: LedgerProcess) -> None:
    console, cxdb, made = conversation
    console.page.click("text=Health")
    console.page.locator("#feed", has_text="cxs_").wait_for()  # the seal record, from the chain's last ten
    console.page.locator("#latency", has_text="p99").wait_for()  # (the figures arrive in parallel with the feed)
    console.page.locator("#turns", has_text="4").wait_for()
    assert console.page.inner_text("#contexts") == "2" and console.page.inner_text("#rate").split()[0].isdigit()
    key = console.key
    answer = requests.post(f"{ledger.base_url}/records", json={"policy_id": HOSTILE, "transaction_id": "live_1", "input": {}, "output": {}},
                           headers={"X-API-Key": key}, timeout=10)  # fmt: skip
    assert answer.status_code == 201, answer.text
    cxdb.say(made["branch"]["context_id"], "later")
    console.page.locator("#feed", has_text="live_1").wait_for(timeout=15_000)
    console.page.locator("#feed", has_text=f"context {made['branch']['context_id']} → turn").wait_for(timeout=15_000)
    assert HOSTILE in console.page.inner_text("#feed") and console.page.title() != "1"
    console.shot("health")
    assert console.problems == []
