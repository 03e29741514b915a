"""A large upload never holds up another tenant's appends (issue 12), and is capped before it is parsed."""

from __future__ import annotations

import json
import threading
import time

from tests.conftest import Api, LedgerProcess, decision


def test_another_tenant_appends_throughout_a_large_upload(ledger: LedgerProcess) -> None:
    holder = Api(ledger, ledger.new_api_key(scopes=["sessions"]))
    other = Api(ledger, ledger.new_api_key())
    dataset = holder.post("/datasets", json={"name": "large"}).json()
    lines = "\n".join(json.dumps({"patient": f"p{n}", "age": n % 90, "dx": "diabetes"}) for n in range(30_000)).encode()
    appended: list[tuple[float, int]] = []
    done = threading.Event()

    def append_until_done() -> None:
        batch = 0
        while not done.is_set():
            response = other.post("/records/batch", json={"records": [decision(batch * 10 + i) for i in range(10)]})
            appended.append((time.monotonic(), response.status_code))
            batch += 1

    appender = threading.Thread(target=append_until_done)
    appender.start()
    started = time.monotonic()
    upload = holder.post(f"/datasets/{dataset['id']}/records", data=lines, headers={"Content-Type": "application/x-ndjson"})
    ended = time.monotonic()
    done.set()
    appender.join()
    assert upload.status_code == 201 and upload.json()["inserted"] == 30_000, upload.text
    assert {status for _at, status in appended} == {200}
    assert sum(started < at < ended for at, _status in appended) >= 2  # appends completed while the upload ran
    assert holder.get(f"/datasets/{dataset['id']}").json()["record_count"] == 30_000
    assert other.get("/verify").json()["ok"] is True


def test_an_upload_beyond_the_cap_is_refused_before_parsing(api: Api) -> None:
    holder = Api(api.ledger, api.ledger.new_api_key(scopes=["sessions"]))
    dataset = holder.post("/datasets", json={"name": "capped"}).json()
    lines = b"{}\n" * 100_001
    response = holder.post(f"/datasets/{dataset['id']}/records", data=lines, headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 400 and response.json()["error"]["details"] == {"cap": "max_upload_records", "limit": 100_000}
    assert holder.get(f"/datasets/{dataset['id']}").json()["record_count"] == 0
