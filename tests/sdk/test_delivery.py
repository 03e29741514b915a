"""XaseClient against a real ledger process on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api, LedgerProcess
from xase import XaseClient, XaseError, evidence
from xase._payload import QueuedRecord, snapshot, wire_item


@pytest.fixture
def tenant(ledger: LedgerProcess) -> Api:
    return Api(ledger, ledger.new_api_key())


@pytest.fixture
def client(tenant: Api) -> Iterator[XaseClient]:
    client = XaseClient(api_key=tenant.key, base_url=tenant.ledger.base_url, flush_interval=0.05)
    yield client
    client.close()


def loan(n: int, **extra: Any) -> dict[str, Any]:
    return {"policy": "credit_policy_v4", "input": {"user_id": f"u_{n}", "amount": 1000 * n}, "output": {"decision": "APPROVED"},
            "confidence": 0.94, "transaction_id": f"loan_{n}", **extra}  # fmt: skip


def test_records_are_delivered_in_order_and_chained(tenant: Api) -> None:
    client = XaseClient(api_key=tenant.key, base_url=tenant.ledger.base_url, flush_interval=0.05, batch_size=100)
    for n in range(250):
        assert client.record(loan(n)) is None
    client.flush(10)
    client.close()
    stats = client.get_stats()
    assert (stats["sent"], stats["failed"], stats["dropped"], stats["size"], stats["in_flight"]) == (250, 0, 0, 0, 0)
    assert stats["batches"] >= 3
    records = tenant.get("/records", params={"limit": 1000}).json()["records"]
    assert [r["transaction_id"] for r in records] == [f"loan_{n}" for n in range(250)]
    assert tenant.get("/verify").json()["ok"] is True


def test_raw_payload_never_leaves_the_process_but_commitments_match(client: XaseClient, tenant: Api) -> None:
    payload = loan(1, context={"channel": "web"})
    client.record(payload)
    client.flush(10)
    stored = tenant.get("/records/loan_1").json()
    assert stored["payload"] is None
    assert stored["record"]["input_hash"] == evidence.commitment(payload["input"])
    assert stored["context"]["channel"] == "web" and stored["context"]["runtime"]["pid"] == os.getpid()
    receipt = tenant.get("/receipts/loan_1").json()
    evidence.verify_receipt(receipt, input=payload["input"], output=payload["output"], context=stored["context"])


def test_mutating_the_payload_after_record_does_not_change_the_evidence(client: XaseClient, tenant: Api) -> None:
    payload = loan(2)
    client.record(payload)
    payload["input"]["amount"] = 999_999_999
    client.flush(10)
    assert tenant.get("/records/loan_2").json()["record"]["input_hash"] == evidence.commitment({"user_id": "u_2", "amount": 2000})


def test_replaying_the_same_records_adds_nothing(client: XaseClient, tenant: Api) -> None:
    for _ in range(3):
        for n in range(20):
            client.record(loan(n))
        client.flush(10)
    assert client.get_stats()["sent"] == 60
    assert tenant.get("/stats").json()["records"] == 20


def test_lost_response_retry_creates_no_duplicate(tenant: Api) -> None:
    """The ledger committed, the answer was lost, the SDK retries the same keys: one record each."""
    client = XaseClient(api_key=tenant.key, base_url=tenant.ledger.base_url)
    items = [wire_item(QueuedRecord(snapshot({"policy": "p", "input": {"n": n}, "output": {}})), None, None) for n in range(5)]
    first = client._transport.send_batch(items)
    again = client._transport.send_batch(items)  # what a retry after a timeout sends
    assert [r["record_hash"] for r in first] == [r["record_hash"] for r in again]  # type: ignore[index]
    assert tenant.get("/stats").json()["records"] == 5
    client.close()


def test_synchronous_mode_returns_the_record_result(tenant: Api) -> None:
    with XaseClient({"api_key": tenant.key, "base_url": tenant.ledger.base_url, "fire_and_forget": False}) as client:
        result = client.record(loan(7))
        assert result is not None and result["transaction_id"] == "loan_7" and result["chain_position"] == "genesis"
        assert result["receipt_url"].endswith("/receipts/loan_7")
        assert client.get_stats()["sent"] == 1


def test_skip_queue_and_errors_raise_in_synchronous_mode(client: XaseClient, tenant: Api) -> None:
    assert client.record(loan(1), skip_queue=True)["seq"] == 0  # type: ignore[index]
    with pytest.raises(XaseError) as caught:
        client.record(loan(1, output={"decision": "DENIED"}), skip_queue=True)
    assert caught.value.code == "IDEMPOTENCY_CONFLICT" and caught.value.status_code == 409


def test_callbacks_run_on_the_worker_thread(tenant: Api) -> None:
    seen: list[tuple[str, str]] = []
    client = XaseClient(
        api_key=tenant.key, base_url=tenant.ledger.base_url,
        on_success=lambda result: seen.append(("ok", threading.current_thread().name)),
        on_error=lambda error: seen.append((error.code, threading.current_thread().name)),
    )  # fmt: skip
    client.record(loan(1))
    client.record(loan(1, output={"decision": "DENIED"}))  # same transaction id, different decision
    client.flush(10)
    client.close()
    assert seen == [("ok", "xase-worker"), ("IDEMPOTENCY_CONFLICT", "xase-worker")]
    assert client.get_stats()["failed"] == 1


def test_wrong_api_key_is_reported_not_retried(ledger: LedgerProcess) -> None:
    errors: list[XaseError] = []
    client = XaseClient(api_key="xase_pk_wrong", base_url=ledger.base_url, on_error=errors.append)
    client.record(loan(1))
    client.flush(10)
    client.close()
    assert [e.code for e in errors] == ["UNAUTHORIZED"] and client.get_stats()["retries"] == 0


def test_full_queue_drops_new_records_and_reports_them(tenant: Api) -> None:
    errors: list[XaseError] = []
    client = XaseClient(api_key=tenant.key, base_url=tenant.ledger.base_url, queue_max_size=5, batch_size=5, on_error=errors.append)
    client._worker.ensure_started = lambda: None  # type: ignore[method-assign]  # hold the queue still
    for n in range(8):
        client.record(loan(n))
    assert client.get_stats()["dropped"] == 3 and client.get_stats()["size"] == 5
    del client._worker.ensure_started
    client.flush(10)
    client.close()
    assert [(e.code, e.details["dropped"]) for e in errors] == [("QUEUE_FULL", 3)]
    assert tenant.get("/stats").json()["records"] == 5


def test_many_threads_record_concurrently(client: XaseClient, tenant: Api) -> None:
    def work(thread: int) -> None:
        for n in range(100):
            client.record(loan(thread * 1000 + n))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.flush(30)
    assert client.get_stats()["sent"] == 800 and tenant.get("/stats").json()["records"] == 800


def test_flush_timeout_raises_and_close_does_not_wait_for_backoff(ledger: LedgerProcess) -> None:
    client = XaseClient(api_key="xase_pk_x", base_url="http://127.0.0.1:9/api/xase/v1", max_retries=100, retry_backoff=3600, retry_backoff_max=3600)
    client.record(loan(1))
    with pytest.raises(XaseError) as caught:
        client.flush(0.3)
    assert caught.value.code == "FLUSH_TIMEOUT" and caught.value.details["pending"] == 1
    closing = threading.Thread(target=client.close, kwargs={"timeout_s": 0.2})
    closing.start()
    closing.join(60)  # a hang guard, sixty times shorter than the backoff close must not wait out
    assert not closing.is_alive()


def _run(code: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    ("count", "pause"),
    [(1, 0.0), (30, 0.05), (30, 0.0)],
    ids=["one record", "records then a pause", "a burst"],
)
def test_atexit_delivers_what_was_recorded_with_sdk_defaults(tenant: Api, count: int, pause: float) -> None:
    """Default flush_interval: the worker may be holding the records, waiting to fill a batch, when the interpreter exits."""
    done = _run(
        """
        import os, time
        from xase import XaseClient
        xase = XaseClient(api_key=os.environ["KEY"], base_url=os.environ["URL"])
        for n in range(int(os.environ["COUNT"])):
            xase.record({"policy": "p", "input": {"n": n}, "output": {}, "transaction_id": f"exit_{n}"})
        time.sleep(float(os.environ["PAUSE"]))
        """,
        {"KEY": tenant.key, "URL": tenant.ledger.base_url, "COUNT": str(count), "PAUSE": str(pause)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert tenant.get("/stats").json()["records"] == count


def test_exit_with_a_dead_ledger_is_bounded_and_reports_the_loss() -> None:
    done = _run(  # _run's 60 s timeout is the hang guard: unbounded, 50 retries of up to 600 s each would exceed it
        """
        from xase import XaseClient
        xase = XaseClient(api_key="xase_pk_x", base_url="http://127.0.0.1:9/api/xase/v1", atexit_timeout=1.0,
                          max_retries=50, retry_backoff=600, retry_backoff_max=600)
        for n in range(10):
            xase.record({"policy": "p", "input": {"n": n}, "output": {}})
        """,
        {},
    )  # fmt: skip
    assert done.returncode == 0
    assert "10 record(s) not confirmed before exit" in done.stderr


def test_no_signal_handlers_are_installed() -> None:
    done = _run(
        """
        import signal
        before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        from xase import XaseClient
        XaseClient(api_key="xase_pk_x").record({"policy": "p", "input": {}, "output": {}})
        after = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        assert before == after, (before, after)
        """,
        {"XASE_BASE_URL": "http://127.0.0.1:9/api/xase/v1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_delivers_its_own_records_and_the_parent_keeps_its_own(tenant: Api) -> None:
    client = XaseClient(api_key=tenant.key, base_url=tenant.ledger.base_url, flush_interval=0.05)
    client.record(loan(1))
    client.flush(10)  # the worker thread is running before the fork
    client._worker.ensure_started = lambda: None  # type: ignore[method-assign]
    client.record(loan(2))  # queued in the parent, not yet sent
    pid = os.fork()
    if pid == 0:  # the child: a fresh queue and thread, so the parent's record is not sent twice
        try:
            assert client.get_stats()["size"] == 0
            client.record(loan(100))
            client.flush(10)
            os._exit(0 if client.get_stats()["sent"] == 1 else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    del client._worker.ensure_started
    client.flush(10)
    client.close()
    transactions = sorted(r["transaction_id"] for r in tenant.get("/records").json()["records"])
    assert transactions == ["loan_1", "loan_100", "loan_2"]


def test_store_payload_sends_the_raw_payload_for_the_ledger_to_keep(client: XaseClient, tenant: Api) -> None:
    client.record(loan(3, store_payload=True))
    client.flush(10)
    stored = tenant.get("/records/loan_3").json()
    assert stored["payload"]["input"] == loan(3)["input"] and stored["record"]["payload_ref"] is not None


def test_hmac_commitments_verify_for_an_auditor_holding_the_key(tenant: Api) -> None:
    key = b"auditor-shared-commitment-key"
    with XaseClient(api_key=tenant.key, base_url=tenant.ledger.base_url, payload_hmac_key=key) as client:
        client.record(loan(4))
        client.flush(10)
    receipt = tenant.get("/receipts/loan_4").json()
    assert receipt["record"]["commitment"] == "hmac-sha256"
    evidence.verify_receipt(receipt, input=loan(4)["input"], output=loan(4)["output"], hmac_key=key)
    with pytest.raises(evidence.VerificationError):
        evidence.verify_receipt(receipt, input=loan(4)["input"], hmac_key=b"wrong key")


def test_block_policy_waits_for_room_instead_of_dropping(tenant: Api) -> None:
    client = XaseClient(api_key=tenant.key, base_url=tenant.ledger.base_url, queue_max_size=2, batch_size=2,
                        queue_full_policy="block", block_timeout=30)  # fmt: skip
    for n in range(30):
        client.record(loan(n))
    client.flush(30)
    client.close()
    assert client.get_stats()["dropped"] == 0 and tenant.get("/stats").json()["records"] == 30


def _start_child(code: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


_RECORD_THEN_WAIT = """
    import os, signal, sys, time
    from xase import XaseClient
    xase = XaseClient(api_key=os.environ["KEY"], base_url=os.environ["URL"], handle_signals=os.environ["HANDLE"] == "1", atexit_timeout=20)
    for n in range(int(os.environ["COUNT"])):
        xase.record({"policy": "p", "input": {"n": n}, "output": {}, "transaction_id": f"term_{n}"})
    print("recorded", flush=True)
    for _ in range(1200):  # short sleeps: a signal landing just before a long sleep's system call would not end it
        time.sleep(0.1)
"""


@pytest.mark.parametrize("previous", ["default", "python"])
def test_sigterm_with_handle_signals_delivers_what_was_recorded_then_terminates(tenant: Api, previous: str) -> None:
    code = _RECORD_THEN_WAIT
    if previous == "python":  # the application's own handler runs after the flush and decides how to exit
        code = code.replace("from xase import", "signal.signal(signal.SIGTERM, lambda *_: sys.exit(7))\n    from xase import")
    child = _start_child(code, {"KEY": tenant.key, "URL": tenant.ledger.base_url, "HANDLE": "1", "COUNT": "2000"})
    assert child.stdout is not None and child.stdout.readline() == "recorded\n"
    child.send_signal(signal.SIGTERM)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == (-signal.SIGTERM if previous == "default" else 7), stderr
    assert tenant.get("/stats").json()["records"] == 2000


def test_sigterm_without_handle_signals_keeps_the_default_action(tenant: Api) -> None:
    child = _start_child(_RECORD_THEN_WAIT, {"KEY": tenant.key, "URL": tenant.ledger.base_url, "HANDLE": "0", "COUNT": "1"})
    assert child.stdout is not None and child.stdout.readline() == "recorded\n"
    child.send_signal(signal.SIGTERM)
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGTERM


def test_sdk_defaults_lose_nothing_across_a_ledger_restart(tmp_path: Path) -> None:
    """A rolling deploy: the ledger goes away for a few seconds and comes back on the same address."""
    ledger = LedgerProcess(tmp_path).start()
    try:
        tenant = Api(ledger, ledger.new_api_key())
        errors: list[XaseError] = []
        client = XaseClient(api_key=tenant.key, base_url=ledger.base_url, on_error=errors.append)
        for n in range(200):
            client.record(loan(n))
        client.flush(30)
        ledger.stop()
        for n in range(200, 400):  # sent into the outage: every attempt is refused
            client.record(loan(n))
            time.sleep(0.01)
        time.sleep(3)  # longer than the default retries' own budget (about 0.7 s)
        ledger.start(port=ledger.port)
        client.flush(90)
        client.close()
        assert errors == [] and client.get_stats()["failed"] == 0 and client.get_stats()["sent"] == 400
        assert [r["transaction_id"] for r in tenant.all_records()] == [f"loan_{n}" for n in range(400)]
    finally:
        ledger.destroy()


def test_a_rate_limited_record_keeps_the_seeds_error_code_with_default_retries(tmp_path: Path) -> None:
    ledger = LedgerProcess(tmp_path, env={"XASE_RATE_LIMIT": "2 per minute"}).start()
    try:
        client = XaseClient(api_key=ledger.new_api_key(), base_url=ledger.base_url, fire_and_forget=False, retry_backoff_max=0.2)
        client.record(loan(1))
        client.record(loan(2))
        with pytest.raises(XaseError) as caught:
            client.record(loan(3))
        assert caught.value.code == "RATE_LIMIT_EXCEEDED" and caught.value.status_code == 429
        assert caught.value.details["attempts"] == 4 and caught.value.details["limit"] == 2
        client.close()
    finally:
        ledger.destroy()
