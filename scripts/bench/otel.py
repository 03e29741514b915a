"""OpenTelemetry GenAI spans into evidence: spans/s by each path, and what it costs the application's thread.

    python scripts/bench/otel.py [--spans 20000]

Every span is a chat span as opentelemetry-instrumentation-openai-v2 makes one (model, usage, finish reasons,
the prompt and completion captured as `gen_ai.input.messages` / `gen_ai.output.messages`), ended on the bench's
thread. In the same run, each against `xase-ledger serve` defaults (SQLite, local keys) on loopback:
  1. `XaseSpanExporter` defaults under `SimpleSpanProcessor` (the pairing docs/opentelemetry.md gives): spans/s delivered,
     from the first span to the last record acknowledged;
  2. `OTLPSpanExporter` (opentelemetry-exporter-otlp-proto-http, defaults) under `BatchSpanProcessor` defaults, to
     the ledger's `POST /v1/traces`: spans/s delivered (records that arrived) until flushed: the processor drops
     spans past its queue of 2,048 when the app outpaces the exporter;
  baseline: the same OTLP exporter and processor to a null sink (a loopback server answering 200 at once, counting
     the spans it received), spans/s delivered likewise;
  4. (listed first of the spans/s lines) `POST /v1/traces` alone: the same spans pre-encoded by the OTLP exporter's
     encoder in requests of 512 (the processor's batch), posted one at a time by one client; baseline: the same
     requests to the null sink;
  3. the time `span.end()` takes on the application's thread, p50 and p99: no processor (baseline), path 1, path 2.
Loopback only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional

import requests
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ledger import running_ledger

from xase.otel import XaseSpanExporter

MESSAGES_IN = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Applicant 4471 earns 52,000 and asks for 9,000. Approve?"}]}])
MESSAGES_OUT = json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "APPROVED"}], "finish_reason": "stop"}])


def _spans(provider: TracerProvider, count: int) -> list[float]:
    """End `count` chat spans; how long each `end()` took, in microseconds."""
    tracer = provider.get_tracer("bench")
    ends = []
    for n in range(count):
        span = tracer.start_span("chat gpt-4o-mini", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.request.temperature": 0.0, "gen_ai.response.model": "gpt-4o-mini-2024-07-18", "gen_ai.response.id": f"chatcmpl-{n}",
            "gen_ai.response.finish_reasons": ("stop",), "gen_ai.usage.input_tokens": 30, "gen_ai.usage.output_tokens": 1,
            "gen_ai.input.messages": MESSAGES_IN, "gen_ai.output.messages": MESSAGES_OUT, "server.address": "api.openai.com"})  # fmt: skip
        start = time.perf_counter()
        span.end()
        ends.append((time.perf_counter() - start) * 1e6)
    return ends


def _run(processor: Optional[SpanProcessor], count: int, flush: Any = None) -> tuple[float, list[float]]:
    provider = TracerProvider()
    if processor is not None:
        provider.add_span_processor(processor)
    start = time.perf_counter()
    ends = _spans(provider, count)
    provider.force_flush(600_000)
    if flush is not None:
        flush()
    elapsed = time.perf_counter() - start
    provider.shutdown()
    return count / elapsed, ends


def _null_sink(received: list[int]) -> ThreadingHTTPServer:
    """A loopback server that answers 200 at once and counts the spans it was sent (in `received[0]`)."""

    class Sink(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            request = ExportTraceServiceRequest.FromString(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            received[0] += sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _requests(count: int) -> list[bytes]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    _spans(provider, count)
    spans = memory.get_finished_spans()
    return [encode_spans(spans[start : start + 512]).SerializeToString() for start in range(0, len(spans), 512)]


def _post_all(url: str, api_key: str, bodies: list[bytes]) -> float:
    session = requests.Session()
    session.headers.update({"X-API-Key": api_key, "Content-Type": "application/x-protobuf"})
    start = time.perf_counter()
    for body in bodies:
        session.post(url, data=body, timeout=120).raise_for_status()
    return time.perf_counter() - start


def _count(base_url: str, api_key: str) -> int:
    return int(requests.get(base_url + "/stats", headers={"X-API-Key": api_key}, timeout=60).json()["records"])


def _line(label: str, rate: float, note: str = "") -> None:
    print(f"{label:<100} {rate:>9,.0f} spans/s {note}")


def _latency(label: str, ends: list[float]) -> float:
    p99 = statistics.quantiles(ends, n=100)[98]
    print(f"span.end() on the app thread, {label:<74} p50 {statistics.median(ends):7.1f} µs  p99 {p99:7.1f} µs")
    return statistics.median(ends)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=20_000)
    args = parser.parse_args()
    count = args.spans
    bodies = _requests(count)
    received = [0]
    sink = _null_sink(received)
    sink_alone = count / _post_all(f"http://127.0.0.1:{sink.server_address[1]}/v1/traces", "", bodies)
    received[0] = 0
    null_rate, null_ends = _run(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{sink.server_address[1]}/v1/traces")), count)
    sink.shutdown()
    _, bare_ends = _run(None, count)
    with running_ledger(workers=None) as ledger:
        exporter = XaseSpanExporter(api_key=ledger.api_key, base_url=ledger.base_url)
        direct_rate, direct_ends = _run(SimpleSpanProcessor(exporter), count, lambda: exporter.force_flush(600_000))
        direct_kept = _count(ledger.base_url, ledger.api_key)
    with running_ledger(workers=None) as ledger:
        endpoint_alone = count / _post_all(ledger.base_url + "/v1/traces", ledger.api_key, bodies)
        assert _count(ledger.base_url, ledger.api_key) == count
    with running_ledger(workers=None) as ledger:
        otlp = OTLPSpanExporter(endpoint=ledger.base_url + "/v1/traces", headers={"X-API-Key": ledger.api_key})
        otlp_rate, otlp_ends = _run(BatchSpanProcessor(otlp), count)
        otlp_kept = _count(ledger.base_url, ledger.api_key)
    settings = f"{count:,} chat spans, serve defaults (SQLite)"

    _line(f"POST /v1/traces alone, requests of 512 pre-encoded, one client, {settings}", endpoint_alone, f"(all {count:,} recorded)")
    _line(f"baseline: the same requests to the null sink, one client, {count:,} chat spans", sink_alone)
    print(f"ratio: endpoint / null sink = {endpoint_alone / sink_alone:.2f}")

    def delivered(rate: float, kept: int) -> float:  # spans/s that arrived: a processor that drops does not count them
        return rate * kept / count

    _line(f"1. XaseSpanExporter defaults + SimpleSpanProcessor -> ledger, {settings}", delivered(direct_rate, direct_kept),
          f"delivered ({direct_kept:,} of {count:,} recorded)")  # fmt: skip
    _line(f"2. OTLPSpanExporter + BatchSpanProcessor defaults -> POST /v1/traces, {settings}", delivered(otlp_rate, otlp_kept),
          f"delivered ({otlp_kept:,} of {count:,} recorded; the rest dropped by the processor)")  # fmt: skip
    _line(f"baseline: OTLPSpanExporter + BatchSpanProcessor defaults -> null sink, {count:,} chat spans", delivered(null_rate, received[0]),
          f"delivered ({received[0]:,} of {count:,} received)")  # fmt: skip
    null_delivered = delivered(null_rate, received[0])
    print(f"ratio: delivered spans/s, path 1 / baseline = {delivered(direct_rate, direct_kept) / null_delivered:.2f}; "
          f"path 2 / baseline = {delivered(otlp_rate, otlp_kept) / null_delivered:.2f}")  # fmt: skip
    floor = _latency("no span processor (baseline)", bare_ends)
    direct = _latency("XaseSpanExporter defaults + SimpleSpanProcessor", direct_ends)
    _latency("OTLPSpanExporter + BatchSpanProcessor defaults (to the ledger)", otlp_ends)
    _latency("OTLPSpanExporter + BatchSpanProcessor defaults (to the null sink)", null_ends)
    print(f"ratio: XaseSpanExporter end() / bare end() median = {direct / floor:.1f}; added {direct - floor:.1f} µs a span")
    return 0


if __name__ == "__main__":
    sys.exit(main())
