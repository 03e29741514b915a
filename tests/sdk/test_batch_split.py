"""A batch the ledger refuses for its size is sent again in parts that fit: nothing fails for the SDK's batch size."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Api, LedgerProcess
from xase import XaseClient


def _deliver(ledger: LedgerProcess, records: list[dict[str, object]]) -> tuple[XaseClient, Api]:
    tenant = Api(ledger, ledger.new_api_key())
    client = XaseClient(api_key=tenant.key, base_url=ledger.base_url, flush_interval=0.05)  # batch_size 500, the default
    for record in records:
        client.record(record)
    client.flush(30)
    client.close()
    return client, tenant


def test_a_ledger_with_a_smaller_batch_cap_gets_every_record_in_order(tmp_path: Path) -> None:
    ledger = LedgerProcess(tmp_path, env={"XASE_MAX_BATCH_SIZE": "64"}).start()
    try:
        client, tenant = _deliver(ledger, [{"policy": "p", "input": {"n": n}, "output": {}, "transaction_id": f"t_{n}"} for n in range(700)])
        stats = client.get_stats()
        assert (stats["sent"], stats["failed"]) == (700, 0)
        assert [record["transaction_id"] for record in tenant.all_records()] == [f"t_{n}" for n in range(700)]
    finally:
        ledger.destroy()


def test_a_body_past_the_ledgers_byte_cap_is_halved_and_a_record_too_large_alone_fails_alone(tmp_path: Path) -> None:
    ledger = LedgerProcess(tmp_path, env={"XASE_MAX_REQUEST_BYTES": str(64 * 1024)}).start()
    try:
        errors: list[str] = []
        records: list[dict[str, object]] = [
            {"policy": "p", "input": {"text": f"{n:05d}" * 400}, "output": {}, "store_payload": True, "transaction_id": f"t_{n}"} for n in range(200)
        ]
        records.insert(100, {"policy": "p", "input": {"text": "x" * 100_000}, "output": {}, "store_payload": True, "transaction_id": "huge"})
        tenant = Api(ledger, ledger.new_api_key())
        client = XaseClient(api_key=tenant.key, base_url=ledger.base_url, flush_interval=0.05, gzip=False,
                            on_error=lambda error: errors.append(str(error.details.get("transaction_id"))))  # fmt: skip
        for record in records:
            client.record(record)
        client.flush(60)
        client.close()
        assert (client.get_stats()["sent"], errors) == (200, ["huge"])
        assert [record["transaction_id"] for record in tenant.all_records()] == [f"t_{n}" for n in range(200)]
    finally:
        ledger.destroy()
