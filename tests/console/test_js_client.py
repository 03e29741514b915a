"""The seed's JavaScript client (`clients/js`, TypeScript built to `lib/`): its tests under Node's test runner
against a real ledger process, and the committed build equal to what `tsc` builds from the sources, so that the
package and the console serve exactly the reviewed code (no build step at install time)."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import LedgerProcess

JS = Path(__file__).resolve().parents[2] / "clients" / "js"
NODE = shutil.which("node")
TSC = JS / "node_modules" / ".bin" / "tsc"
pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js 20+ is not installed (Debian: apt-get install nodejs)")


@pytest.mark.parametrize("ledger", ["sqlite"], indirect=True)
def test_the_client_s_tests_pass_against_a_real_ledger(ledger: LedgerProcess) -> None:
    assert NODE is not None
    key = ledger.new_api_key(scopes=["records:read", "records:write", "contexts"])
    env = {**os.environ, "XASE_URL": f"http://127.0.0.1:{ledger.port}", "XASE_API_KEY": key}
    done = subprocess.run([NODE, "--test", "test/cxdb.test.js"], cwd=JS, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# skipped 0" in done.stdout and "# fail 0" in done.stdout


@pytest.mark.skipif(not TSC.exists(), reason="TypeScript is not installed in clients/js (scripts/_venv.sh dev runs npm ci there)")
def test_the_committed_build_is_what_tsc_builds(tmp_path: Path) -> None:
    assert NODE is not None
    done = subprocess.run([NODE, str(TSC), "-p", "tsconfig.json", "--outDir", str(tmp_path)], cwd=JS, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr  # type errors fail here
    comparison = filecmp.dircmp(tmp_path, JS / "lib")
    differ: list[str] = []

    def walk(node: filecmp.dircmp[str], prefix: str) -> None:
        differ.extend(prefix + name for name in node.left_only + node.right_only + node.diff_files)
        for name, sub in node.subdirs.items():
            walk(sub, prefix + name + "/")

    walk(comparison, "")
    assert differ == [], f"clients/js/lib is not the build of clients/js/src: run `npm run build` there ({differ})"
