"""XaseClientConfig: every client option and its default in one frozen, validated object."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Literal, Optional, Union

from xase.errors import XaseError
from xase.types import RecordResult

__all__ = ["XaseClientConfig", "DEFAULT_BASE_URL"]

DEFAULT_BASE_URL = "http://localhost:3000/api/xase/v1"
MAX_BATCH_SIZE = 500


def _invalid(option: str, expected: str, got: Any) -> XaseError:
    return XaseError("VALIDATION_ERROR", f"{option}: expected {expected}, got {got!r}", details={"option": option})


@dataclass(frozen=True)
class XaseClientConfig:
    """Options of XaseClient (seed 001's table, then Xase's additions)."""

    api_key: str = ""  # required; falls back to XASE_API_KEY
    base_url: str = ""  # XASE_BASE_URL, else http://localhost:3000/api/xase/v1
    fire_and_forget: bool = True  # queue and return at once; False: record() waits for the ledger
    timeout: float = 3.0  # seconds per HTTP request
    max_retries: int = 3  # retries after the first attempt
    queue_max_size: int = 10_000
    on_success: Optional[Callable[[RecordResult], None]] = None  # run on the worker thread
    on_error: Optional[Callable[[XaseError], None]] = None  # run on the worker thread
    # Xase's additions
    batch_size: int = 500  # records per POST /records/batch at most (the ledger's cap); fewer when fewer are queued
    flush_interval: float = 0.2  # seconds the worker waits to fill a batch
    queue_full_policy: Literal["drop", "block", "spill"] = "drop"  # drop the new record, wait block_timeout first, or keep it in the spool
    block_timeout: float = 1.0  # seconds record() may wait for room with "block"
    payload_hmac_key: Optional[Union[bytes, str]] = None  # HMAC-SHA256 commitments instead of SHA-256
    capture_runtime_context: bool = True  # add python/hostname/pid/sdk version under context
    max_in_flight: int = 2  # batches sent at once, chained in recording order all the same (the ledger orders them)
    gzip: bool = True  # gzip request bodies above gzip_min_bytes
    gzip_min_bytes: int = 1024
    atexit_timeout: float = 2.0  # seconds the exit-time flush may take; 0 disables it
    retry_backoff: float = 0.1  # first backoff (full jitter, doubling)
    retry_backoff_max: float = 10.0  # cap on one backoff, also on a Retry-After the ledger asks for
    retry_deadline: float = 60.0  # without a spool: seconds a batch the ledger cannot take is kept and tried again before it fails
    handle_signals: bool = False  # on SIGTERM, flush within atexit_timeout, then let the signal take its course
    spool_path: Optional[str] = None  # directory of a durable spool: records survive crashes until acknowledged
    spool_fsync: Literal["always", "batch", "off"] = "batch"  # when spooled records reach the disk

    @classmethod
    def build(cls, config: Union[XaseClientConfig, Mapping[str, Any], None] = None, **options: Any) -> XaseClientConfig:
        """From a config, a dict (seed style) and/or keyword arguments; keywords win."""
        if isinstance(config, XaseClientConfig):
            values = {field.name: getattr(config, field.name) for field in dataclasses.fields(config)}  # no deep copies
        elif config is None:
            values = {}
        elif isinstance(config, Mapping):
            values = dict(config)
        else:
            raise _invalid("config", "a dict or XaseClientConfig", config)
        values.update(options)
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise XaseError("VALIDATION_ERROR", f"unknown option(s) {unknown}; known: {sorted(known)}", details={"unknown": unknown})
        values["api_key"] = values.get("api_key") or os.environ.get("XASE_API_KEY", "")
        values["base_url"] = values.get("base_url") or os.environ.get("XASE_BASE_URL") or DEFAULT_BASE_URL
        return cls(**values).validated()

    def validated(self) -> XaseClientConfig:
        if not isinstance(self.api_key, str) or not self.api_key.strip():
            raise XaseError("UNAUTHORIZED", "api_key is required: pass api_key=... or set XASE_API_KEY")
        if not isinstance(self.base_url, str) or not self.base_url.startswith(("http://", "https://")):
            raise _invalid("base_url", "an http:// or https:// URL", self.base_url)
        for name in ("timeout", "flush_interval", "block_timeout", "atexit_timeout", "retry_backoff", "retry_backoff_max", "retry_deadline"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise _invalid(name, "a finite number >= 0", value)
        if self.timeout <= 0:
            raise _invalid("timeout", "a number > 0", self.timeout)
        self._check_int("max_retries", 0, 100)
        self._check_int("queue_max_size", 1, 10_000_000)
        self._check_int("batch_size", 1, MAX_BATCH_SIZE)
        self._check_int("gzip_min_bytes", 0, 1 << 30)
        self._check_int("max_in_flight", 1, 8)
        if self.spool_fsync not in ("always", "batch", "off"):
            raise _invalid("spool_fsync", "'always', 'batch' or 'off'", self.spool_fsync)
        if self.spool_path is not None and (not isinstance(self.spool_path, (str, os.PathLike)) or not str(self.spool_path)):
            raise _invalid("spool_path", "a directory path", self.spool_path)
        if self.queue_full_policy not in ("drop", "block", "spill"):
            raise _invalid("queue_full_policy", "'drop', 'block' or 'spill'", self.queue_full_policy)
        if self.queue_full_policy == "spill" and not self.spool_path:
            raise _invalid("queue_full_policy", "a spool_path to spill into", "spill")
        if not isinstance(self.handle_signals, bool):
            raise _invalid("handle_signals", "true or false", self.handle_signals)
        for name in ("on_success", "on_error"):
            if getattr(self, name) is not None and not callable(getattr(self, name)):
                raise _invalid(name, "a callable or None", getattr(self, name))
        if self.payload_hmac_key is not None and (not isinstance(self.payload_hmac_key, (bytes, str)) or not self.payload_hmac_key):
            raise _invalid("payload_hmac_key", "non-empty bytes or str", "<hidden>")
        return self

    def _check_int(self, name: str, low: int, high: int) -> None:
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _invalid(name, f"an integer within [{low}, {high}]", value)

    @property
    def hmac_key(self) -> Optional[bytes]:
        key = self.payload_hmac_key
        return key.encode("utf-8") if isinstance(key, str) else key

    def __repr__(self) -> str:  # never print the secrets
        return f"XaseClientConfig(base_url={self.base_url!r}, fire_and_forget={self.fire_and_forget}, api_key='{self.api_key[:12]}…')"
