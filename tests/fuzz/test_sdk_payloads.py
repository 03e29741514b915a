"""Whatever a caller passes to record(), the SDK raises XaseError at once or delivers; its worker never dies."""

from __future__ import annotations

import datetime
import decimal
import math
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.conftest import Api
from xase import XaseClient, XaseError

_ODD = st.sampled_from([math.nan, math.inf, -math.inf, 2**64, -(2**64), b"bytes", {1, 2}, (1, 2), decimal.Decimal("1.5"),
                        datetime.datetime(2026, 1, 1), object(), "\ud800", "\x00", "é" * 1000, 10**400])  # fmt: skip
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | _ODD,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8) | st.integers() | st.none(), inner, max_size=3),
    max_leaves=10,
)
_FIELDS = ["policy", "input", "output", "confidence", "processing_time", "policy_version", "decision_type", "transaction_id",
           "context", "store_payload", "metadata", "bogus"]  # fmt: skip


@st.composite
def payloads(draw: st.DrawFn) -> Any:
    base: dict[Any, Any] = {"policy": "fuzz_policy", "input": {"n": draw(st.integers(0, 10**6))}, "output": {"ok": True}}
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["set", "set", "remove", "odd key"]))
        name = draw(st.sampled_from(_FIELDS))
        if action == "set":
            base[name] = draw(_VALUES)
        elif action == "remove":
            base.pop(name, None)
        else:
            base[draw(st.integers() | st.none() | st.binary(max_size=3))] = 1
    return draw(st.sampled_from([base] * 8 + [None, "not a payload", [base]]))


def test_no_payload_can_crash_the_worker_and_every_accepted_one_is_accounted_for(api: Api) -> None:
    errors: list[XaseError] = []
    client = XaseClient(api_key=api.key, base_url=api.ledger.base_url, on_error=errors.append, flush_interval=0.01)
    accepted = refused = 0

    @settings(max_examples=600, deadline=None, database=None, suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    @given(payloads())
    def record(payload: Any) -> None:
        nonlocal accepted, refused
        try:
            client.record(payload)
            accepted += 1
        except XaseError as exc:  # nothing else may escape
            assert exc.code == "VALIDATION_ERROR", exc
            refused += 1

    record()
    client.record({"policy": "fuzz_policy", "input": {"last": True}, "output": {}})  # the worker still delivers afterwards
    client.flush(60)
    stats = client.get_stats()
    client.close()
    assert accepted > 50 and refused > 50
    assert stats["sent"] + stats["failed"] == accepted + 1 and stats["dropped"] == 0
    assert all(error.code == "VALIDATION_ERROR" for error in errors), {error.code for error in errors}
    assert api.get("/stats").json()["records"] == stats["sent"] and api.get("/verify").json()["ok"] is True
