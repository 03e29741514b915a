#!/usr/bin/env bash
# The demo: a local ledger on SQLite with a fresh signing key, a few recorded
# decisions, and one receipt verified offline. Needs python3 and PyPI access.
set -euo pipefail
source "$(dirname "$0")/_venv.sh" server
cd "$ROOT"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/xase-demo.XXXXXX")"
LEDGER=(xase-ledger --database-url "sqlite:///$WORK/ledger.db" --signing-key "$WORK/signing-key.pem")
LEDGER_PID=""
stop_ledger() {
    if [ -n "$LEDGER_PID" ] && kill -0 "$LEDGER_PID" 2>/dev/null; then
        kill "$LEDGER_PID" && wait "$LEDGER_PID" 2>/dev/null || true
    fi
    LEDGER_PID=""
}
trap 'stop_ledger; rm -rf "$WORK"' EXIT

echo "== 1. a new ledger: SQLite database, ECDSA P-256 signing key, admin key"
"${LEDGER[@]}" init > "$WORK/admin-key"

echo "== 2. a tenant and its API key"
export XASE_API_KEY="$("${LEDGER[@]}" create-api-key --tenant demo-bank)"

echo "== 3. the ledger on a free loopback port"
"${LEDGER[@]}" serve --host 127.0.0.1 --port 0 --port-file "$WORK/port" > "$WORK/ledger.log" 2>&1 &
LEDGER_PID=$!
for _ in $(seq 1 200); do
    [ -s "$WORK/port" ] && python -c "import requests,sys; requests.get(sys.argv[1], timeout=1).raise_for_status()" \
        "http://127.0.0.1:$(cat "$WORK/port")/api/xase/v1/health" 2>/dev/null && break
    kill -0 "$LEDGER_PID" 2>/dev/null || { cat "$WORK/ledger.log"; exit 1; }
    sleep 0.1
done
export XASE_BASE_URL="http://127.0.0.1:$(cat "$WORK/port")/api/xase/v1"
echo "ledger at $XASE_BASE_URL"

echo "== 4. decisions recorded with the SDK: fire-and-forget loans, synchronous fraud checks"
python examples/loan_approval.py
python examples/fraud_detection.py

echo "== 5. the whole chain, verified by the ledger; one receipt fetched by an auditor"
"${LEDGER[@]}" verify --tenant demo-bank
python examples/verify_receipt.py txn_0002 "$WORK"
stop_ledger

echo "== 6. that receipt, verified offline against the pinned public key (the ledger is stopped)"
xase verify "$WORK/receipt.json" --key "$WORK/ledger-key.pem"
