"""The ledger's Prometheus metrics, served at GET /metrics (see health.py).

No metric has a tenant label: a scrape shows the service's load, never one
tenant's activity, and label values are bounded (route templates, not paths).

Under gunicorn every worker is a process of its own. prometheus_client then
keeps each value in a file under PROMETHEUS_MULTIPROC_DIR and a scrape sums the
files of every worker, whichever worker answers. It chooses between in-memory
and file-backed values once, when it is first imported, so this module imports
it only when the app builds its `Metrics`: `serving.serve` sets the directory
first (see `use_multiprocess_dir`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["Metrics", "use_multiprocess_dir", "MULTIPROCESS_ENV"]

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def use_multiprocess_dir(directory: Path) -> None:
    """Keep metric values in files under `directory` (emptied first), for a server of several processes.

    Must run before prometheus_client is first imported in this process; raises RuntimeError otherwise.
    """
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before the multiprocess directory was set: metrics would count per worker")
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):  # a previous run's values would add to this one's
        stale.unlink()
    os.environ[MULTIPROCESS_ENV] = str(directory)


class Metrics:
    """Every metric of one app, in a registry of its own (several apps in one process never collide)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.http_requests = Counter("xase_http_requests", "HTTP requests answered, by method, route template and status",
                                     ["method", "route", "status"], registry=registry)  # fmt: skip
        self.http_latency = Histogram("xase_http_request_duration_seconds", "Time to answer an HTTP request, by method and route template",
                                      ["method", "route"], buckets=_LATENCY_BUCKETS, registry=registry)  # fmt: skip
        self.records = Counter("xase_records", "Records submitted for appending, by outcome: appended, replayed (idempotent), rejected",
                               ["outcome"], registry=registry)  # fmt: skip
        self.append_batch = Histogram("xase_append_batch_records", "Records per append request (POST /records is 1)",
                                      buckets=_SIZE_BUCKETS, registry=registry)  # fmt: skip
        self.append_latency = Histogram("xase_append_duration_seconds", "Time to append one request's records, sealed, signed and committed",
                                        buckets=_LATENCY_BUCKETS, registry=registry)  # fmt: skip
        self.group_commit_records = Histogram("xase_group_commit_records", "Records per group commit (one signed block)",
                                              buckets=_SIZE_BUCKETS, registry=registry)  # fmt: skip
        self.group_commit_requests = Histogram("xase_group_commit_requests", "Append requests coalesced into one group commit",
                                               buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64), registry=registry)  # fmt: skip
        self.signatures = Counter("xase_block_signatures", "Block signatures, by outcome: signed, failed", ["outcome"], registry=registry)
        self.signing_latency = Histogram("xase_block_signing_duration_seconds", "Time to sign one block (local key or KMS)",
                                         buckets=_LATENCY_BUCKETS, registry=registry)  # fmt: skip
        self.rate_limited = Counter("xase_rate_limit_rejections", "Requests refused with 429, by limit: api_key, failed_authentication",
                                    ["limit"], registry=registry)  # fmt: skip
        self.sessions = Counter("xase_sessions", "Data-access sessions, by event: opened, closed, revoked", ["event"], registry=registry)
        self.witness_submissions = Counter("xase_witness_submissions", "Checkpoints sent to a witness, by witness and outcome: "
                                           "cosigned, conflict (409), refused (400/403/404/422), unavailable, invalid",
                                           ["witness", "outcome"], registry=registry)  # fmt: skip

        self.at_scrape: list[Callable[[], Iterable[Any]]] = []  # gauges read from the database when scraped, not kept per worker

    def exposition(self) -> tuple[bytes, str]:
        """The text format a Prometheus server scrapes, and its content type; every worker's values summed."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        read_now = CollectorRegistry(auto_describe=False)
        for collect in self.at_scrape:
            read_now.register(_Collected(collect))
        return generate_latest(self._scraped_registry()) + generate_latest(read_now), CONTENT_TYPE_LATEST

    def snapshot(self) -> dict[str, Any]:
        """The service's totals since its start, every worker summed: requests and errors, records by outcome, and
        request latency quantiles estimated from the histogram's buckets (what the console's health page shows)."""
        totals: dict[str, float] = {"requests": 0.0, "client_errors": 0.0, "server_errors": 0.0, "rate_limited": 0.0}
        records: dict[str, float] = {}
        buckets: dict[float, float] = {}
        for family in self._scraped_registry().collect():
            for sample in family.samples:
                if sample.name == "xase_http_requests_total":
                    status = str(sample.labels.get("status", ""))
                    totals["requests"] += sample.value
                    if status[:1] in ("4", "5"):
                        totals["client_errors" if status[0] == "4" else "server_errors"] += sample.value
                elif sample.name == "xase_rate_limit_rejections_total":
                    totals["rate_limited"] += sample.value
                elif sample.name == "xase_records_total":
                    records[str(sample.labels["outcome"])] = records.get(str(sample.labels["outcome"]), 0.0) + sample.value
                elif sample.name == "xase_http_request_duration_seconds_bucket":
                    bound = float(sample.labels["le"])
                    buckets[bound] = buckets.get(bound, 0.0) + sample.value
        return {**{name: int(value) for name, value in totals.items()}, "records": {name: int(value) for name, value in records.items()},
                "latency_seconds": {"p50": _quantile(buckets, 0.5), "p99": _quantile(buckets, 0.99)}}  # fmt: skip

    def _scraped_registry(self) -> CollectorRegistry:
        if not os.environ.get(MULTIPROCESS_ENV):
            return self.registry
        from prometheus_client import CollectorRegistry, multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return merged


def _quantile(cumulative: dict[float, float], q: float) -> float | None:
    """The upper bound of the histogram bucket holding quantile `q` (None without observations): an estimate that
    errs high, as a latency figure should."""
    bounds = sorted(cumulative)
    if not bounds or cumulative[bounds[-1]] == 0:
        return None
    wanted = q * cumulative[bounds[-1]]
    return next((bound for bound in bounds if cumulative[bound] >= wanted), bounds[-1])


class _Collected:
    """A prometheus_client collector over a function that returns metric families."""

    def __init__(self, collect: Callable[[], Iterable[Any]]) -> None:
        self.collect = collect
