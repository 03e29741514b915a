"""Evidence from OpenTelemetry: `XaseSpanExporter` (the `[otel]` extra) records decision spans through an
`XaseClient`; `mapping` says which spans are decisions and the record each becomes, for the exporter and for the
ledger's OTLP endpoint alike."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xase.otel.mapping import DEFAULT_MAPPING, Span, SpanMapping, is_decision, span_record

if TYPE_CHECKING:
    from xase.otel.exporter import XaseSpanExporter

__all__ = ["DEFAULT_MAPPING", "Span", "SpanMapping", "XaseSpanExporter", "is_decision", "span_record"]


def __getattr__(name: str) -> Any:
    if name == "XaseSpanExporter":  # needs opentelemetry-sdk; the mapping alone does not
        from xase.otel.exporter import XaseSpanExporter

        return XaseSpanExporter
    raise AttributeError(name)
