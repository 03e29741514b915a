"""Settings: every knob of the ledger in one frozen object, read from XASE_* variables."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

__all__ = ["Settings"]

N = TypeVar("N", int, float)


def _number(name: str, default: N, kind: Callable[[str], N]) -> N:
    raw = os.environ.get(name)
    try:
        return kind(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be {'an integer' if kind is int else 'a number'}, got {raw!r}") from None


def _int(name: str, default: int) -> int:
    return _number(name, default, int)


def _hosts(raw: Optional[str]) -> tuple[str, ...]:
    return tuple(host.strip().lower() for host in (raw or "").split(",") if host.strip())


@dataclass(frozen=True)
class Settings:
    """Ledger configuration. `from_env()` reads the variables named in each field's comment."""

    database_url: str = "sqlite:///./xase-ledger.db"  # XASE_DATABASE_URL
    signing_key_path: str = "./xase-signing-key.pem"  # XASE_SIGNING_KEY_PATH
    kms_key_id: Optional[str] = None  # XASE_KMS_KEY_ID: sign with this AWS KMS key instead of the PEM
    # XASE_LOG_KEY_PATH: the Ed25519 PEM that signs checkpoints (created on first start); default beside the signing key
    log_key_path: Optional[str] = None
    log_kms_key_id: Optional[str] = None  # XASE_LOG_KMS_KEY_ID: sign checkpoints' Ed25519 line with this AWS KMS key
    checkpoint_interval: float = 1.0  # XASE_CHECKPOINT_INTERVAL: seconds at least between two checkpoints of a growing tree
    log_bucket: Optional[str] = None  # XASE_LOG_BUCKET: "bucket[/prefix]" to publish every log's tiles and checkpoints to (S3)
    witnesses: str = ""  # XASE_WITNESSES: "<add-checkpoint URL prefix> <witness vkey>" entries, separated by ";" or new lines
    witness_quorum: int = 0  # XASE_WITNESS_QUORUM: cosignatures a witnessed receipt needs (0: every witness configured)
    console: bool = True  # XASE_CONSOLE: serve the evidence console at /console (0 turns it off)
    retention_days: int = 0  # XASE_RETENTION_DAYS: what the organisation's retention policy promises (0: kept for ever), stated in reports
    admin_key: Optional[str] = None  # XASE_ADMIN_KEY (else the hash `xase-ledger init` stored)
    host: str = "127.0.0.1"  # XASE_HOST
    port: int = 3000  # XASE_PORT
    public_url: Optional[str] = None  # XASE_PUBLIC_URL, base of receipt_url behind a proxy
    # XASE_ALLOWED_HOSTS (comma-separated; ".example.com" matches subdomains; "*" any): Host headers
    # accepted when XASE_PUBLIC_URL is not set, since the Host then becomes part of receipt URLs.
    allowed_hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
    max_request_bytes: int = 5 * 1024 * 1024  # XASE_MAX_REQUEST_BYTES
    max_batch_size: int = 500  # XASE_MAX_BATCH_SIZE
    max_upload_records: int = 100_000  # XASE_MAX_UPLOAD_RECORDS: records per dataset upload request
    rate_limit: str = "200 per second"  # XASE_RATE_LIMIT, per API key; "" disables
    rate_limit_storage: str = "memory://"  # XASE_RATE_LIMIT_STORAGE
    # XASE_AUTH_FAILURE_LIMIT: requests per client address that may fail authentication (missing, unknown or
    # revoked key) before that address gets 429s; "" disables. Keys are not buckets here: rotating bogus keys gains nothing.
    auth_failure_limit: str = "120 per minute"
    sqlite_synchronous: str = "FULL"  # XASE_SQLITE_SYNCHRONOUS: FULL survives power loss
    group_commit: bool = True  # XASE_GROUP_COMMIT: concurrent appends per tenant share a block
    statement_timeout_ms: int = 10_000  # XASE_STATEMENT_TIMEOUT_MS: the longest a client-shaped query (filter, pipeline) may run
    metrics_token: Optional[str] = None  # XASE_METRICS_TOKEN: when set, GET /metrics needs "Authorization: Bearer <token>"
    # XASE_KEEPALIVE: seconds `serve` keeps an idle connection open; longer than clients keep theirs (aiohttp 15 s,
    # requests until the server closes) and than a load balancer's idle timeout (60 s), so no client reuses a closed one.
    keepalive: int = 75
    # The agent context store (/cxdb). XASE_CXDB_ALLOWED_ORIGINS: CORS origins, comma-separated, "*" any (the seed's
    # development setting); none by default. XASE_CXDB_RATE_LIMIT: its own limit per key (the seed's gateway: "1000 per minute").
    cxdb_allowed_origins: tuple[str, ...] = ()
    cxdb_rate_limit: str = ""
    cxdb_seal_interval: float = 60.0  # XASE_CXDB_SEAL_INTERVAL: seconds between seals of moved heads; 0 disables
    cxdb_max_turn_bytes: int = 1024 * 1024  # XASE_CXDB_MAX_TURN_BYTES: a turn's encoded payload
    cxdb_compress_min_bytes: int = 1024  # XASE_CXDB_COMPRESS_MIN_BYTES: payloads this large or larger are zstd-compressed
    # XASE_TENANT_STORAGE_BYTES: what one tenant may store in each of the context store (blobs, as stored) and the knowledge
    # bases (chunks' vectors, contents and names); past it a write is a 413 QUOTA_EXCEEDED. 0: no quota.
    tenant_storage_bytes: int = 10 * 1024**3

    @classmethod
    def from_env(cls, overrides: Optional[Mapping[str, Any]] = None) -> Settings:
        env = os.environ
        values: dict[str, Any] = {
            "database_url": env.get("XASE_DATABASE_URL") or cls.database_url,
            "signing_key_path": env.get("XASE_SIGNING_KEY_PATH") or cls.signing_key_path,
            "kms_key_id": env.get("XASE_KMS_KEY_ID") or None,
            "log_key_path": env.get("XASE_LOG_KEY_PATH") or None,
            "log_kms_key_id": env.get("XASE_LOG_KMS_KEY_ID") or None,
            "checkpoint_interval": _number("XASE_CHECKPOINT_INTERVAL", cls.checkpoint_interval, float),
            "log_bucket": env.get("XASE_LOG_BUCKET") or None,
            "witnesses": env.get("XASE_WITNESSES", ""),
            "witness_quorum": _int("XASE_WITNESS_QUORUM", cls.witness_quorum),
            "retention_days": _int("XASE_RETENTION_DAYS", cls.retention_days),
            "console": env.get("XASE_CONSOLE", "1") not in ("0", "false", "no"),
            "admin_key": env.get("XASE_ADMIN_KEY") or None,
            "host": env.get("XASE_HOST") or cls.host,
            "port": _int("XASE_PORT", cls.port),
            "public_url": env.get("XASE_PUBLIC_URL") or None,
            "allowed_hosts": _hosts(env.get("XASE_ALLOWED_HOSTS")) or cls.allowed_hosts,
            "max_request_bytes": _int("XASE_MAX_REQUEST_BYTES", cls.max_request_bytes),
            "max_batch_size": _int("XASE_MAX_BATCH_SIZE", cls.max_batch_size),
            "max_upload_records": _int("XASE_MAX_UPLOAD_RECORDS", cls.max_upload_records),
            "rate_limit": env.get("XASE_RATE_LIMIT", cls.rate_limit),
            "rate_limit_storage": env.get("XASE_RATE_LIMIT_STORAGE") or cls.rate_limit_storage,
            "auth_failure_limit": env.get("XASE_AUTH_FAILURE_LIMIT", cls.auth_failure_limit),
            "sqlite_synchronous": (env.get("XASE_SQLITE_SYNCHRONOUS") or cls.sqlite_synchronous).upper(),
            "group_commit": env.get("XASE_GROUP_COMMIT", "1").lower() not in ("0", "false", "no", "off"),
            "statement_timeout_ms": _int("XASE_STATEMENT_TIMEOUT_MS", cls.statement_timeout_ms),
            "metrics_token": env.get("XASE_METRICS_TOKEN") or None,
            "keepalive": _int("XASE_KEEPALIVE", cls.keepalive),
            "cxdb_allowed_origins": tuple(origin.strip() for origin in env.get("XASE_CXDB_ALLOWED_ORIGINS", "").split(",") if origin.strip()),
            "cxdb_rate_limit": env.get("XASE_CXDB_RATE_LIMIT", cls.cxdb_rate_limit),
            "cxdb_seal_interval": _number("XASE_CXDB_SEAL_INTERVAL", cls.cxdb_seal_interval, float),
            "cxdb_max_turn_bytes": _int("XASE_CXDB_MAX_TURN_BYTES", cls.cxdb_max_turn_bytes),
            "cxdb_compress_min_bytes": _int("XASE_CXDB_COMPRESS_MIN_BYTES", cls.cxdb_compress_min_bytes),
            "tenant_storage_bytes": _int("XASE_TENANT_STORAGE_BYTES", cls.tenant_storage_bytes),
        }
        values.update(overrides or {})
        return cls(**values).validated()

    def validated(self) -> Settings:
        if not 1 <= self.max_batch_size <= 10_000:
            raise ValueError(f"max_batch_size must be within 1..10000, got {self.max_batch_size}")
        if self.max_upload_records < 1:
            raise ValueError(f"max_upload_records must be positive, got {self.max_upload_records}")
        if self.max_request_bytes < 1024:
            raise ValueError(f"max_request_bytes must be at least 1024, got {self.max_request_bytes}")
        if not 1 <= self.keepalive <= 3600:
            raise ValueError(f"XASE_KEEPALIVE must be 1..3600 seconds, got {self.keepalive}")
        if self.statement_timeout_ms < 1:
            raise ValueError(f"statement_timeout_ms must be positive, got {self.statement_timeout_ms}")
        if not (0.05 <= self.checkpoint_interval <= 3600):
            raise ValueError(f"XASE_CHECKPOINT_INTERVAL must be 0.05..3600 seconds, got {self.checkpoint_interval}")
        if not (0 <= self.cxdb_seal_interval < float("inf")):
            raise ValueError(f"XASE_CXDB_SEAL_INTERVAL must be a number of seconds >= 0, got {self.cxdb_seal_interval}")
        if self.cxdb_max_turn_bytes < 1 or self.cxdb_compress_min_bytes < 0:
            raise ValueError("XASE_CXDB_MAX_TURN_BYTES must be positive and XASE_CXDB_COMPRESS_MIN_BYTES not negative")
        if self.tenant_storage_bytes < 0:
            raise ValueError(f"XASE_TENANT_STORAGE_BYTES must be 0 (no quota) or positive, got {self.tenant_storage_bytes}")
        if self.retention_days < 0:
            raise ValueError(f"XASE_RETENTION_DAYS must be 0 (for ever) or positive, got {self.retention_days}")
        if self.witness_quorum < 0:
            raise ValueError(f"XASE_WITNESS_QUORUM must be 0 (every witness) or positive, got {self.witness_quorum}")
        if self.sqlite_synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"XASE_SQLITE_SYNCHRONOUS must be OFF, NORMAL, FULL or EXTRA, got {self.sqlite_synchronous}")
        return self

    @property
    def log_key_file(self) -> str:
        """Where the checkpoint key lives: XASE_LOG_KEY_PATH, else `xase-log-key.pem` beside the signing key."""
        return self.log_key_path or str(Path(self.signing_key_path).with_name("xase-log-key.pem"))

    def trusts_host(self, host: str) -> bool:
        """Whether a request's Host header (port ignored) may appear in URLs the ledger hands out."""
        name = host.lower()
        name = name[1 : name.find("]")] if name.startswith("[") else name.rsplit(":", 1)[0] if name.count(":") == 1 else name
        bound = () if self.host in ("0.0.0.0", "::", "") else (self.host.lower(),)  # noqa: S104 - a comparison, not a bind
        return any(
            allowed == "*" or name == allowed or (allowed.startswith(".") and (name.endswith(allowed) or name == allowed[1:]))
            for allowed in (*self.allowed_hosts, *bound)
        )

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes).validated()
