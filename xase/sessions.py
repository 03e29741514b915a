"""Governed data access (seed 002): `xase.Client(...).access(...)` opens a session on a shared dataset.

    client = xase.Client(api_key="xase_pk_...")
    with client.access(dataset="medical-records-2024", purpose="model_training", duration="30d") as session:
        for batch in session.stream(batch_size=32):
            model.train(batch)
            session.record_operation(operation_type="TRAIN", records=batch.record_ids, metadata={...})

Every call is recorded by the ledger as evidence in your tenant's chain.
Errors are XaseError; an expired session raises SessionExpiredError, revoked
access AccessRevokedError, and rate limiting RateLimitError.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Optional, Union

from xase.config import XaseClientConfig
from xase.datasets import Datasets
from xase.transport import Transport, url_path

__all__ = ["Client", "Session", "Batch", "Record", "Records"]


class Record(dict):  # type: ignore[type-arg]
    """A dataset record: a dict whose fields also read as attributes (`patient.age`)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"record has no field {name!r}") from None

    @property
    def record_id(self) -> str:
        return str(self["record_id"])


class Records(list):  # type: ignore[type-arg]
    """Records returned by filter() or transform(), with what the ledger said about them."""

    def __init__(self, records: Iterable[Mapping[str, Any]], **info: Any) -> None:
        super().__init__(Record(record) for record in records)
        self.info = info
        self.has_more: bool = bool(info.get("has_more", False))
        self.evidence_id: Optional[str] = info.get("evidence_id")

    @property
    def record_ids(self) -> list[str]:
        return [record["record_id"] for record in self]


class Batch(Records):
    """One page of session.stream(); iterate it for its records."""

    @property
    def batch_id(self) -> Optional[str]:
        return self.info.get("batch_id")


RecordsLike = Union[Sequence[str], Sequence[Mapping[str, Any]]]


def _ids(records: RecordsLike) -> list[str]:
    return [record if isinstance(record, str) else str(record["record_id"]) for record in records]


class Session:
    """A time-boxed, purpose-bound session on one dataset."""

    def __init__(self, transport: Transport, info: Mapping[str, Any]) -> None:
        self._transport = transport
        self.info = dict(info)
        self.session_id: str = info["session_id"]
        self.dataset_id: str = info["dataset_id"]
        self.purpose: str = info["purpose"]
        self.expires_at: str = info["expires_at"]
        self.holder: Optional[str] = info.get("holder")  # the tenant whose data this is
        self.closed = False

    def _path(self, *segments: str) -> str:
        return url_path("sessions", self.session_id, *segments)

    def stream(self, batch_size: int = 32, filter: Optional[Mapping[str, Any]] = None,  # noqa: A002 - the seed's name
               fields: Optional[Sequence[str]] = None, sort: Optional[Mapping[str, int]] = None) -> Iterator[Batch]:  # fmt: skip
        """Batches of records, fetched lazily page by page."""
        params: dict[str, Any] = {"batch_size": batch_size}
        if filter is not None:
            params["filter"] = json.dumps(filter)
        if fields is not None:
            params["fields"] = ",".join(fields)
        if sort is not None:
            params["sort"] = json.dumps(sort)
        for page in self._transport.pages(self._path("stream"), params):
            yield Batch(page["batch"], **{k: v for k, v in page.items() if k != "batch"})

    def get_record(self, record_id: str) -> Record:
        return Record(self._transport.call("GET", self._path("records", record_id)))

    def filter(self, query: Optional[Mapping[str, Any]] = None, fields: Optional[Sequence[str]] = None,
               sort: Optional[Mapping[str, int]] = None, limit: int = 100) -> Records:  # fmt: skip
        body: dict[str, Any] = {"filter": dict(query or {}), "limit": limit}
        if fields is not None:
            body["fields"] = list(fields)
        if sort is not None:
            body["sort"] = dict(sort)
        answer = self._transport.call("POST", self._path("filter"), body)
        return Records(answer["records"], **{k: v for k, v in answer.items() if k != "records"})

    def transform(self, records: RecordsLike, transformation: str, parameters: Optional[Mapping[str, Any]] = None,
                  metadata: Optional[Mapping[str, Any]] = None) -> Records:  # fmt: skip
        """Transformed copies of `records` (ids or records); the dataset itself never changes."""
        body = {"records": _ids(records), "transformation": transformation, "parameters": dict(parameters or {}), "metadata": dict(metadata or {})}
        answer = self._transport.call("POST", self._path("transform"), body)
        return Records(answer["transformed_records"], **{k: v for k, v in answer.items() if k != "transformed_records"})

    def record_operation(self, operation_type: str, records: RecordsLike, metadata: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
        body = {"operation_type": operation_type, "records": _ids(records), "metadata": dict(metadata or {})}
        return dict(self._transport.call("POST", self._path("operations"), body))

    def aggregate(self, pipeline: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        answer = self._transport.call("POST", self._path("aggregate"), {"pipeline": list(pipeline)})
        return list(answer["results"])

    def close(self, reason: Optional[str] = None) -> dict[str, Any]:
        answer = dict(self._transport.call("POST", self._path("close"), {"reason": reason} if reason else None))
        self.closed = True
        return answer

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *_exc: object) -> None:
        if not self.closed:
            self.close(reason="session context exited")

    def __repr__(self) -> str:
        return f"<xase.Session {self.session_id} on {self.dataset_id} for {self.purpose!r} until {self.expires_at}>"


class Client:
    """Client for governed data access. `api_key`/`base_url` fall back to XASE_API_KEY / XASE_BASE_URL.

    As a consumer: `access()` opens a session, `grants()` lists what was shared with you.
    As a data holder: `datasets` creates datasets, uploads, grants, revokes and reads the access log.
    """

    def __init__(self, api_key: Optional[str] = None, base_url: Optional[str] = None, *, timeout: float = 30.0, max_retries: int = 3) -> None:
        config = XaseClientConfig.build(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries, atexit_timeout=0)
        self._transport = Transport(config)
        self.datasets = Datasets(self._transport)

    def access(self, dataset: str, purpose: str, duration: Union[str, int] = "1h", *, holder: Optional[str] = None) -> Session:
        """Open a session; refused (FORBIDDEN) unless the holder granted this purpose for this long.

        `dataset` is an id (`ds_...`), a name, or `holder/name`; `holder` (a tenant id or name) pins a
        name to the tenant expected to hold it, so another tenant's dataset of the same name never answers.
        """
        body: dict[str, Any] = {"dataset": dataset, "purpose": purpose, "duration": duration}
        if holder is not None:
            body["holder"] = holder
        return Session(self._transport, self._transport.call("POST", "/sessions", body))

    def session(self, session_id: str) -> Session:
        """Reattach to an open session by id."""
        return Session(self._transport, self._transport.call("GET", url_path("sessions", session_id)))

    def grants(self) -> list[dict[str, Any]]:
        """Grants other tenants made to yours, newest first, each naming the dataset and its holder."""
        return list(self._transport.call("GET", "/grants")["grants"])

    def decline_grant(self, grant_id: str) -> dict[str, Any]:
        """Refuse a grant: no session opens under it and its dataset no longer resolves by name for you."""
        return dict(self._transport.call("POST", url_path("grants", grant_id, "decline")))

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
