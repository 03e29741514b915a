"""`XaseSpanExporter`: an OpenTelemetry `SpanExporter` that records every decision span as evidence.

    provider.add_span_processor(SimpleSpanProcessor(XaseSpanExporter(api_key="xase_pk_...")))

Pair it with `SimpleSpanProcessor`: the span is handed over as it ends, and `export` only maps it and puts its
record in the client's queue (hashing and delivery happen on the client's worker thread). `BatchSpanProcessor`
drops spans past its own queue of 2,048. The exporter's own client waits for room instead
(`queue_full_policy="block"`, `block_timeout` 30 s: only a ledger unreachable for longer than the queue's 10,000
records and that wait loses a record, reported through `on_error`); with `spool_path` it keeps every record on disk
before `export` returns (`"spill"`) and delivers it after a crash: nothing is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Optional

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from xase.client import XaseClient
from xase.errors import XaseError
from xase.otel.mapping import DEFAULT_MAPPING, Span, SpanMapping, span_record

__all__ = ["XaseSpanExporter", "from_readable"]

log = logging.getLogger("xase.otel")


def _hex(value: int, digits: int) -> str:
    return format(value, f"0{digits}x")


def from_readable(span: ReadableSpan) -> Span:
    """The shared form of a span the OpenTelemetry SDK finished."""
    context = span.get_span_context()
    assert context is not None
    return Span(
        name=span.name,
        trace_id=_hex(context.trace_id, 32),
        span_id=_hex(context.span_id, 16),
        parent_span_id=_hex(span.parent.span_id, 16) if span.parent is not None else None,
        kind=span.kind.name,
        status=span.status.status_code.name,
        start_ns=span.start_time or 0,
        end_ns=span.end_time or 0,
        attributes=dict(span.attributes or {}),
        events=[(event.name, dict(event.attributes or {})) for event in span.events],
        resource=dict(span.resource.attributes),
        scope=span.instrumentation_scope.name if span.instrumentation_scope is not None else "",
    )


class XaseSpanExporter(SpanExporter):
    """Records each decision span (`mapping.select`) through an `XaseClient`: the one given, or one of its own
    made from `client_options` (`api_key`, `base_url`, `spool_path`, ...; unless given: queue_full_policy "spill"
    with a spool, else "block" for up to 30 s, and no runtime context: the span's resource says where it ran)."""

    def __init__(self, client: Optional[XaseClient] = None, mapping: SpanMapping = DEFAULT_MAPPING, **client_options: Any) -> None:
        if client is not None and client_options:
            raise ValueError("give a client or client options, not both")
        self._owned = client is None
        defaults = {"queue_full_policy": "spill" if client_options.get("spool_path") else "block", "block_timeout": 30.0,
                    "capture_runtime_context": False}  # fmt: skip
        self.client = client or XaseClient(**{**defaults, **client_options})
        self.mapping = mapping

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = SpanExportResult.SUCCESS
        for span in spans:
            record = span_record(from_readable(span), self.mapping)
            if record is None:
                continue
            try:
                self.client.record(record)
            except XaseError as failure:  # a span the ledger could never accept; the others still go
                log.warning("xase: span %s not recorded: %s", record.get("transaction_id"), failure)
                result = SpanExportResult.FAILURE
        return result

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Whether every record queued so far was delivered (or failed) within the time given."""
        try:
            self.client.flush(timeout_s=timeout_millis / 1000)
        except XaseError:
            return False
        return True

    def shutdown(self) -> None:
        if self._owned:
            self.client.close()
