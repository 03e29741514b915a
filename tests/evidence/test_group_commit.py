"""Group commit: concurrent appends to one tenant share blocks, and each caller gets exactly its outcomes."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine

from ledger_service.errors import SigningUnavailable
from ledger_service.evidence import audit
from ledger_service.evidence.group_commit import GroupCommitter
from ledger_service.evidence.intake import parse_record
from ledger_service.evidence.signing import LocalSigner
from tests.conftest import decision


def _hammer(committer: GroupCommitter, tenant_id: str, threads: int, per_thread: int) -> tuple[dict[str, Any], list[BaseException]]:
    results: dict[str, Any] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def client(number: int) -> None:
        start.wait()
        try:
            for n in range(per_thread):
                transaction_id = f"t_{number}_{n}"
                (outcome,) = committer.append(tenant_id, [parse_record(decision(number * 1000 + n, transaction_id=transaction_id))])
                results[transaction_id] = outcome
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=client, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results, errors


def test_concurrent_single_appends_share_blocks_and_get_their_own_outcomes(chain: tuple[Engine, LocalSigner, str]) -> None:
    engine, signer, tenant_id = chain
    committer = GroupCommitter(engine, signer)
    results, errors = _hammer(committer, tenant_id, threads=32, per_thread=10)
    assert errors == []
    assert len(results) == 320 and all(outcome.result["transaction_id"] == txn for txn, outcome in results.items())
    assert len({outcome.result["seq"] for outcome in results.values()}) == 320
    report = audit.verify_chain(engine, tenant_id)
    assert report["ok"] and report["records"] == 320
    assert report["blocks"] < 320 / 2, f"expected coalescing, got {report['blocks']} blocks for 320 records"
    assert committer.groups == report["blocks"]


def test_an_idle_tenant_appends_at_once_in_its_own_block(chain: tuple[Engine, LocalSigner, str]) -> None:
    engine, signer, tenant_id = chain
    committer = GroupCommitter(engine, signer)
    for n in range(3):
        committer.append(tenant_id, [parse_record(decision(n))])
    assert audit.verify_chain(engine, tenant_id)["blocks"] == 3


def test_a_failed_group_fails_every_member_and_writes_nothing(chain: tuple[Engine, LocalSigner, str]) -> None:
    engine, signer, tenant_id = chain

    class Unavailable:
        key_id, public_pem, algorithm, kms_key_arn = signer.key_id, signer.public_pem, signer.algorithm, None

        def sign(self, canonical_body: bytes, digest: bytes) -> str:
            raise SigningUnavailable("KMS is throttling")

    committer = GroupCommitter(engine, Unavailable())  # type: ignore[arg-type]
    results, errors = _hammer(committer, tenant_id, threads=8, per_thread=2)
    assert results == {} and len(errors) == 8 and all(isinstance(error, SigningUnavailable) for error in errors)
    assert audit.verify_chain(engine, tenant_id)["records"] == 0
