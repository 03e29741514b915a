"""OTLP/HTTP trace requests (`ExportTraceServiceRequest`, protobuf or JSON) read into `xase.otel.mapping.Span`s,
and the answers the protocol defines. The mapping from span to record is the SDK's, shared with its exporter.

Caps: the body is the ledger's (`XASE_MAX_REQUEST_BYTES`, also after gunzip); at most `MAX_SPANS` spans a request
(the OpenTelemetry Collector's default batch is 8,192); protobuf nesting is protobuf's own limit (100), JSON's the
strict parser's. A span whose ids are not 16 and 8 bytes, or whose text holds a NUL, is rejected alone.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from ledger_service.errors import UnsupportedMediaType, ValidationFailed
from xase import evidence
from xase.otel.mapping import Span

__all__ = ["MAX_SPANS", "BadSpan", "Encoding", "decode", "encoding_of", "partial_success"]

MAX_SPANS = 8192
Encoding = Literal["protobuf", "json"]
_KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}


class BadSpan(ValueError):
    """One span that cannot be evidence; the others of its request still are."""


def encoding_of(mimetype: str) -> Encoding:
    if mimetype == "application/x-protobuf":
        return "protobuf"
    if mimetype == "application/json":
        return "json"
    raise UnsupportedMediaType("Content-Type must be application/x-protobuf or application/json (OTLP/HTTP)", {"header": "Content-Type"})


def decode(body: bytes, encoding: Encoding) -> list[Span | BadSpan]:
    """Every span of the request, or a BadSpan in its place; ValidationFailed for a body that is no request."""
    spans = list(_from_protobuf(body) if encoding == "protobuf" else _from_json(body))
    if len(spans) > MAX_SPANS:
        raise ValidationFailed(f"at most {MAX_SPANS} spans a request, got {len(spans)}", {"max": MAX_SPANS})
    return spans


def partial_success(encoding: Encoding, rejected: int, message: str) -> tuple[bytes, str]:
    """The ExportTraceServiceResponse body and its content type (empty partial_success when all were accepted)."""
    if encoding == "json":
        answer: dict[str, Any] = {"partialSuccess": {"rejectedSpans": str(rejected), "errorMessage": message}} if rejected or message else {}
        return evidence.canonicalize(answer), "application/json"
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTracePartialSuccess, ExportTraceServiceResponse

    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.CopyFrom(ExportTracePartialSuccess(rejected_spans=rejected, error_message=message))
    return response.SerializeToString(), "application/x-protobuf"


def _checked(span: Span) -> Span | BadSpan:
    if len(span.trace_id) != 32 or len(span.span_id) != 16 or span.trace_id == "0" * 32 or span.span_id == "0" * 16:
        return BadSpan(f"span {span.name[:80]!r}: trace id must be 16 bytes and span id 8, not all zero")
    if span.parent_span_id is not None and len(span.parent_span_id) != 16:
        return BadSpan(f"span {span.name[:80]!r}: parent span id must be 8 bytes")
    if _has_nul([span.name, span.attributes, span.events, span.resource, span.scope]):
        return BadSpan(f"span {span.name[:80]!r}: text may not contain NUL")
    return span


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(item) for item in value)
    return False


# protobuf ---------------------------------------------------------------------------------------------------------


def _from_protobuf(body: bytes) -> Iterator[Span | BadSpan]:
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, RecursionError) as problem:
        raise ValidationFailed(f"not an OTLP ExportTraceServiceRequest: {problem}") from None
    for resource_spans in request.resource_spans:
        resource = _pb_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield _checked(
                    Span(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex() or None,
                        kind=_KINDS.get(span.kind, "UNSPECIFIED"),
                        status=_STATUS.get(span.status.code, "UNSET"),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        attributes=_pb_attributes(span.attributes),
                        events=[(event.name, _pb_attributes(event.attributes)) for event in span.events],
                        resource=resource,
                        scope=scope_spans.scope.name,
                    )
                )


def _pb_attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _pb_value(pair.value) for pair in pairs}


def _pb_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_pb_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return _pb_attributes(value.kvlist_value.values)
    if kind is None:
        return None
    return getattr(value, kind)


# JSON (OTLP's own mapping: lowerCamelCase, hex ids, enums as integers, 64-bit integers as strings or numbers) -------


def _from_json(body: bytes) -> Iterator[Span | BadSpan]:
    try:
        request = evidence.loads(body)
    except evidence.InvalidJSONError as problem:
        raise ValidationFailed(str(problem)) from None
    for resource_spans in _list(request, "resourceSpans"):
        resource = _json_attributes(_object(resource_spans, "resource"))
        for scope_spans in _list(resource_spans, "scopeSpans"):
            scope = str(_object(scope_spans, "scope").get("name") or "")
            for span in _list(scope_spans, "spans"):
                try:
                    yield _checked(_json_span(span, resource, scope))
                except (TypeError, ValueError, binascii.Error) as problem:
                    yield BadSpan(f"span: {problem}")


def _object(parent: Any, name: str) -> dict[str, Any]:
    value = parent.get(name) if isinstance(parent, dict) else None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationFailed(f"{name}: expected an object")
    return value


def _list(parent: Any, name: str) -> list[Any]:
    value = parent.get(name) if isinstance(parent, dict) else None
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationFailed(f"{name}: expected an array")
    return value


def _json_span(span: Any, resource: dict[str, Any], scope: str) -> Span:
    if not isinstance(span, dict):
        raise TypeError("expected an object")
    status = span.get("status") or {}
    return Span(
        name=_text(span.get("name", "")),
        trace_id=_hex_id(span.get("traceId")),
        span_id=_hex_id(span.get("spanId")),
        parent_span_id=_hex_id(span.get("parentSpanId")) or None,
        kind=_KINDS.get(_integer(span.get("kind", 0)), "UNSPECIFIED"),
        status=_STATUS.get(_integer(status.get("code", 0) if isinstance(status, dict) else 0), "UNSET"),
        start_ns=_integer(span.get("startTimeUnixNano", 0)),
        end_ns=_integer(span.get("endTimeUnixNano", 0)),
        attributes=_json_attributes(span),
        events=[(_text(event.get("name", "")), _json_attributes(event)) for event in span.get("events") or [] if isinstance(event, dict)],
        resource=resource,
        scope=scope,
    )


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _hex_id(value: Any) -> str:
    if value in (None, ""):
        return ""
    return bytes.fromhex(_text(value)).hex()  # ValueError for anything but hex digits


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    if isinstance(value, str) and not (value.isascii() and value.lstrip("-").isdigit() and len(value) <= 20):
        raise ValueError(f"expected an integer, got {value[:30]!r}")
    number = int(value)
    if not -(2**63) <= number < 2**64:
        raise ValueError("integer out of range")
    return number


def _json_attributes(parent: Any, member: str = "attributes") -> dict[str, Any]:
    pairs = parent.get(member) if isinstance(parent, dict) else None
    found = {}
    for pair in pairs if isinstance(pairs, list) else []:
        if isinstance(pair, dict) and isinstance(pair.get("key"), str):
            found[pair["key"]] = _json_value(pair.get("value"))
    return found


def _json_value(value: Any) -> Any:
    if not isinstance(value, dict) or len(value) != 1:
        return None
    ((kind, inner),) = value.items()
    if kind == "stringValue":
        return _text(inner)
    if kind == "boolValue" and isinstance(inner, bool):
        return inner
    if kind == "intValue":
        return _integer(inner)
    if kind == "doubleValue" and isinstance(inner, (int, float)) and not isinstance(inner, bool):
        return float(inner)
    if kind == "bytesValue":
        return base64.b64decode(_text(inner), validate=True)
    if kind == "arrayValue" and isinstance(inner, dict):
        return [_json_value(item) for item in inner.get("values") or []]
    if kind == "kvlistValue" and isinstance(inner, dict):
        return _json_attributes(inner, "values")
    raise ValueError(f"attribute value: {kind} is not an OTLP AnyValue")
