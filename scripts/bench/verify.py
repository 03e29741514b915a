"""Full-chain verification speed: `xase-ledger verify` (from the database) and `xase verify` (an export bundle).

    python scripts/bench/verify.py [--records 100000] [--batch 500]

Builds a SQLite chain of SDK-like records in blocks of --batch, in this process,
then times both verifications, each in a fresh process as an auditor runs it
(its main(), best of 3), with one process and with the default (a process per core).
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
from xase.segments import default_jobs


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


_TIMED_MAIN = (
    "import sys, time; from {module} import main; start = time.perf_counter(); code = main(sys.argv[1:]); "
    "print(f'elapsed {{time.perf_counter() - start}}', file=sys.stderr); sys.exit(code)"
)


def _timed(module: str, argv: list[str], runs: int = 3) -> float:
    """Best of `runs` of the command's main() in a fresh process, interpreter start and imports excluded."""
    best = float("inf")
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", _TIMED_MAIN.format(module=module), *argv], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{module} {' '.join(argv[:4])} failed: {done.stdout}{done.stderr}")
        best = min(best, float(done.stderr.rsplit("elapsed ", 1)[1]))
    return best


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
        ledger_verify = ["--database-url", url, "verify", "--tenant", "bench"]
        xase_verify = ["verify", str(bundle)]
        timings = {
            "xase-ledger verify, one process": _timed("ledger_service.cli", [*ledger_verify, "--jobs", "1"]),
            "xase-ledger verify, default (a process per core)": _timed("ledger_service.cli", ledger_verify),
            "xase verify bundle, one process": _timed("xase.cli", [*xase_verify, "--jobs", "1"]),
            "xase verify bundle, default (a process per core)": _timed("xase.cli", xase_verify),
        }
        floor = _json_floor(bundle)
    n = args.records
    print(f"{n} records in blocks of {args.batch}; {default_jobs()} cores; best of 3, interpreter start and imports excluded")
    for name, seconds in timings.items():
        print(f"{name}: {seconds:.2f} s = {n / seconds:,.0f} records/s, {floor / seconds:.2f} x the json floor")
    print(f"baseline: json.loads of every bundle line alone, one process: {floor:.2f} s = {n / floor:,.0f} records/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
