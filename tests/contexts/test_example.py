"""examples/agent_context.py runs as written against a real ledger."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.contexts.conftest import Store

# The client and the example add nothing per backend: the API tests run both.
pytestmark = pytest.mark.parametrize("contexts_ledger", ["sqlite"], indirect=True)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agent_context.py"


def test_the_agent_context_example_verifies_both(store: Store) -> None:
    env = {**os.environ, "XASE_API_KEY": store.key, "XASE_BASE_URL": store.ledger.base_url}
    done = subprocess.run([sys.executable, str(EXAMPLE)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "receipt verified" in done.stdout and "history verified: turn" in done.stdout
    assert "the other branch is not what the decision saw (head: expected turn" in done.stdout
