"""Which OpenTelemetry spans are decisions, and the record each one becomes: the one mapping that the SDK's
`XaseSpanExporter` and the ledger's OTLP endpoint (`POST /v1/traces`) share, so both give the same records.

A span is a decision when it has a `gen_ai.operation.name` (the GenAI semantic conventions: chat, embeddings,
retrieval, invoke_agent, execute_tool, ...) or an `xase.policy` attribute. Its record:

    transaction_id   otel:<trace id>:<span id>       (a re-sent span is an idempotent replay, never a second record)
    policy           xase.policy, else the agent's name (invoke_agent), the tool's (execute_tool), the requested model
    policy_version   xase.policy_version, else gen_ai.response.model, else gen_ai.agent.version
    decision_type    xase.decision_type, else gen_ai.operation.name
    confidence       xase.confidence (a number in 0..1)
    processing_time  the span's duration, in milliseconds
    input            {"request": every gen_ai.request.* attribute, "messages": the prompt, "tool_arguments": ...}
    output           {"response": id, model, finish reasons, "messages": the completion, "tool_result": ..., "status"}
    context          {"otel": trace and span ids, parent, name, kind, status, resource, scope; "gen_ai": model,
                      provider, usage, conversation, agent and tool ids} and the references a span names:
                      xase.retrieval -> "retrieval", xase.data_access -> "data_access",
                      xase.cxdb.context_id / turn_id / turn_hash -> "cxdb" (docs/references.md)

Input and output leave as commitments (SHA-256 of their RFC 8785 form) unless `store_payload`. The prompt and the
completion are in them only when the instrumentation captured content (`gen_ai.input.messages` and
`gen_ai.output.messages`, `gen_ai.system_instructions`, the legacy `gen_ai.prompt.N.*` / `gen_ai.completion.N.*`
attributes, or the `gen_ai.*.message` and `gen_ai.choice` span events); otherwise the commitment covers the
request's parameters only. `span_record(span)["input"]` is what to hash to check a commitment later.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from xase import wire
from xase._payload import QueuedRecord, snapshot, wire_item
from xase.types import RecordPayload

__all__ = ["DEFAULT_MAPPING", "Span", "SpanMapping", "is_decision", "span_record", "transaction_id", "wire_record"]

MAX_LABEL = 255  # policy ids, versions, decision types: the ledger's label cap
_SAFE_INT = 2**53
_INDEXED = re.compile(r"gen_ai\.(prompt|completion)\.(\d+)\.(\w+)")
_CONTEXT_KEYS = ("gen_ai.provider.name", "gen_ai.system", "gen_ai.request.model", "gen_ai.response.model", "gen_ai.response.id",
                 "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.conversation.id", "gen_ai.agent.id",
                 "gen_ai.agent.name", "gen_ai.tool.name", "gen_ai.tool.call.id", "gen_ai.tool.type", "gen_ai.data_source.id",
                 "gen_ai.output.type")  # fmt: skip
_MESSAGE_EVENTS = ("gen_ai.system.message", "gen_ai.user.message", "gen_ai.assistant.message", "gen_ai.tool.message")


@dataclass(frozen=True)
class Span:
    """A finished span as both paths see it: from the SDK's `ReadableSpan` or from an OTLP request."""

    name: str
    trace_id: str  # 32 lowercase hex digits
    span_id: str  # 16
    start_ns: int
    end_ns: int
    attributes: Mapping[str, Any]
    parent_span_id: Optional[str] = None
    kind: str = "INTERNAL"
    status: str = "UNSET"  # UNSET, OK or ERROR
    events: Sequence[tuple[str, Mapping[str, Any]]] = ()
    resource: Mapping[str, Any] = field(default_factory=dict)
    scope: str = ""


def is_decision(span: Span) -> bool:
    """The default choice: GenAI spans, and any span with an `xase.policy` attribute."""
    return "gen_ai.operation.name" in span.attributes or "xase.policy" in span.attributes


@dataclass(frozen=True)
class SpanMapping:
    """How spans become records: which are decisions (`select`), the policy when a span names none, and whether
    input and output are stored rather than committed to (`store_payload`)."""

    select: Callable[[Span], bool] = is_decision
    default_policy: str = "genai"
    store_payload: bool = False


DEFAULT_MAPPING = SpanMapping()


def transaction_id(span: Span) -> str:
    return f"otel:{span.trace_id}:{span.span_id}"


def span_record(span: Span, mapping: SpanMapping = DEFAULT_MAPPING) -> Optional[RecordPayload]:
    """The record of a decision span, or None for a span that is not one."""
    if not mapping.select(span):
        return None
    attributes = {key: _plain(value) for key, value in span.attributes.items()}
    operation = _label(attributes.get("gen_ai.operation.name"))
    record: RecordPayload = {
        "transaction_id": transaction_id(span),
        "policy": _policy(attributes, operation) or mapping.default_policy,
        "input": _input(attributes, span.events),
        "output": _output(attributes, span),
        "context": _context(attributes, span),
        "processing_time": max(0, span.end_ns - span.start_ns) / 1e6,
        "store_payload": mapping.store_payload,
    }
    version = _first_label(attributes, "xase.policy_version", "gen_ai.response.model", "gen_ai.agent.version")
    if version:
        record["policy_version"] = version
    decision_type = _first_label(attributes, "xase.decision_type") or operation
    if decision_type:
        record["decision_type"] = decision_type
    confidence = attributes.get("xase.confidence")
    if isinstance(confidence, (int, float)) and not isinstance(confidence, bool) and 0 <= confidence <= 1:
        record["confidence"] = float(confidence)
    return record


def wire_record(record: RecordPayload) -> dict[str, Any]:
    """The record as `POST /records/batch` carries it, as an `XaseClient` without an HMAC key or runtime context
    sends it: what the ledger's OTLP endpoint appends. ValidationError (an XaseError) when it is not a record."""
    return wire_item(QueuedRecord(snapshot(record), None), None, None)


def _plain(value: Any) -> Any:
    """An attribute value as JSON evidence can hold it exactly: sequences as lists, key-value lists as objects,
    bytes as hex; integers beyond ±2^53 and non-finite floats as their text."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        return value if -_SAFE_INT <= value <= _SAFE_INT else str(value)
    if kind is float:
        return value if math.isfinite(value) else str(value)
    if kind is list or kind is tuple:
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):  # an OTLP key-value list, or JSON an attribute held
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, int):  # bool and int subclasses
        return _plain(int(value))
    return str(value)


def _label(value: Any) -> Optional[str]:
    return value if wire.is_label(value, MAX_LABEL) else None


def _first_label(attributes: Mapping[str, Any], *keys: str) -> Optional[str]:
    for key in keys:
        found = _label(attributes.get(key))
        if found:
            return found
    return None


def _policy(attributes: Mapping[str, Any], operation: Optional[str]) -> Optional[str]:
    by_operation = {"invoke_agent": "gen_ai.agent.name", "create_agent": "gen_ai.agent.name", "execute_tool": "gen_ai.tool.name"}
    keys = ["xase.policy", *([by_operation[operation]] if operation in by_operation else []), "gen_ai.request.model"]
    return _first_label(attributes, *keys)


def _decoded(value: Any) -> Any:
    """A JSON-string attribute (gen_ai.input.messages) as the structure it encodes; anything else unchanged."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return _plain(json.loads(value))
        except (ValueError, RecursionError):
            return value
    return value


def _indexed(attributes: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    """OpenLLMetry's flattened messages: gen_ai.prompt.0.role, gen_ai.prompt.0.content, ..."""
    messages: dict[int, dict[str, Any]] = {}
    for key, value in attributes.items():
        found = _INDEXED.fullmatch(key)
        if found and found.group(1) == kind:
            messages.setdefault(int(found.group(2)), {})[found.group(3)] = value
    return [messages[index] for index in sorted(messages)]


def _events(events: Sequence[tuple[str, Mapping[str, Any]]], names: Sequence[str]) -> list[dict[str, Any]]:
    return [{"event": name, **{key: _decoded(_plain(value)) for key, value in attributes.items()}} for name, attributes in events if name in names]


def _input(attributes: Mapping[str, Any], events: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    found: dict[str, Any] = {"request": {key.removeprefix("gen_ai.request."): value for key, value in sorted(attributes.items())
                                         if key.startswith("gen_ai.request.")}}  # fmt: skip
    messages = _decoded(attributes.get("gen_ai.input.messages")) or _indexed(attributes, "prompt") or _events(events, _MESSAGE_EVENTS)
    if messages:
        found["messages"] = messages
    for key, name in (("gen_ai.system_instructions", "system_instructions"), ("gen_ai.tool.call.arguments", "tool_arguments"),
                      ("gen_ai.retrieval.query.text", "query")):  # fmt: skip
        if key in attributes:
            found[name] = _decoded(attributes[key])
    return found


def _output(attributes: Mapping[str, Any], span: Span) -> dict[str, Any]:
    response = {key.removeprefix("gen_ai.response."): value for key, value in sorted(attributes.items()) if key.startswith("gen_ai.response.")}
    found: dict[str, Any] = {"response": response, "status": span.status}
    messages = _decoded(attributes.get("gen_ai.output.messages")) or _indexed(attributes, "completion") or _events(span.events, ("gen_ai.choice",))
    if messages:
        found["messages"] = messages
    if "gen_ai.tool.call.result" in attributes:
        found["tool_result"] = _decoded(attributes["gen_ai.tool.call.result"])
    return found


def _context(attributes: Mapping[str, Any], span: Span) -> dict[str, Any]:
    otel: dict[str, Any] = {"trace_id": span.trace_id, "span_id": span.span_id, "name": span.name, "kind": span.kind, "status": span.status}
    if span.parent_span_id:
        otel["parent_span_id"] = span.parent_span_id
    if span.scope:
        otel["scope"] = span.scope
    resource = {key: _plain(value) for key, value in span.resource.items() if key.startswith(("service.", "deployment.", "host.name"))}
    if resource:
        otel["resource"] = dict(sorted(resource.items()))
    context: dict[str, Any] = {"otel": otel}
    gen_ai = {key.removeprefix("gen_ai."): attributes[key] for key in _CONTEXT_KEYS if key in attributes}
    if gen_ai:
        context["gen_ai"] = gen_ai
    for member in ("retrieval", "data_access"):
        if f"xase.{member}" in attributes:
            context[member] = attributes[f"xase.{member}"]
    turn = {name: attributes[f"xase.cxdb.{name}"] for name in ("context_id", "turn_id", "turn_hash") if f"xase.cxdb.{name}" in attributes}
    if turn:
        context["cxdb"] = {name: str(value) if name != "turn_hash" else value for name, value in turn.items()}
    return context
