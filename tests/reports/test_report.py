"""The auditor's report: built by a real ledger from a small history (versions, a policy change, overrides under a
two-person rule, an erasure), fetched with `xase report`, re-derived by `xase verify --report` from the export
bundle, refused after any edit, and read as a person would: rendered by headless Chromium to a screenshot and a PDF."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api, LedgerProcess, decision
from xase import XaseClient, cli

HOSTILE_POLICY = "scoring<script>alert(1)</script>"


@pytest.fixture(scope="module")
def history(ledger: LedgerProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A month of a small credit system, then `xase report` on it; the files it wrote, and the key used."""
    key = ledger.new_api_key(scopes=["records:write", "records:read", "payloads:erase"])
    api = Api(ledger, key)
    client = XaseClient(api_key=key, base_url=ledger.base_url, fire_and_forget=False)
    client.set_oversight_rule("credit_policy", two_person=True)
    txs = []
    for n in range(12):
        version = "4.1" if n < 6 else "4.2"  # a policy change half way
        answer = api.post("/records", json=decision(n, policy_id="credit_policy", policy_version=version, confidence=(n % 10) / 10, store_payload=n == 0))
        txs.append(answer.json()["transaction_id"])
    api.post("/records", json=decision(99, policy_id=HOSTILE_POLICY))  # no version: the versioned check fails, and the name is hostile
    held = client.record_oversight(txs[3], "override", "officer-7", "income verified by phone")
    client.record_oversight(txs[3], "confirm", "officer-9", "documents checked", confirms=held["event_id"])
    client.erase_payload(txs[0], reason="data subject request")
    out = tmp_path_factory.mktemp("report")
    code = cli.main(["report", "--since", "2000-01-01T00:00:00Z", "--out", str(out), "--api-key", key, "--base-url", ledger.base_url])
    assert code == 0
    return {"out": out, "key": key, "api": api}


def _verify(out: Path, report: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(["verify", str(out / "evidence.jsonl"), "--report", str(report)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_report_checks_the_evidence_against_the_articles(history: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    report = json.loads((history["out"] / "report.json").read_text())
    verdicts = {check["id"]: check["verdict"] for check in report["checks"]}
    assert len(verdicts) >= 12 and all(check["article"] for check in report["checks"])
    assert verdicts["chain"] == verdicts["log"] == verdicts["two_person"] == verdicts["oversight_linked"] == "pass"
    assert verdicts["erasures"] == verdicts["retention"] == verdicts["signing_keys"] == verdicts["policy_changes"] == "pass"
    assert verdicts["versioned"] == "fail" and verdicts["witnessed"] == "not_applicable"
    by_id = {check["id"]: check for check in report["checks"]}
    assert by_id["policy_changes"]["evidence"]["policies_changed"] == ["credit_policy"]
    assert by_id["oversight_per_policy"]["evidence"]["per_policy"] == {"credit_policy": {"confirm": 1, "override": 1}}
    assert sum(report["statistics"]["decisions_by_week"]["credit_policy"].values()) == 12
    code, out, err = _verify(history["out"], history["out"] / "report.json", capsys)
    assert code == 0 and "report verified" in out and "1 failing ['versioned']" in out, (out, err)


@pytest.mark.parametrize(
    "edit",
    [
        lambda r: r["statistics"]["decisions_by_week"]["credit_policy"].update(
            {k: v + 1 for k, v in r["statistics"]["decisions_by_week"]["credit_policy"].items()}
        ),
        lambda r: next(c for c in r["checks"] if c["id"] == "versioned").update(verdict="pass"),
        lambda r: next(c for c in r["checks"] if c["id"] == "two_person")["evidence"].update(held=0),
        lambda r: r["inputs"]["facts"].update(retention_days=3650),
        lambda r: r.update(generated_at="2020-01-01T00:00:00Z"),
    ],
    ids=["a count", "a verdict", "a check's figure", "a stated fact", "the date"],
)
def test_any_edit_of_the_report_fails_verification(history: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: Any) -> None:
    report = json.loads((history["out"] / "report.json").read_text())
    edit(report)
    edited = tmp_path / "report.json"
    edited.write_text(json.dumps(report))
    code, _, err = _verify(history["out"], edited, capsys)
    assert code == 1 and "report FAILED" in err, err


def test_the_page_is_self_contained_and_escapes_what_clients_named(history: dict[str, Any]) -> None:
    page = (history["out"] / "report.html").read_text()
    for heading in ("Evidence report", "Verdicts", "Post-market monitoring", "What each verdict rests on", "Inputs and how to check this report"):
        assert heading in page
    assert page.count("<svg") == 2 and "<script" not in page.lower() and HOSTILE_POLICY not in page
    assert not re.search(r'src=|<link|@import|url\((?!#)|href="(?!#)', page), "the page loads nothing from elsewhere"


@pytest.mark.parametrize("ledger", ["sqlite"], indirect=True)  # the page, not the database, is under test
def test_a_person_sees_it_in_chromium_and_can_print_it(history: dict[str, Any], tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")
    page = (history["out"] / "report.html").resolve()
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}"]
    shot = subprocess.run([*common, f"--screenshot={tmp_path / 'report.png'}", "--window-size=1280,2400", page.as_uri()],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert (tmp_path / "report.png").stat().st_size > 20_000, shot.stderr[-2000:]
    printed = subprocess.run([*common, f"--print-to-pdf={tmp_path / 'report.pdf'}", "--no-pdf-header-footer", page.as_uri()],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    pdf = (tmp_path / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000, printed.stderr[-2000:]
    dom = subprocess.run([*common, "--dump-dom", "--enable-logging=stderr", "--v=0", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert "Verdicts" in dom.stdout and dom.stdout.count("<svg") == 2 and "FAIL" in dom.stdout
    assert "Uncaught" not in dom.stderr and "CONSOLE" not in dom.stderr, dom.stderr[-2000:]


@pytest.mark.parametrize("ledger", ["sqlite"], indirect=True)  # both backends build reports in the tests above
def test_the_month_example_runs_as_written_and_its_report_verifies(ledger: LedgerProcess, tmp_path: Path) -> None:
    import os
    import sys

    lender = "lender-" + os.urandom(3).hex()
    env = {**os.environ, "XASE_BASE_URL": ledger.base_url,
           "XASE_API_KEY": ledger.new_api_key(tenant=lender, scopes=["records:write", "records:read", "payloads:erase", "sessions"]),
           "XASE_HOLDER_API_KEY": ledger.new_api_key(scopes=["sessions"]), "XASE_CONSUMER_TENANT": lender}  # fmt: skip
    script = Path(__file__).resolve().parents[2] / "examples" / "eu_ai_act_month.py"
    done = subprocess.run([sys.executable, str(script), "--out", str(tmp_path / "report")], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "report verified" in done.stdout, done.stdout
    verdicts = {check["id"]: check["verdict"] for check in json.loads((tmp_path / "report" / "report.json").read_text())["checks"]}
    assert verdicts["data_provenance"] == verdicts["two_person"] == verdicts["erasures"] == verdicts["policy_changes"] == "pass", verdicts
