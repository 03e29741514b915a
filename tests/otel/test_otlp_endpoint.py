"""POST /v1/traces: OTLP/HTTP requests as any exporter or Collector sends them (protobuf or JSON, gzip or not),
answered with the protocol's partial success; every accepted decision span a record whose receipt verifies."""

from __future__ import annotations

import gzip
import json
import secrets
from typing import Any

import pytest
import requests

pytest.importorskip("opentelemetry.proto", reason="opentelemetry-proto (the [server] extra) is not installed")

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from tests.conftest import Api, LedgerProcess
from xase import evidence


def _value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


def _span(name: str, trace_id: bytes, **attributes: Any) -> ProtoSpan:
    return ProtoSpan(trace_id=trace_id, span_id=secrets.token_bytes(8), name=name, kind=ProtoSpan.SPAN_KIND_CLIENT,
                     start_time_unix_nano=1_800_000_000_000_000_000, end_time_unix_nano=1_800_000_000_120_000_000,
                     attributes=[KeyValue(key=key.replace("__", "."), value=_value(value)) for key, value in attributes.items()])  # fmt: skip


def _request(*spans: ProtoSpan) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])])


def _post(api: Api, body: bytes, content_type: str = "application/x-protobuf", **headers: str) -> requests.Response:
    return requests.post(api.ledger.base_url + "/v1/traces", data=body, timeout=30,
                         headers={"X-API-Key": api.key, "Content-Type": content_type, **headers})  # fmt: skip


def _chat(trace_id: bytes) -> ProtoSpan:
    return _span("chat gpt-4o", trace_id, gen_ai__operation__name="chat", gen_ai__request__model="gpt-4o", gen_ai__usage__input_tokens=12)


def _tx(span: ProtoSpan) -> str:
    return f"otel:{span.trace_id.hex()}:{span.span_id.hex()}"


def test_decision_spans_become_records_and_the_rest_is_partial_success(api: Api) -> None:
    trace = secrets.token_bytes(16)
    good, plain = _chat(trace), _span("GET /", trace, http__method="GET")
    zero_id = _chat(bytes(16))
    reserved = _span("seal", trace, xase__policy="xase.retrieval")  # the ledger's own namespace: refused
    nul = _span("chat", trace, gen_ai__operation__name="chat", gen_ai__request__model="gpt\x00-4o")
    answer = _post(api, gzip.compress(_request(good, plain, zero_id, reserved, nul).SerializeToString()), **{"Content-Encoding": "gzip"})
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/x-protobuf"
    parsed = ExportTraceServiceResponse.FromString(answer.content)
    assert parsed.partial_success.rejected_spans == 3, parsed
    assert "not all zero" in parsed.partial_success.error_message and "NUL" in parsed.partial_success.error_message
    record = api.get(f"/records/{_tx(good)}").json()
    assert record["record"]["policy_id"] == "gpt-4o" and record["record"]["decision_type"] == "chat" and record["record"]["processing_time_ms"] == 120.0
    evidence.verify_receipt(api.get(f"/receipts/{_tx(good)}").json())
    assert api.get(f"/records/{_tx(plain)}").status_code == 404  # not a decision: accepted, not recorded
    again = _post(api, _request(good).SerializeToString())
    assert again.status_code == 200 and again.content == b""  # a retried request replays: one record
    assert api.get("/records", params={"policy_id": "gpt-4o"}).json()["records"].__len__() == 1


def test_the_json_encoding_gives_the_same_record(api: Api) -> None:
    span = _chat(secrets.token_bytes(16))
    as_json = {"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": span.trace_id.hex().upper(), "spanId": span.span_id.hex(), "name": span.name, "kind": 3,
        "startTimeUnixNano": str(span.start_time_unix_nano), "endTimeUnixNano": span.end_time_unix_nano,
        "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}, {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                       {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}}]}]}]}]}  # fmt: skip
    answer = _post(api, json.dumps(as_json).encode(), "application/json")
    assert (answer.status_code, answer.json()) == (200, {}), answer.text
    by_json = api.get(f"/records/{_tx(span)}").json()
    other = Api(api.ledger, api.ledger.new_api_key())
    assert _post(other, _request(span).SerializeToString()).status_code == 200
    by_protobuf = other.get(f"/records/{_tx(span)}").json()
    for member in ("input_hash", "output_hash", "context_hash", "policy_id", "decision_type", "processing_time_ms"):
        assert by_json["record"][member] == by_protobuf["record"][member], member
    bad = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz", "spanId": "00", "name": "chat"}]}]}]}
    rejected = _post(api, json.dumps(bad).encode(), "application/json").json()
    assert rejected["partialSuccess"]["rejectedSpans"] == "1"


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"\x0a\xff\xff\xff\xff\x0f", "application/x-protobuf", 400),  # a length past the end
        (b'{"resourceSpans": 5}', "application/json", 400),
        (b"{}", "text/plain", 415),
        (_request(*[_span("s", b"\x01" * 16) for _ in range(8193)]).SerializeToString(), "application/x-protobuf", 400),
    ],
    ids=["truncated protobuf", "not a request", "unknown media type", "too many spans"],
)
def test_what_is_no_trace_request_is_a_4xx_error_body(api: Api, body: bytes, content_type: str, status: int) -> None:
    answer = _post(api, body, content_type)
    assert answer.status_code == status and answer.json()["error"]["code"], answer.text


def test_a_key_without_records_write_is_refused(ledger: LedgerProcess) -> None:
    reader = Api(ledger, ledger.new_api_key(scopes=["records:read"]))
    assert _post(reader, _request(_chat(secrets.token_bytes(16))).SerializeToString()).status_code == 403
