"""The data holder's side, from the SDK (`xase.Client(...).datasets`) and the `xase` CLI, against a real ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import xase
from tests.conftest import LedgerProcess


def _records(count: int, start: int = 0) -> list[dict[str, object]]:
    return [{"record_id": f"p{n:05d}", "age": 20 + n % 70, "diagnosis": ["asthma", "copd"][n % 2]} for n in range(start, start + count)]


def _jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


class Parties:
    def __init__(self, ledger: LedgerProcess) -> None:
        self.consumer_tenant = "lab-" + os.urandom(4).hex()
        self.holder_key = ledger.new_api_key(scopes=["sessions"])
        self.consumer_key = ledger.new_api_key(self.consumer_tenant, scopes=["sessions"])
        self.holder = xase.Client(api_key=self.holder_key, base_url=ledger.base_url)
        self.consumer = xase.Client(api_key=self.consumer_key, base_url=ledger.base_url)


@pytest.fixture
def parties(ledger: LedgerProcess) -> Iterator[Parties]:
    both = Parties(ledger)
    yield both
    both.holder.close()
    both.consumer.close()


def test_the_holder_workflow_end_to_end(parties: Parties) -> None:
    dataset = parties.holder.datasets.create("cardio-2024", description="synthetic")
    seen: list[tuple[int, int | None]] = []
    summary = dataset.upload(_records(3500), batch_size=1000, progress=lambda done, total: seen.append((done, total)))
    assert (summary.inserted, summary.already_stored, summary.requests) == (3500, 0, 4)
    assert seen == [(1000, 3500), (2000, 3500), (3000, 3500), (3500, 3500)]
    assert parties.holder.datasets.get("cardio-2024").record_count == 3500
    assert [entry["field"] for entry in dataset.index(["age"])] == ["age"]

    grant = dataset.grant(parties.consumer_tenant, purposes=["model-training"], max_duration="1d")
    offered = parties.consumer.grants()
    assert [(g["id"], g["dataset"]) for g in offered] == [(grant["id"], "cardio-2024")]
    with parties.consumer.access(dataset.id, purpose="model-training", duration="1h") as session:
        batches = [batch.record_ids for _, batch in zip(range(3), session.stream(batch_size=10))]
        session.record_operation("TRAIN", records=batches[0])

    log = list(dataset.accesses(page_size=2))  # every page
    assert len(log) >= 5 and [a["accessed_at"] for a in log] == sorted((a["accessed_at"] for a in log), reverse=True)
    assert {a["tenant_id"] for a in log} == {offered[0]["grantee_tenant_id"]}
    for access in log:
        xase.verify_receipt(access["receipt"])
    assert len(list(dataset.accesses(session_id=session.session_id, receipts=False))) == len(log)

    live = parties.consumer.access(dataset.id, purpose="model-training", duration="1h")
    revoked = dataset.revoke(grant["id"], reason="study ended", revoked_by="dpo@example.com")
    assert revoked["revoked_sessions"] == [live.session_id] and dataset.grants()[0]["revoked_at"]
    with pytest.raises(xase.AccessRevokedError):
        next(iter(live.stream()))


def test_a_jsonl_file_is_checked_whole_before_anything_is_sent(parties: Parties, tmp_path: Path) -> None:
    dataset = parties.holder.datasets.create("checked")
    path = _jsonl(tmp_path / "bad.jsonl", _records(50))
    with path.open("a") as handle:
        handle.write('{"record_id": "x", "age": NaN}\n')
    with pytest.raises(xase.ValidationError) as refused:
        dataset.upload(path, batch_size=10)
    assert refused.value.details == {"line": 51} and "bad.jsonl:51" in refused.value.message
    assert dataset.refresh().record_count == 0


def test_a_failed_upload_says_what_was_stored_and_runs_again_to_resume(parties: Parties, tmp_path: Path) -> None:
    dataset = parties.holder.datasets.create("resumable")
    dataset.upload(_records(1))  # p00000 with its content
    records = _records(40, start=1)
    records[29] = {"record_id": "p00000", "age": 99}  # line 30: an id the dataset holds with other content
    with pytest.raises(xase.XaseError) as refused:
        dataset.upload(_jsonl(tmp_path / "part.jsonl", records), batch_size=10)
    assert refused.value.code == "CONFLICT" and refused.value.details["stored_before"] == 20
    records[29] = {"record_id": "p00030", "age": 50}
    resumed = dataset.upload(_jsonl(tmp_path / "fixed.jsonl", records), batch_size=10)
    assert (resumed.inserted, resumed.already_stored) == (20, 20) and dataset.refresh().record_count == 41


def test_a_record_the_ledger_refuses_is_located_by_its_line(parties: Parties) -> None:
    dataset = parties.holder.datasets.create("located")
    records = _records(25)
    records[22] = {"record_id": "bad id with spaces"}
    with pytest.raises(xase.XaseError) as refused:
        dataset.upload(records, batch_size=10)
    assert refused.value.code == "VALIDATION_ERROR" and refused.value.details["line"] == 23 and refused.value.details["stored_before"] == 20


def test_a_consumer_declines_a_grant(parties: Parties) -> None:
    dataset = parties.holder.datasets.create("unwanted")
    dataset.upload(_records(3))
    grant = dataset.grant(parties.consumer_tenant, purposes=["research"])
    assert parties.consumer.decline_grant(grant["id"])["declined_at"]
    with pytest.raises(xase.XaseError) as refused:
        parties.consumer.access(dataset.id, purpose="research")
    assert refused.value.status_code in (403, 404)


def test_progress_true_draws_a_bar_on_stderr(parties: Parties, capsys: pytest.CaptureFixture[str]) -> None:
    parties.holder.datasets.create("barred").upload(_records(30), batch_size=10, progress=True)
    assert "30/30" in capsys.readouterr().err


def _xase(ledger: LedgerProcess, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XASE_API_KEY": key, "XASE_BASE_URL": ledger.base_url}
    return subprocess.run([sys.executable, "-m", "xase.cli", *args], env=env, capture_output=True, text=True, timeout=120)


def test_the_cli_runs_the_holder_workflow(ledger: LedgerProcess, parties: Parties, tmp_path: Path) -> None:
    holder = parties.holder_key
    created = _xase(ledger, holder, "datasets", "create", "cli-data", "--description", "from the shell")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["name"] == "cli-data"
    uploaded = _xase(ledger, holder, "datasets", "upload", "cli-data", str(_jsonl(tmp_path / "r.jsonl", _records(120))), "--batch-size", "50")
    assert uploaded.returncode == 0 and "120 records stored, 0 already there, in 3 requests" in uploaded.stdout
    assert "120/120" in uploaded.stderr  # the progress bar
    indexed = _xase(ledger, holder, "datasets", "index", "cli-data", "age", "patient_id")
    assert indexed.returncode == 0 and [entry["field"] for entry in json.loads(indexed.stdout)] == ["age", "patient_id"]
    granted = _xase(ledger, holder, "datasets", "grant", "cli-data", parties.consumer_tenant, "--purpose", "research", "--max-duration", "2h")
    grant_id = json.loads(granted.stdout)["id"]
    assert json.loads(_xase(ledger, parties.consumer_key, "grants").stdout)[0]["id"] == grant_id

    parties.consumer.access("cli-data", purpose="research").close()
    log = _xase(ledger, holder, "datasets", "accesses", "cli-data", "--no-receipts").stdout.splitlines()
    assert [json.loads(line)["action"] for line in log] == ["close", "session_open"]

    revoked = _xase(ledger, holder, "datasets", "revoke", "cli-data", grant_id, "--reason", "done", "--by", "dpo")
    assert revoked.returncode == 0 and json.loads(revoked.stdout)["revoked_at"]
    shown = json.loads(_xase(ledger, holder, "datasets", "show", "cli-data").stdout)
    assert shown["record_count"] == 120


def test_cli_failures_exit_nonzero_with_the_ledgers_error(ledger: LedgerProcess, parties: Parties, tmp_path: Path) -> None:
    missing = _xase(ledger, parties.holder_key, "datasets", "show", "no-such-dataset")
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr and missing.stdout == ""
    _xase(ledger, parties.holder_key, "datasets", "create", "cli-bad")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"record_id": "a"}\n[1, 2]\n')
    refused = _xase(ledger, parties.holder_key, "datasets", "upload", "cli-bad", str(bad))
    assert refused.returncode == 2 and "bad.jsonl:2: each line must be a JSON object" in refused.stderr
    forged = _xase(ledger, parties.holder_key, "datasets", "create", "evil\x1b[2Jname")
    assert forged.returncode == 2 and "VALIDATION_ERROR: name:" in forged.stderr and "\x1b" not in forged.stderr
