"""The data holder's side of governed data access: datasets, uploads, grants, revocations, the access log.

    client = xase.Client(api_key="xase_pk_...")                  # a key with the "sessions" scope
    dataset = client.datasets.create("cardio-2024", description="...")
    dataset.upload("records.jsonl", progress=True)             # or a list of dicts
    dataset.grant("ai-lab", purposes=["model-training"], max_duration="30d")
    for access in dataset.accesses(since="2026-12-01T00:00:00Z"):
        print(access["accessed_at"], access["tenant_id"], access["action"], access["record_ids"])

Uploads go in chunks (at most `batch_size` records and `max_chunk_bytes` bytes each),
each stored whole or not at all. The ledger skips records it already holds with
the same id and content, so an interrupted upload is resumed by running it again:
give every record a `record_id` for that (a record without one gets a new id each time).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Optional, Union

from xase import evidence
from xase.errors import ValidationError, XaseError
from xase.transport import Transport, url_path

__all__ = ["Datasets", "Dataset", "UploadSummary"]

JSON_LINES = "application/x-ndjson"
Progress = Callable[[int, Optional[int]], None]  # (records sent so far, total if known)
RecordsSource = Union[str, "os.PathLike[str]", Iterable[Mapping[str, Any]]]


@dataclass(frozen=True)
class UploadSummary:
    """What an upload did: records stored, records the dataset already held (skipped), requests made."""

    dataset_id: str
    inserted: int
    already_stored: int
    requests: int


@dataclass(frozen=True)
class _Line:
    number: int  # 1-based line of the file, or position + 1 in an iterable
    data: bytes


def _file_lines(path: Path, check: bool) -> Iterator[_Line]:
    """Each non-blank line of a JSON Lines file; with `check`, parsed as strictly as the ledger parses it."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            if not check:
                yield _Line(number, line)
                continue
            try:
                parsed = evidence.loads(line)
            except evidence.InvalidJSONError as exc:
                raise ValidationError(f"{path}:{number}: not JSON: {exc}", {"line": number}) from None
            if not isinstance(parsed, dict):
                raise ValidationError(f"{path}:{number}: each line must be a JSON object", {"line": number})
            yield _Line(number, line)


def _record_lines(records: Iterable[Mapping[str, Any]]) -> Iterator[_Line]:
    for position, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise ValidationError(f"record {position}: must be a mapping, got {type(record).__name__}", {"index": position})
        try:
            data = json.dumps(dict(record), ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"record {position}: not JSON: {exc}", {"index": position}) from None
        yield _Line(position + 1, data)


def _chunks(lines: Iterable[_Line], max_records: int, max_bytes: int) -> Iterator[list[_Line]]:
    chunk: list[_Line] = []
    size = 0
    for line in lines:
        if len(line.data) + 1 > max_bytes:
            raise ValidationError(f"record at line {line.number} is {len(line.data)} bytes, over max_chunk_bytes={max_bytes}", {"line": line.number})
        if chunk and (len(chunk) == max_records or size + len(line.data) + 1 > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(line)
        size += len(line.data) + 1
    if chunk:
        yield chunk


class _Bar:
    """A progress bar on stderr: tqdm's when installed, else one line redrawn in place."""

    def __init__(self, total: Optional[int], stream: Optional[IO[str]] = None) -> None:
        stream = stream or sys.stderr
        self._stream = stream
        try:
            from tqdm import tqdm
        except ImportError:
            self._tqdm = None
        else:
            self._tqdm = tqdm(total=total, unit="rec", desc="upload", file=stream)

    def __call__(self, done: int, total: Optional[int]) -> None:
        if self._tqdm is not None:
            self._tqdm.update(done - self._tqdm.n)
            return
        share = f" ({100 * done // total}%)" if total else ""
        self._stream.write(f"\rupload: {done:,}{f'/{total:,}' if total else ''} records{share}")
        self._stream.flush()

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
        else:
            self._stream.write("\n")


class Dataset:
    """A dataset this tenant holds. Every method is one or more calls to the ledger."""

    def __init__(self, transport: Transport, info: Mapping[str, Any]) -> None:
        self._transport = transport
        self.info = dict(info)
        self.id: str = info["id"]
        self.name: str = info["name"]
        self.description: str = info.get("description", "")

    @property
    def record_count(self) -> Optional[int]:
        return self.info.get("record_count")

    def _path(self, *segments: str) -> str:
        return url_path("datasets", self.id, *segments)

    def refresh(self) -> Dataset:
        self.info = dict(self._transport.call("GET", self._path()))
        return self

    def upload(self, records: RecordsSource, *, batch_size: int = 10_000, max_chunk_bytes: int = 4 * 1024 * 1024,
               progress: Union[bool, Progress] = False) -> UploadSummary:  # fmt: skip
        """Upload records: a path to a JSON Lines file, or an iterable of dicts. Chunks of at most
        `batch_size` records and `max_chunk_bytes` bytes (keep both under the ledger's caps,
        XASE_MAX_UPLOAD_RECORDS and XASE_MAX_REQUEST_BYTES). A file is checked whole before anything
        is sent. `progress=True` draws a bar on stderr; a callable gets (records sent, total or None).

        On failure, raises the ledger's XaseError with `details["stored_before"]` (records already
        stored by earlier chunks) and the failing record's `line`; fix the input and upload it again.
        """
        if not 1 <= batch_size <= 1_000_000 or max_chunk_bytes < 1024:
            raise ValidationError("batch_size must be within 1..1000000 and max_chunk_bytes at least 1024")
        lines, total = self._lines(records)
        report = _Bar(total) if progress is True else progress or None
        try:
            return self._send(_chunks(lines, batch_size, max_chunk_bytes), total, report)
        finally:
            if isinstance(report, _Bar):
                report.close()

    @staticmethod
    def _lines(records: RecordsSource) -> tuple[Iterable[_Line], Optional[int]]:
        if isinstance(records, (str, os.PathLike)):
            path = Path(records)
            checked = sum(1 for _line in _file_lines(path, check=True))  # the whole file is checked before anything is sent
            return _file_lines(path, check=False), checked
        if isinstance(records, Mapping):
            raise ValidationError("records: give a list of records (dicts) or a path to a JSON Lines file, not one dict")
        return _record_lines(records), len(records) if isinstance(records, Sequence) else None

    def _send(self, chunks: Iterable[list[_Line]], total: Optional[int], report: Optional[Progress]) -> UploadSummary:
        inserted = already = requests = sent = 0
        for chunk in chunks:
            body = b"\n".join(line.data for line in chunk) + b"\n"
            try:
                answer = self._transport.call("POST", self._path("records"), raw=body, content_type=JSON_LINES)
            except XaseError as error:
                raise _located(error, chunk, inserted + already) from None
            inserted += int(answer.get("inserted", 0))
            already += int(answer.get("already_stored", 0))
            requests += 1
            sent += len(chunk)
            if report is not None:
                report(sent, total)
        return UploadSummary(self.id, inserted, already, requests)

    def index(self, fields: Sequence[str]) -> list[dict[str, Any]]:
        """Index fields (at most 8 a call; dotted paths), so that filters selecting or sorting by them read an
        index, not every record. Idempotent. Each entry: `field`, `index`, `created`."""
        return list(self._transport.call("POST", self._path("indexes"), {"fields": list(fields)})["indexes"])

    def grant(self, tenant: str, purposes: Sequence[str], max_duration: Union[str, int] = "30d") -> dict[str, Any]:
        """Let `tenant` (id or name) open sessions on this dataset for these purposes, each for at most `max_duration`."""
        body = {"tenant": tenant, "purposes": list(purposes), "max_duration": max_duration}
        return dict(self._transport.call("POST", self._path("grants"), body))

    def grants(self) -> list[dict[str, Any]]:
        return list(self._transport.call("GET", self._path("grants"))["grants"])

    def revoke(self, grant_id: str, *, reason: str, revoked_by: str) -> dict[str, Any]:
        """Revoke a grant; its live sessions end at once (each consumer's next call is ACCESS_REVOKED)."""
        return self._revoke(self._path("grants", grant_id, "revoke"), reason, revoked_by)

    def revoke_session(self, session_id: str, *, reason: str, revoked_by: str) -> dict[str, Any]:
        """End one consumer session on this dataset; the grant stays."""
        return self._revoke(self._path("sessions", session_id, "revoke"), reason, revoked_by)

    def _revoke(self, path: str, reason: str, revoked_by: str) -> dict[str, Any]:
        return dict(self._transport.call("POST", path, {"reason": reason, "revoked_by": revoked_by}))

    def accesses(self, *, since: Optional[str] = None, session_id: Optional[str] = None, receipts: bool = True,
                 page_size: int = 1000) -> Iterator[dict[str, Any]]:  # fmt: skip
        """Every access to this dataset, newest first, fetched page by page: tenant, purpose, action,
        record ids, time, and (with `receipts`) the receipt of its evidence, which verifies offline."""
        params: dict[str, Any] = {"limit": page_size, "receipts": "true" if receipts else "false"}
        if since is not None:
            params["since"] = since
        if session_id is not None:
            params["session_id"] = session_id
        for page in self._transport.pages(self._path("accesses"), params):
            yield from page["accesses"]

    def __repr__(self) -> str:
        return f"<xase.Dataset {self.id} {self.name!r}>"


def _located(error: XaseError, chunk: list[_Line], stored_before: int) -> XaseError:
    """The ledger's error, saying how much was stored before and, when it names a record, at which line."""
    details = dict(error.details)
    details["stored_before"] = stored_before
    index = details.get("index")
    if isinstance(index, int) and 0 <= index < len(chunk):
        details["line"] = chunk[index].number
    error.details = details
    return error


class Datasets:
    """`xase.Client(...).datasets`: create a dataset, or find one this tenant holds."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def create(self, name: str, description: str = "") -> Dataset:
        return Dataset(self._transport, self._transport.call("POST", "/datasets", {"name": name, "description": description}))

    def get(self, dataset: str) -> Dataset:
        """A dataset by id (`ds_...`) or by name."""
        return Dataset(self._transport, self._transport.call("GET", url_path("datasets", dataset)))
