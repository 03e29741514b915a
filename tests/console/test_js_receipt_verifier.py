"""The receipt verifier that runs in the auditor's browser (`clients/js`, WebCrypto): its own tests under Node's
test runner, and the Python verifier as its judge. Receipts from a real ledger, each changed in every member one
at a time, must get the same verdict from both, failing at the same step."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api, LedgerProcess, decision
from xase import evidence

JS = Path(__file__).resolve().parents[2] / "clients" / "js"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js 18+ is not installed (Debian: apt-get install nodejs)")


def test_the_module_s_own_tests_pass_under_node() -> None:
    assert NODE is not None
    done = subprocess.run([NODE, "--test", "test/"], cwd=JS, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def _changed(value: Any) -> Iterator[Any]:
    """Other values of the same kind, and one of another kind."""
    if isinstance(value, bool) or value is None:
        yield "x"
    elif isinstance(value, int):
        yield from (value + 1, -1, str(value))
    elif isinstance(value, float):
        yield from (value / 2 + 0.25, None)
    elif isinstance(value, str):
        if len(value) == 64 and all(c in "0123456789abcdef" for c in value):
            yield value[:-1] + ("0" if value[-1] != "0" else "1")
        yield value + "x"
        yield 7
    elif isinstance(value, list):
        yield value[:-1]
        yield [*value, "0" * 64]


def _mutations(receipt: dict[str, Any]) -> Iterator[dict[str, Any]]:
    def walk(node: Any, path: list[Any]) -> Iterator[list[Any]]:
        if isinstance(node, dict):
            for key, item in node.items():
                yield from walk(item, [*path, key])
        elif isinstance(node, list) and node and isinstance(node[0], str):
            yield path
            for index in range(len(node)):
                yield [*path, index]
        else:
            yield path

    for path in walk(receipt, []):
        parent = receipt
        for part in path[:-1]:
            parent = parent[part]
        for other in _changed(parent[path[-1]]):
            changed = copy.deepcopy(receipt)
            target = changed
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = other
            yield changed
        removed = copy.deepcopy(receipt)
        target = removed
        for part in path[:-1]:
            target = target[part]
        if isinstance(target, dict):
            del target[path[-1]]
            yield removed


def _with_tlog(api: Api, transaction_id: str) -> dict[str, Any]:
    """The receipt once a signed checkpoint covers its record (within XASE_CHECKPOINT_INTERVAL)."""
    deadline = time.monotonic() + 30
    while True:
        receipt: dict[str, Any] = api.get(f"/receipts/{transaction_id}").json()
        if "tlog" in receipt or time.monotonic() > deadline:
            assert "tlog" in receipt, "no checkpoint covered the record in 30 s"
            return receipt
        time.sleep(0.2)


def _python_verdict(receipt: dict[str, Any], pinned: list[str] | None) -> str:
    try:
        evidence.verify_receipt(receipt, trusted_keys=pinned)
    except evidence.VerificationError as failure:
        return failure.step
    return "ok"


def test_the_browser_verifier_agrees_with_xase_verify_on_every_change(ledger: LedgerProcess, tmp_path: Path) -> None:
    api = Api(ledger, ledger.new_api_key())
    first = api.post("/records", json=decision(0)).json()["transaction_id"]
    batch = api.post("/records/batch", json={"records": [decision(n, confidence=n / 10) for n in range(1, 6)]}).json()["results"]
    receipts = []
    for transaction_id in (first, batch[0]["transaction_id"], batch[3]["transaction_id"]):
        receipts.append(_with_tlog(api, transaction_id))
    receipts.append({key: value for key, value in receipts[1].items() if key != "tlog"})  # format v1: no log member
    pinned = [receipts[0]["public_key"]["key_id"]]
    cases = [case for receipt in receipts for case in [receipt, *_mutations(receipt)]]
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    script = ("import { verifyReceipt } from " + json.dumps((JS / "lib" / "evidence.js").as_uri()) + ";"
              "import { readFileSync } from 'node:fs';"
              "const cases = JSON.parse(readFileSync(process.argv[1]));"
              "const out = [];"
              "for (const c of cases) for (const pin of [" + json.dumps(pinned) + ", undefined]) {"
              "  const r = await verifyReceipt(c, { trustedKeyIds: pin }); out.push(r.ok ? 'ok' : r.step); }"
              "console.log(JSON.stringify(out));")  # fmt: skip
    assert NODE is not None
    done = subprocess.run([NODE, "--input-type=module", "-e", script, str(tmp_path / "cases.json")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    browser = json.loads(done.stdout)
    python = [_python_verdict(case, pin) for case in cases for pin in (pinned, None)]  # pinned, then the receipt's own keys
    assert len(cases) > 150 and python[:1] == ["ok"] and python.count("ok") < len(cases) / 10
    differ = [(python[i], browser[i], json.dumps(cases[i // 2])[-400:]) for i in range(len(python)) if python[i] != browser[i]]
    assert not differ, differ[:5]
