# Sourced by demo.sh and test.sh: create or reuse .venv and install the project into it.
# Needs only python3 (3.9+) and access to PyPI. Usage: source _venv.sh EXTRA  (server | dev)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="${XASE_VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
# Reinstall only when the packaging files changed since the last install;
# an up-to-date [dev] install (a superset) also serves [server].
SIG="$(cat "$ROOT/setup.cfg" "$ROOT/pyproject.toml" | "$VENV/bin/python" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
installed() { [ -f "$VENV/.xase-install-$1" ] && [ "$(cat "$VENV/.xase-install-$1")" = "$SIG" ]; }
if ! { installed "$1" || installed dev; } || ! "$VENV/bin/python" -c 'import xase, ledger_service' 2>/dev/null; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT[$1]"
    echo "$SIG" > "$VENV/.xase-install-$1"
fi
# The JavaScript client's TypeScript compiler (tests check that clients/js/lib is its build), where npm exists.
if [ "$1" = dev ] && command -v npm >/dev/null 2>&1; then
    LOCK="$(sha256sum < "$ROOT/clients/js/package-lock.json")"
    if [ "$(cat "$ROOT/clients/js/node_modules/.xase-lock" 2>/dev/null)" != "$LOCK" ]; then
        npm ci --prefix "$ROOT/clients/js" --no-audit --no-fund --silent
        echo "$LOCK" > "$ROOT/clients/js/node_modules/.xase-lock"
    fi
fi
export PATH="$VENV/bin:$PATH"
