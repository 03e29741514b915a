"""POST /v1/traces: OTLP/HTTP traces in, one record with a receipt per decision span (`xase.otel.mapping`).

Any OTLP exporter or an OpenTelemetry Collector sends here: `OTEL_EXPORTER_OTLP_ENDPOINT=<ledger>/api/xase/v1`,
`OTEL_EXPORTER_OTLP_HEADERS=X-API-Key=xase_pk_...`. Protobuf or JSON, gzip or not. Spans that are not decisions are
accepted and left out; a decision span that cannot be a record is counted in the answer's partial success. Each
record's transaction id is the span's (`otel:<trace id>:<span id>`), so a retried request replays, never doubles.
"""

from __future__ import annotations

from typing import Union

from flask import Blueprint, Response, request

from ledger_service.errors import LedgerError
from ledger_service.evidence import otlp
from ledger_service.evidence.intake import RecordInput, parse_record
from ledger_service.evidence.ledger import current_ledger
from ledger_service.web import PREFIX, body_bytes, principal, state
from xase.errors import XaseError
from xase.otel.mapping import span_record, wire_record

blueprint = Blueprint("otlp", __name__, url_prefix=PREFIX)
_REPORTED = 5  # problems named in the answer's error message


@blueprint.post("/v1/traces")
def export_traces() -> Response:
    caller = principal("records:write")
    encoding = otlp.encoding_of(request.mimetype)
    items: list[Union[RecordInput, LedgerError]] = []
    problems: list[str] = []
    for span in otlp.decode(body_bytes(), encoding):
        try:
            if isinstance(span, otlp.BadSpan):
                raise span
            record = span_record(span)
            if record is not None:
                items.append(parse_record(wire_record(record)))
        except (otlp.BadSpan, XaseError, LedgerError) as problem:
            problems.append(str(problem))
    size = state().settings.max_batch_size
    for start in range(0, len(items), size):  # a block per part; a retried request replays the parts already chained
        for outcome in current_ledger().append(caller.tenant_id, items[start : start + size]):
            if outcome.error is not None:
                problems.append(outcome.error.message)
    message = "; ".join(problems[:_REPORTED]) + (f"; and {len(problems) - _REPORTED} more" if len(problems) > _REPORTED else "")
    body, content_type = otlp.partial_success(encoding, len(problems), message)
    return Response(body, status=200, content_type=content_type)
