"""XaseClientConfig: seed 001's names and defaults, dict or keywords, clear errors."""

from __future__ import annotations

import pytest

from xase import XaseClient, XaseClientConfig, XaseError


def test_defaults_are_the_seeds() -> None:
    config = XaseClientConfig.build(api_key="xase_pk_test")
    assert config.base_url == "http://localhost:3000/api/xase/v1"
    assert (config.fire_and_forget, config.timeout, config.max_retries, config.queue_max_size) == (True, 3.0, 3, 10_000)
    assert (config.on_success, config.on_error) == (None, None)
    assert (config.batch_size, config.flush_interval, config.queue_full_policy, config.max_in_flight) == (500, 0.2, "drop", 2)
    assert (config.capture_runtime_context, config.gzip, config.atexit_timeout) == (True, True, 2.0)


def test_dict_and_keywords_both_work_and_keywords_win() -> None:
    client = XaseClient({"api_key": "xase_pk_a", "timeout": 5.0, "max_retries": 5}, max_retries=7)
    assert (client.config.api_key, client.config.timeout, client.config.max_retries) == ("xase_pk_a", 5.0, 7)
    client.close()


def test_environment_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XASE_API_KEY", "xase_pk_env")
    monkeypatch.setenv("XASE_BASE_URL", "https://ledger.example/api/xase/v1")
    config = XaseClientConfig.build({"api_key": None, "base_url": None})
    assert (config.api_key, config.base_url) == ("xase_pk_env", "https://ledger.example/api/xase/v1")


def test_missing_api_key_is_unauthorized_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XASE_API_KEY", raising=False)
    with pytest.raises(XaseError) as caught:
        XaseClient()
    assert caught.value.code == "UNAUTHORIZED" and "XASE_API_KEY" in caught.value.message


@pytest.mark.parametrize(
    "option, value",
    [("timeout", 0), ("timeout", "3"), ("max_retries", -1), ("queue_max_size", 0), ("batch_size", 501), ("batch_size", True),
     ("flush_interval", float("nan")), ("queue_full_policy", "spill-everywhere"), ("on_success", "print"), ("base_url", "ftp://x"),
     ("payload_hmac_key", b"")],
)  # fmt: skip
def test_invalid_options_are_validation_errors_naming_the_option(option: str, value: object) -> None:
    with pytest.raises(XaseError) as caught:
        XaseClientConfig.build(api_key="xase_pk_test", **{option: value})
    assert caught.value.code == "VALIDATION_ERROR" and option in caught.value.message


def test_unknown_option_is_refused() -> None:
    with pytest.raises(XaseError, match="unknown option"):
        XaseClientConfig.build(api_key="xase_pk_test", fire_and_forgot=True)


def test_repr_hides_the_key() -> None:
    assert "xase_pk_secretsecret" not in repr(XaseClientConfig.build(api_key="xase_pk_secretsecret"))


def test_bound_method_callbacks_are_kept_not_copied() -> None:
    class Metrics:
        def __init__(self) -> None:
            self.count = 0

        def increment(self, _result: object) -> None:
            self.count += 1

    metrics = Metrics()
    config = XaseClientConfig.build(XaseClientConfig.build(api_key="xase_pk_test", on_success=metrics.increment), timeout=5.0)
    assert config.on_success is not None
    config.on_success({})  # type: ignore[arg-type]
    assert metrics.count == 1
