"""Evidence from the OpenTelemetry spans an LLM application already emits: every chat call, tool call and agent
step becomes a signed record, with only hashes of the prompts and completions leaving the process.

    pip install 'xase-sdk[otel]' opentelemetry-instrumentation-openai-v2 openai
    XASE_API_KEY=xase_pk_... XASE_BASE_URL=http://127.0.0.1:3000/api/xase/v1 python examples/otel_genai.py

With OPENAI_API_KEY (and OPENAI_BASE_URL, if not OpenAI's) it calls the real API; without, it starts a stand-in for
the Chat Completions API on loopback, so it runs anywhere. The same spans could instead go to the ledger's OTLP
endpoint from any OTLP exporter or Collector: OTEL_EXPORTER_OTLP_ENDPOINT=$XASE_BASE_URL,
OTEL_EXPORTER_OTLP_HEADERS=X-API-Key=$XASE_API_KEY.
"""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from xase import XaseClient, verify_receipt
from xase.otel import XaseSpanExporter, span_record
from xase.otel.exporter import from_readable


def stand_in_chat_api() -> str:
    """A loopback server answering every Chat Completions request with one fixed completion; its base URL."""

    class Answer(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps({"id": "chatcmpl-stand-in", "object": "chat.completion", "created": 1_800_000_000, "model": "gpt-4o-mini-2024-07-18",
                               "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "APPROVED"}}],
                               "usage": {"prompt_tokens": 30, "completion_tokens": 1, "total_tokens": 31}}).encode()  # fmt: skip
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/v1"


def main() -> None:
    exporter = XaseSpanExporter()  # XASE_API_KEY, XASE_BASE_URL; records hashes of prompts and completions only
    provider = TracerProvider(resource=Resource.create({"service.name": "loan-desk"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # lossless: the client queues, never drops
    finished = InMemorySpanExporter()  # only to show this run's receipts at the end
    provider.add_span_processor(SimpleSpanProcessor(finished))
    OpenAIInstrumentor().instrument(tracer_provider=provider)
    if os.environ.get("OPENAI_API_KEY"):
        llm = openai.OpenAI()
    else:
        llm = openai.OpenAI(api_key="stand-in", base_url=stand_in_chat_api())
    tracer = provider.get_tracer("loan-desk")

    agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "loan-agent", "gen_ai.conversation.id": "conv_4471"}
    with tracer.start_as_current_span("invoke_agent loan-agent", attributes=agent):
        tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "credit_score", "gen_ai.tool.call.id": "call_1",
                "gen_ai.tool.call.arguments": '{"applicant": 4471}', "gen_ai.tool.call.result": '{"score": 712}'}  # fmt: skip
        with tracer.start_as_current_span("execute_tool credit_score", attributes=tool):
            pass
        answer = llm.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Applicant 4471, score 712, asks for 9,000. Approve?"}], temperature=0
        )
        print("model answered:", answer.choices[0].message.content)
    exporter.force_flush()

    with XaseClient() as client:
        for span in finished.get_finished_spans():
            record = span_record(from_readable(span))  # None for a span that is no decision
            if record is not None:
                receipt = client.get_receipt(str(record["transaction_id"]))
                verify_receipt(receipt)  # offline: hashes and the ledger's signature
                print(f"receipt verified: {span.name} -> {record['transaction_id']} ({record.get('decision_type')}, {record['policy']})")
    provider.shutdown()


if __name__ == "__main__":
    main()
