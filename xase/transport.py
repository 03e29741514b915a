"""HTTP to the ledger: one pooled requests.Session, tenacity retries, HTTP -> XaseError.

Retried: connection errors, timeouts, 408, 429 (Retry-After is the minimum
wait, capped) and 5xx, with exponential backoff and full jitter. Never other
4xx. In a batch only the items that failed retryably are sent again; every
item carries its idempotency key, so a retry never duplicates a record.
Sleeps wait on the stop event, so closing the client cuts a backoff short.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Optional, Union, cast
from urllib.parse import quote

import orjson
import requests
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_when_event_set, wait_random_exponential

from xase._version import __version__
from xase.config import MAX_BATCH_SIZE, XaseClientConfig
from xase.errors import ERROR_CODES, ValidationError, XaseError, typed_error
from xase.types import RecordResult

__all__ = ["Transport", "RetryableError", "RetriesExhausted", "Outcome"]

log = logging.getLogger("xase")

Outcome = Union[RecordResult, XaseError]

_STATUS_CODES = {400: "VALIDATION_ERROR", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 408: "NETWORK_ERROR",
                 409: "IDEMPOTENCY_CONFLICT", 413: "VALIDATION_ERROR", 422: "VALIDATION_ERROR", 429: "RATE_LIMIT_EXCEEDED"}  # fmt: skip


BATCH_HEADER = "X-Xase-Batch"  # <stream>/<number>: the ledger chains a client's batches in the order numbered


def url_path(*segments: str) -> str:
    """ "/a/b" from segments, each percent-quoted whole: an id can never add a segment or a query."""
    texts = [str(segment) for segment in segments]
    for text in texts:
        if text in ("", ".", ".."):
            raise ValidationError(f"not an id: {text!r}")
    return "".join("/" + quote(text, safe="") for text in texts)


def _retryable_status(status: int) -> bool:
    return status in (408, 429) or status >= 500


class RetryableError(XaseError):
    """A failure worth another attempt; `retry_after` is the ledger's requested minimum wait."""

    def __init__(self, code: str, message: str, status_code: Optional[int] = None, retry_after: Optional[float] = None,
                 details: Optional[dict[str, Any]] = None) -> None:  # fmt: skip
        super().__init__(code, message, status_code, details)
        self.retry_after = retry_after


class RetriesExhausted(XaseError):
    """Every attempt failed retryably. Not confirmed: the ledger may have recorded it (a lost answer), and sending it
    again under the same idempotency key is safe. The code stays the cause's where the seed names it
    (`RATE_LIMIT_EXCEEDED`), else `MAX_RETRIES`; `retry_after` is the ledger's last requested wait."""

    def __init__(self, failure: XaseError, attempts: int) -> None:
        code = failure.code if failure.code == "RATE_LIMIT_EXCEEDED" else "MAX_RETRIES"
        last = {"code": failure.code, "message": failure.message, "status_code": failure.status_code}
        super().__init__(code, f"not confirmed after {attempts} attempts: {failure.message}", failure.status_code,
                         {**failure.details, "attempts": attempts, "last_error": last})  # fmt: skip
        self.retry_after = getattr(failure, "retry_after", None)


class _ItemsFailed(RetryableError):
    """Some items of a batch failed retryably; each keeps its own error."""


def _retry_after(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return None


def error_from_body(status: int, body: Any, retry_after: Optional[float] = None) -> XaseError:
    """The XaseError for a ledger error response (or a batch item's error entry)."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    server_code = error.get("code")
    known = isinstance(server_code, str) and server_code in ERROR_CODES  # any JSON may come: a dict is not even hashable
    code = str(server_code) if known else _STATUS_CODES.get(status, "SERVER_ERROR" if status >= 500 else "VALIDATION_ERROR")
    message = str(error.get("message") or f"HTTP {status} from the ledger")
    given = error.get("details")
    details = dict(given) if isinstance(given, dict) else {}
    if server_code and server_code != code:
        details["server_code"] = server_code
    if error.get("request_id"):
        details["request_id"] = error["request_id"]
    if _retryable_status(status):
        return RetryableError(code, message, status, retry_after, details)
    return XaseError(code, message, status, details)


class Transport:
    """Sends records to one ledger. Thread-safe for concurrent synchronous calls."""

    def __init__(self, config: XaseClientConfig, stop: Optional[threading.Event] = None) -> None:
        self._config = config
        self._stop = stop or threading.Event()
        self._url = config.base_url.rstrip("/")
        self._jitter = wait_random_exponential(multiplier=config.retry_backoff, max=config.retry_backoff_max)
        self.retries = 0  # attempts beyond the first, for get_stats()
        self._batch_cap = MAX_BATCH_SIZE  # lowered once the ledger refuses a batch for its size
        self._quiet_until = 0.0  # monotonic time before which nothing is sent: the last 429's Retry-After
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=8, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({
            "X-API-Key": config.api_key,
            "User-Agent": f"xase-python/{__version__}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        })  # fmt: skip

    def close(self) -> None:
        self.session.close()

    # ---------------------------------------------------------------- one HTTP call

    def _post(self, path: str, body: Any, headers: Optional[dict[str, str]] = None) -> requests.Response:
        return self._request("POST", path, body, headers)

    def _request(self, method: str, path: str, body: Any = None, headers: Optional[dict[str, str]] = None,
                 params: Optional[dict[str, Any]] = None, raw: Optional[bytes] = None) -> requests.Response:  # fmt: skip
        """`body` goes as JSON; `raw` bytes go as they are (the Content-Type header says what they are)."""
        data = raw
        request_headers = dict(headers or {})
        if body is not None:
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
        if data is not None:
            if self._config.gzip and len(data) >= self._config.gzip_min_bytes:
                data = gzip.compress(data, compresslevel=1)  # 6% larger than level 5 here, at half the CPU
                request_headers["Content-Encoding"] = "gzip"
        quiet = self._quiet_until - time.monotonic()
        if quiet > 0:  # the ledger asked this client to wait (a 429 to another batch of it)
            self._sleep(quiet)
        try:
            # Never follow a redirect: it would carry the API key and the body to wherever it points.
            response = self.session.request(method, self._url + path, data=data, headers=request_headers, params=params,
                                            timeout=self._config.timeout, allow_redirects=False)  # fmt: skip
        except requests.Timeout as exc:
            raise RetryableError("NETWORK_ERROR", f"timed out after {self._config.timeout}s: {exc}") from None
        except requests.RequestException as exc:
            raise RetryableError("NETWORK_ERROR", f"could not reach the ledger at {self._url}: {exc}") from None
        if 300 <= response.status_code < 400 and response.status_code != 304:  # 304 Not Modified is an answer, not a redirect
            location = response.headers.get("Location", "?")
            raise XaseError("UNEXPECTED_REDIRECT", f"the ledger answered {response.status_code} to {location}; the SDK does not follow redirects "
                                                   "(they would carry the API key): set base_url to the final address", response.status_code,
                            {"location": location})  # fmt: skip
        if response.status_code >= 400:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            if response.status_code == 429 and retry_after:  # for every batch of this client, not only the one refused
                self._quiet_until = max(self._quiet_until, time.monotonic() + min(retry_after, self._config.retry_backoff_max))
            raise error_from_body(response.status_code, _json_or_none(response), retry_after)
        return response

    # ---------------------------------------------------------------- retries

    def _wait(self, state: RetryCallState) -> float:
        wait = float(self._jitter(state))
        failure = state.outcome.exception() if state.outcome else None
        requested = getattr(failure, "retry_after", None)
        if requested:
            wait = max(wait, min(requested, self._config.retry_backoff_max))
        return wait

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)  # interruptible: close() sets the event

    def _count_retry(self, _state: RetryCallState) -> None:
        self.retries += 1

    def _retrying(self) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self._config.max_retries + 1) | stop_when_event_set(self._stop),
            wait=self._wait,
            retry=retry_if_exception_type(RetryableError),
            sleep=self._sleep,
            before_sleep=self._count_retry,
            reraise=True,
        )

    def _gave_up(self, failure: XaseError, attempts: int) -> XaseError:
        if attempts <= 1 or not isinstance(failure, RetryableError):
            return failure
        return RetriesExhausted(failure, attempts)

    def call(self, method: str, path: str, body: Any = None, params: Optional[dict[str, Any]] = None, *,
             raw: Optional[bytes] = None, content_type: Optional[str] = None, headers: Optional[dict[str, str]] = None) -> Any:  # fmt: skip
        """One API call with the retry policy; returns the JSON answer, raises the typed XaseError.

        `body` is sent as JSON; or `raw` bytes with their `content_type` (e.g. JSON Lines).
        """
        sent = {**(headers or {}), **({"Content-Type": content_type} if content_type else {})}
        return _json_or_none(self.response(method, path, params, sent or None, body=body, raw=raw))

    def response(self, method: str, path: str, params: Optional[dict[str, Any]] = None, headers: Optional[dict[str, str]] = None, *,
                 body: Any = None, raw: Optional[bytes] = None) -> requests.Response:  # fmt: skip
        """One API call with the retry policy; the response itself, for binary bodies, headers and 304s."""
        try:
            return self._retrying()(self._request, method, path, body, headers, params, raw)
        except XaseError as failure:
            raise typed_error(failure) from None

    def pages(self, path: str, params: dict[str, Any]) -> Iterator[Any]:
        """Each page of a cursor-paged GET (`has_more`, `next_cursor`), fetched as the caller iterates."""
        params = dict(params)
        while True:
            page = self.call("GET", path, params=params)
            yield page
            if not page.get("has_more"):
                return
            params["cursor"] = page["next_cursor"]

    # ---------------------------------------------------------------- the two sends

    def send_one(self, item: dict[str, Any]) -> RecordResult:
        """POST /records with the item's idempotency key as header; raises XaseError."""
        body = {key: value for key, value in item.items() if key != "idempotency_key"}
        headers = {"Idempotency-Key": item["idempotency_key"]}
        retrying = self._retrying()
        try:
            response = retrying(self._post, "/records", body, headers)
        except XaseError as failure:
            raise self._gave_up(failure, retrying.statistics.get("attempt_number", 1)) from None
        result = _json_or_none(response)
        if not isinstance(result, dict) or not result.get("success"):
            raise XaseError("SERVER_ERROR", "the ledger answered without a RecordResult", response.status_code)
        return result  # type: ignore[return-value]

    def send_batch(self, items: Sequence[dict[str, Any]], place: Optional[str] = None) -> list[Outcome]:
        """POST /records/batch; returns a RecordResult or XaseError per item, in order.

        A batch the ledger refuses for its size (more records than its XASE_MAX_BATCH_SIZE, or more bytes than
        its XASE_MAX_REQUEST_BYTES) is sent again in parts that fit, in order: the ledger's cap is learnt once,
        a body too large is halved until each part fits or holds one record, which then fails alone.
        `place` ("<stream>/<number>", the X-Xase-Batch header) asks the ledger to chain this batch after the stream's
        previous one, though both are on their way at once; every part of a batch sent in parts but the last says
        more follow ("+"), so that the next batch waits for all of them.
        """
        if len(items) > self._batch_cap:
            cap = self._batch_cap
            return self._send_parts(items, [list(range(start, min(start + cap, len(items)))) for start in range(0, len(items), cap)], place)
        outcomes: list[Optional[Outcome]] = [None] * len(items)
        pending = list(range(len(items)))

        def attempt() -> None:
            nonlocal pending
            # orjson: ten times the standard encoder's speed; the items are plain JSON that canonicalization accepted
            body = orjson.dumps({"records": [items[i] for i in pending]})
            response = self._request("POST", "/records/batch", None, {BATCH_HEADER: place} if place else None, raw=body)
            results = (_json_or_none(response) or {}).get("results")
            if not isinstance(results, list) or len(results) != len(pending):
                raise RetryableError("SERVER_ERROR", "the ledger's batch response does not match the request", response.status_code)
            still_failing = []
            for index, result in zip(pending, results):
                if isinstance(result, dict) and result.get("success"):
                    outcomes[index] = cast(RecordResult, result)
                    continue
                status = int(result.get("status", 500)) if isinstance(result, dict) else 500
                error = error_from_body(status, result)
                if isinstance(error, RetryableError):
                    still_failing.append(index)
                outcomes[index] = error
            pending = still_failing
            if pending:
                raise _ItemsFailed("SERVER_ERROR", f"{len(pending)} item(s) of the batch failed and will be retried")

        retrying = self._retrying()
        try:
            retrying(attempt)
        except XaseError as failure:
            parts = self._parts(failure, pending)
            if parts:
                for index, outcome in zip(pending, self._send_parts(items, parts, place)):
                    outcomes[index] = outcome
                return [outcome if outcome is not None else XaseError("SERVER_ERROR", "no outcome") for outcome in outcomes]
            attempts = retrying.statistics.get("attempt_number", 1)
            for index in pending:
                own = outcomes[index]
                last = own if isinstance(failure, _ItemsFailed) and isinstance(own, XaseError) else failure
                outcomes[index] = self._gave_up(last, attempts)
        return [outcome if outcome is not None else XaseError("SERVER_ERROR", "no outcome") for outcome in outcomes]

    def _send_parts(self, items: Sequence[dict[str, Any]], parts: list[list[int]], place: Optional[str]) -> list[Outcome]:
        """The outcomes of `parts` (lists of indices into `items`), sent one after the other, in order."""
        outcomes: list[Outcome] = []
        for number, part in enumerate(parts, 1):
            more = place is not None and number < len(parts) and not place.endswith("+")
            outcomes += self.send_batch([items[index] for index in part], f"{place}+" if more else place)
        return outcomes

    def _parts(self, failure: XaseError, pending: list[int]) -> list[list[int]]:
        """If `failure` refused the `pending` items for their number (the cap it names is kept for later batches)
        or their bytes (halved, for this batch only), the parts to send instead; else none."""
        details, size = failure.details, len(pending)
        cap = details.get("max")
        if failure.status_code == 400 and details.get("field") == "records" and isinstance(cap, int) and 0 < cap < size:
            self._batch_cap = cap
            return [pending[start : start + cap] for start in range(0, size, cap)]
        if failure.status_code == 413 and "PAYLOAD_TOO_LARGE" in (failure.code, details.get("server_code")) and size > 1:
            return [pending[: size // 2], pending[size // 2 :]]
        return []


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
