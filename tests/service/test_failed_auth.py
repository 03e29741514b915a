"""Requests that fail authentication are limited per client address (issue 12): rotating bogus keys gains nothing."""

from __future__ import annotations

import secrets
from pathlib import Path

from tests.conftest import Api, LedgerProcess


def test_failed_authentications_are_limited_per_address_and_valid_keys_are_not(tmp_path: Path) -> None:
    ledger = LedgerProcess(tmp_path, env={"XASE_AUTH_FAILURE_LIMIT": "5 per minute"}).start()
    try:
        good = Api(ledger, ledger.new_api_key())
        statuses = [Api(ledger, "xase_pk_" + secrets.token_urlsafe(32)).get("/records").status_code for _ in range(5)]
        assert statuses == [401] * 5
        for key in ("xase_pk_" + secrets.token_urlsafe(32), None):  # another bogus key, or none at all
            response = Api(ledger, key).get("/records") if key else good.get("/records", headers={"X-API-Key": ""})
            assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1, response.text
            assert response.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
        assert good.get("/records").status_code == 200 and good.post("/records", json={"policy": "p", "input": {}, "output": {}}).status_code == 201
        assert good.get("/health").status_code == 200
    finally:
        ledger.destroy()
