"""Full-chain verification speed: `xase-ledger verify` (from the database) and `xase verify` (an export bundle).

    python scripts/bench/verify.py [--records 100000] [--batch 500]

Builds a SQLite chain of SDK-like records in blocks of --batch, in this process,
then times both verifications, each in a fresh process as an auditor runs it.
Baseline, same run: parsing the same bundle with the standard json module and
nothing else (the least any verifier must do). Bounded; files in a temp dir.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from ledger_service.db import make_engine, migrate, write_transaction
from ledger_service.evidence import audit, chain
from ledger_service.evidence.intake import parse_record
from ledger_service.evidence.signing import LocalSigner
from ledger_service.tenants import create_tenant


def _build(directory: Path, records: int, batch: int) -> tuple[str, str, Path]:
    url = f"sqlite:///{directory / 'ledger.db'}"
    engine = make_engine(url, sqlite_synchronous="OFF")
    migrate(engine)
    signer = LocalSigner.from_path(directory / "key.pem")
    chain.register_signer(engine, signer)
    with write_transaction(engine) as conn:
        tenant_id = create_tenant(conn, "bench")["id"]
    runtime = {"runtime": {"sdk": "xase-python", "sdk_version": "0.1.0", "python_version": "3.11.7", "hostname": "bench", "pid": 4242}}
    for first in range(0, records, batch):
        fields = {"policy_id": "credit_policy_v4", "output_hash": "b" * 64, "confidence": 0.94, "context": runtime}
        items = [parse_record({**fields, "input_hash": f"{n:064x}"}, str(uuid.uuid4())) for n in range(first, min(first + batch, records))]
        chain.append(engine, signer, tenant_id, items)
    bundle = directory / "bundle.jsonl"
    with bundle.open("wb") as out:
        out.writelines(audit.export_lines(engine, tenant_id))
    engine.dispose()
    return url, tenant_id, bundle


def _timed(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} failed: {done.stdout}{done.stderr}")
    return elapsed


def _json_floor(bundle: Path) -> float:
    start = time.perf_counter()
    with bundle.open("rb") as lines:
        for line in lines:
            json.loads(line)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xase-bench-verify-") as tmp:
        directory = Path(tmp)
        url, _tenant, bundle = _build(directory, args.records, args.batch)
        startup = _timed([sys.executable, "-c", "import ledger_service.cli, xase.cli"])  # interpreter and imports, paid once
        from_db = _timed([sys.executable, "-m", "ledger_service.cli", "--database-url", url, "verify", "--tenant", "bench"]) - startup
        from_bundle = _timed([sys.executable, "-m", "xase.cli", "verify", str(bundle)]) - startup
        floor = _json_floor(bundle)
    n = args.records
    print(f"xase-ledger verify: {n} records in blocks of {args.batch}: {from_db:.2f} s = {n / from_db:,.0f} records/s (startup {startup:.2f} s excluded)")
    print(f"xase verify bundle: {from_bundle:.2f} s = {n / from_bundle:,.0f} records/s")
    print(f"baseline: json.loads of every bundle line alone: {floor:.2f} s = {n / floor:,.0f} records/s")
    print(f"ratio: database verify / json floor = {floor / from_db:.2f}; bundle verify / json floor = {floor / from_bundle:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
