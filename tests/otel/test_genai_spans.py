"""Evidence from OpenTelemetry GenAI spans, against the real ecosystem on loopback: the official `openai` client
calls a small fake of the Chat Completions API, `opentelemetry-instrumentation-openai-v2` traces it, and the spans
reach the ledger (a) through `XaseSpanExporter` and (b) through `opentelemetry-exporter-otlp-proto-http` to
`POST /v1/traces`. Each path writes to a tenant of its own, so the two records of one span can be compared."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

openai = pytest.importorskip("openai", reason="the dev extra (openai, opentelemetry-*) is not installed")
pytest.importorskip("opentelemetry.instrumentation.openai_v2", reason="opentelemetry-instrumentation-openai-v2 is not installed")

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from tests.conftest import Api, LedgerProcess, ScriptedServer  # noqa: E402
from xase import evidence  # noqa: E402
from xase.otel import XaseSpanExporter, span_record  # noqa: E402
from xase.otel.exporter import from_readable  # noqa: E402
from xase.otel.mapping import transaction_id  # noqa: E402

SECRET_PROMPT = "Applicant 4471 earns 52,000 a year and asks for 9,000: approve?"
COMPLETION = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1_800_000_000, "model": "gpt-4o-mini-2024-07-18",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "APPROVED: income covers the loan."}, "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 21, "completion_tokens": 8, "total_tokens": 29}}  # fmt: skip
SAME = ("transaction_id", "policy_id", "policy_version", "decision_type", "confidence", "processing_time_ms", "input_hash", "output_hash",
        "context_hash", "commitment", "payload_ref")  # every member of a record body but its tenant's and its place in the chain  # fmt: skip


@dataclass
class Traced:
    provider: TracerProvider
    spans: InMemorySpanExporter
    chat: Any  # openai.OpenAI
    direct: Api  # the tenant XaseSpanExporter writes to
    otlp: Api  # the tenant the OTLP exporter writes to
    ledger: LedgerProcess
    exporter: XaseSpanExporter

    def flushed(self) -> list[ReadableSpan]:
        assert self.provider.force_flush(30_000) and self.exporter.force_flush(30_000)  # SimpleSpanProcessor does not flush its exporter
        return list(self.spans.get_finished_spans())

    def records(self, span: ReadableSpan) -> tuple[dict[str, Any], dict[str, Any]]:
        tx = transaction_id(from_readable(span))
        direct, otlp = self.direct.get(f"/records/{tx}"), self.otlp.get(f"/records/{tx}")
        assert direct.status_code == 200 and otlp.status_code == 200, (direct.text, otlp.text)
        return {**direct.json()["record"], "context": direct.json()["context"]}, {**otlp.json()["record"], "context": otlp.json()["context"]}


@pytest.fixture(params=["no content", "span_only"])
def traced(ledger: LedgerProcess, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Traced]:
    if request.param != "no content":
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", request.param)
    fake = ScriptedServer(lambda _s: (200, {"Content-Type": "application/json"}, json.dumps(COMPLETION).encode()))
    direct = Api(ledger, ledger.new_api_key(scopes=["records:write", "records:read", "contexts"]))
    otlp = Api(ledger, ledger.new_api_key())
    provider = TracerProvider(resource=Resource.create({"service.name": "loan-desk"}))
    memory = InMemorySpanExporter()
    exporter = XaseSpanExporter(api_key=direct.key, base_url=ledger.base_url)
    for processor in (memory, exporter, OTLPSpanExporter(endpoint=ledger.base_url + "/v1/traces", headers={"X-API-Key": otlp.key})):
        provider.add_span_processor(SimpleSpanProcessor(processor))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield Traced(provider, memory, openai.OpenAI(api_key="sk-test", base_url=fake.url + "/v1", max_retries=0), direct, otlp, ledger, exporter)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
        fake.stop()


def _ask(traced: Traced) -> None:
    answer = traced.chat.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": SECRET_PROMPT}], temperature=0)
    assert answer.choices[0].message.content == "APPROVED: income covers the loan."


def test_every_chat_call_is_the_same_verified_record_by_both_paths(traced: Traced) -> None:
    _ask(traced)
    (span,) = traced.flushed()
    direct, otlp = traced.records(span)
    assert {key: direct.get(key) for key in SAME} == {key: otlp.get(key) for key in SAME}
    assert direct["policy_id"] == "gpt-4o-mini" and direct["decision_type"] == "chat" and direct["policy_version"] == "gpt-4o-mini-2024-07-18"
    context = direct["context"]
    assert context["gen_ai"]["usage.input_tokens"] == 21 and context["otel"]["resource"]["service.name"] == "loan-desk"
    mapped = span_record(from_readable(span))
    assert mapped is not None and direct["input_hash"] == evidence.commitment(mapped["input"])  # what to hash to check it later
    captured = SECRET_PROMPT in json.dumps(mapped["input"])
    assert captured == ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT" in os.environ)
    assert SECRET_PROMPT not in traced.ledger.stored_text()  # a commitment, never the prompt
    for api, record in ((traced.direct, direct), (traced.otlp, otlp)):
        evidence.verify_receipt(api.get(f"/receipts/{record['transaction_id']}").json())


def test_an_agent_trace_links_its_tool_calls_retrieval_chat_and_context_turn(traced: Traced) -> None:
    root = traced.ledger.base_url.removesuffix("/api/xase/v1")
    headers = {"X-API-Key": traced.direct.key}
    import requests

    context = requests.post(f"{root}/cxdb/v1/contexts/create", json={"base_turn_id": "0"}, headers=headers, timeout=10).json()
    turn = requests.post(f"{root}/cxdb/v1/contexts/{context['context_id']}/append", headers=headers, timeout=10,
                         json={"type_id": "com.example.Message", "type_version": 1, "data": {"role": "user", "text": "loan 4471"}}).json()  # fmt: skip
    tracer = traced.provider.get_tracer("loan-agent")
    agent_attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "loan-agent", "gen_ai.agent.id": "agt_1",
                        "gen_ai.conversation.id": "conv_9", "xase.cxdb.context_id": context["context_id"],
                        "xase.cxdb.turn_id": turn["turn_id"], "xase.cxdb.turn_hash": turn["turn_hash"]}  # fmt: skip
    with tracer.start_as_current_span("invoke_agent loan-agent", attributes=agent_attributes):
        with tracer.start_as_current_span(
            "retrieval lending-policies", attributes={"gen_ai.operation.name": "retrieval", "gen_ai.data_source.id": "kb_lending"}
        ):
            pass
        tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "credit_score", "gen_ai.tool.call.id": "call_1",
                "gen_ai.tool.call.arguments": '{"applicant": 4471}', "gen_ai.tool.call.result": '{"score": 712}'}  # fmt: skip
        with tracer.start_as_current_span("execute_tool credit_score", attributes=tool):
            pass
        _ask(traced)
        with tracer.start_as_current_span("GET /applicants/4471"):
            pass  # not a decision: no record
    spans = {span.name: span for span in traced.flushed()}
    agent = spans["invoke_agent loan-agent"]
    records = {}
    for name, span in spans.items():
        if name.startswith("GET"):
            assert traced.direct.get(f"/records/{transaction_id(from_readable(span))}").status_code == 404
            continue
        direct, otlp = traced.records(span)
        assert {key: direct.get(key) for key in SAME} == {key: otlp.get(key) for key in SAME}, name
        records[direct["decision_type"]] = direct
    assert set(records) == {"invoke_agent", "retrieval", "execute_tool", "chat"}
    agent_id = format(agent.get_span_context().span_id, "016x")
    for kind in ("retrieval", "execute_tool", "chat"):
        otel = records[kind]["context"]["otel"]
        assert otel["parent_span_id"] == agent_id and otel["trace_id"] == records["invoke_agent"]["context"]["otel"]["trace_id"]
    assert records["invoke_agent"]["policy_id"] == "loan-agent" and records["execute_tool"]["policy_id"] == "credit_score"
    assert records["invoke_agent"]["context"]["cxdb"] == {"context_id": context["context_id"], "turn_id": turn["turn_id"], "turn_hash": turn["turn_hash"]}
    verified = traced.direct.get("/verify").json()
    assert verified["ok"] is True, verified


def test_the_example_runs_as_written(ledger: LedgerProcess) -> None:
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "XASE_API_KEY": ledger.new_api_key(), "XASE_BASE_URL": ledger.base_url}
    env.pop("OPENAI_API_KEY", None)
    script = Path(__file__).resolve().parents[2] / "examples" / "otel_genai.py"
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "model answered: APPROVED" in done.stdout and done.stdout.count("receipt verified:") == 3, done.stdout
