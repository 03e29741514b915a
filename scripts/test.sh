#!/usr/bin/env bash
# Set up .venv (if needed) and run the whole test suite: lint, types, pytest.
# Usage: ./scripts/test.sh [pytest args...]
set -euo pipefail
source "$(dirname "$0")/_venv.sh" dev
cd "$ROOT"
echo "== ruff"
ruff check xase ledger_service tests scripts examples
ruff format --check xase ledger_service tests scripts examples
echo "== mypy --strict"
mypy
echo "== pytest"
exec python -m pytest "$@"
