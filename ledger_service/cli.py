"""`xase-ledger serve | init | create-api-key | verify | seal-contexts | export`."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any, Optional

from sqlalchemy import Engine

from ledger_service import auth, contexts, evidence, tenants, verification
from ledger_service.config import Settings
from ledger_service.db import current_revision, head_revision, make_engine, migrate, read_connection, write_transaction
from ledger_service.evidence import audit, tree, witnessing
from ledger_service.evidence.chain import register_signer
from ledger_service.evidence.signing import signer_for
from xase import segments, tlog
from xase.wire import printable


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "database_url", None):
        overrides["database_url"] = args.database_url
    if getattr(args, "signing_key", None):
        overrides["signing_key_path"] = args.signing_key
    return Settings.from_env(overrides)


def _open(settings: Settings) -> Engine:
    return make_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous, statement_timeout_ms=settings.statement_timeout_ms)


def _engine(settings: Settings) -> Engine:
    engine = _open(settings)
    migrate(engine)
    return engine


def _existing_engine(settings: Settings) -> Engine:
    """For the commands that only read (verify, export): never migrate, since an auditor may point them at a
    copy or a read-only replica; a schema that is not current is named instead."""
    engine = _open(settings)
    revision, head = current_revision(engine), head_revision()
    if revision != head:
        raise SystemExit(f"xase-ledger: {engine.url}: schema revision {revision or 'none'}, expected {head}: run `xase-ledger db upgrade` first")
    return engine


def _db(args: argparse.Namespace) -> int:
    settings = _settings(args)
    engine = _open(settings)
    if args.action == "upgrade":
        migrate(engine, args.revision)
        if current_revision(engine) == head_revision():
            _build_trees(engine)
    print(f"{settings.database_url}: schema revision {current_revision(engine) or 'none'}")
    return 0


def _build_trees(engine: Engine) -> None:
    """The log trees of chains older than them, with a progress line per organisation on stderr (resumable)."""
    from ledger_service.evidence import build_trees

    def progress(tenant_id: str, covered: int, size: int) -> None:
        done = covered * 40 // max(size, 1)
        line = f"\rlog tree {tenant_id}: [{'#' * done}{'.' * (40 - done)}] {covered:,}/{size:,} records"
        print(line, end="" if covered + tlog.TILE_WIDTH <= size else "\n", file=sys.stderr)

    built = build_trees(engine, progress)
    if built:
        print(f"log trees: {built:,} tiles written", file=sys.stderr)


_SERVER_ERROR_CODES = {400: "VALIDATION_ERROR", 408: "REQUEST_TIMEOUT", 414: "URI_TOO_LONG", 431: "HEADERS_TOO_LARGE"}


def _json_errors_handler() -> type:
    """The development server's request handler, answering what it refuses itself (a 414 for a request
    line over 64 KiB, a malformed request line) with the JSON error body too, never an HTML page."""
    from werkzeug.serving import WSGIRequestHandler

    class JsonErrors(WSGIRequestHandler):
        def send_error(self, code: int, message: Optional[str] = None, explain: Optional[str] = None) -> None:
            error_code = _SERVER_ERROR_CODES.get(code, "INTERNAL_ERROR" if code >= 500 else "HTTP_ERROR")
            text = message or self.responses.get(code, ("",))[0]
            request_id = "req_" + secrets.token_hex(8)
            body = json.dumps({"error": {"code": error_code, "type": error_code.lower(), "message": text, "details": {}, "request_id": request_id}})
            self.close_connection = True
            self.send_response(code, text)
            self.send_header("X-Request-Id", request_id)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(body.encode("ascii"))

    return JsonErrors


def _default_workers() -> int:
    """gunicorn processes when --workers is not given: one per core, at most 4. Measured with one SDK client
    (scripts/bench/e2e_throughput.py, 2 cores): as fast as the development server with one batch in flight,
    1.5x with two, and gunicorn keeps connections alive; more processes than cores only add memory."""
    return min(4, os.cpu_count() or 1)


def _serve(args: argparse.Namespace) -> int:
    from werkzeug.serving import make_server

    from ledger_service.app import create_app

    overrides = {name: value for name, value in (("host", args.host), ("port", args.port)) if value is not None}
    settings = _settings(args).replace(**overrides)
    workers = _default_workers() if args.workers is None else args.workers
    if workers:
        try:
            from ledger_service.serving import serve
        except ImportError:  # gunicorn runs on Unix only
            print("gunicorn is not available here: serving with the development server", file=sys.stderr)
        else:
            serve(settings, workers, args.threads, args.port_file)
            return 0
    server = make_server(settings.host, settings.port, create_app(settings), threaded=True, request_handler=_json_errors_handler())
    port = server.server_port
    if args.port_file:
        Path(args.port_file).write_text(str(port))

    def _stop(_signum: int, _frame: Optional[FrameType]) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    print(f"xase-ledger listening on http://{settings.host}:{port}/api/xase/v1 ({settings.database_url})", flush=True)
    try:
        server.serve_forever()
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        server.server_close()
    return 0


def _init(args: argparse.Namespace) -> int:
    settings = _settings(args)
    engine = _engine(settings)
    signer = signer_for(settings.kms_key_id, settings.signing_key_path)
    register_signer(engine, signer)
    with write_transaction(engine) as conn:
        admin_key = auth.ensure_admin_key(conn)
    print(f"database     {settings.database_url}", file=sys.stderr)
    print(f"signing key  {settings.signing_key_path} ({signer.key_id})", file=sys.stderr)
    if admin_key:
        print("admin key (shown once; keep it secret):", file=sys.stderr)
        print(admin_key)
    else:
        print("admin key    already created earlier (not shown again)", file=sys.stderr)
    return 0


def _create_api_key(args: argparse.Namespace) -> int:
    engine = _engine(_settings(args))
    with write_transaction(engine) as conn:
        tenant = tenants.get_or_create_tenant(conn, args.tenant)
        key = auth.create_api_key(conn, tenant["id"], args.name, args.scopes or auth.DEFAULT_SCOPES)
    print(printable(f"tenant {tenant['name']} ({tenant['id']}): key {key['id']} scopes {' '.join(key['scopes'])}"), file=sys.stderr)
    print(key["secret"])
    return 0


def _tenant_ids(engine: Engine, name: Optional[str]) -> list[str]:
    with read_connection(engine) as conn:
        if name is None:
            return [tenant["id"] for tenant in auth.list_tenants(conn)]
        tenant = auth.find_tenant(conn, name)
    if tenant is None:
        raise SystemExit(f"xase-ledger: tenant {name!r} not found")
    return [tenant["id"]]


PARALLEL_RECORDS = 20_000  # below this, starting processes costs more than it saves


def _verify_jobs(engine: Engine, tenant_id: str, asked: Optional[int]) -> int:
    if asked is not None:
        return asked
    with read_connection(engine) as conn:
        records = audit.stats(conn, tenant_id)["records"]
    return segments.default_jobs() if records >= PARALLEL_RECORDS else 1


def _verify(args: argparse.Namespace) -> int:
    """Exit 0: every tenant intact and every reference resolves; 1: a tenant BROKEN (or not verified to the end);
    3: intact, but references some decisions cite do not resolve."""
    settings = _settings(args)
    engine = _existing_engine(settings)
    witnesses = [witness.verifier for witness in witnessing.parse_witnesses(settings.witnesses)]  # their stored cosignatures are checked
    statuses = set()
    for tenant_id in _tenant_ids(engine, args.tenant):
        result = verification.verify_tenant(engine, tenant_id, jobs=_verify_jobs(engine, tenant_id, args.jobs), witnesses=witnesses)
        statuses.add(result.status)
        for line in _report_lines(result):
            print(printable(line))
    return 1 if statuses & {"BROKEN", "ERROR"} else 3 if "UNRESOLVED" in statuses else 0


def _report_lines(result: verification.TenantVerification) -> list[str]:
    tenant_id, chain, report = result.tenant_id, result.chain, result.contexts
    if result.failure is not None:
        return [f"{tenant_id}: ERROR, not verified to the end: {result.failure}"]
    lines = [f"{tenant_id}: OK ({chain['records']} records, {chain['blocks']} blocks)" if chain["ok"] else
             f"{tenant_id}: BROKEN at seq {chain['first_broken_seq']}: {chain['error']['message']}"]  # fmt: skip
    if report is not None and not report.ok:
        lines.append(f"{tenant_id}: contexts BROKEN: {report.error}")
    elif report is not None and (report.turns or report.contexts):
        lines.append(f"{tenant_id}: contexts OK ({report.turns} turns, {report.blobs} blobs, {report.contexts} contexts, "
                     f"{report.sealed_heads} sealed heads)")  # fmt: skip
    if chain.get("cosignatures_checked"):
        lines.append(f"{tenant_id}: cosignatures OK ({chain['cosignatures_checked']} by the witnesses of XASE_WITNESSES verified)")
    if result.claims:
        lines.append(f"{tenant_id}: UNRESOLVED references: {len(result.claims)} of {result.references} cited by decisions do not resolve "
                     "(the decisions' claims; the ledger's own data is not affected)")  # fmt: skip
        lines += [f"  seq {claim.seq} ({claim.transaction_id}): {claim.member}: {claim.message}" for claim in result.claims[: verification.MAX_LISTED_CLAIMS]]
    elif result.references:
        lines.append(f"{tenant_id}: references OK ({result.references} cited by decisions resolve)")
    return lines


def _seal_contexts(args: argparse.Namespace) -> int:
    """Seal every agent context head that moved since its last seal now (the server does it every
    XASE_CXDB_SEAL_INTERVAL seconds): before a shutdown, or from cron where the server's interval is off."""
    settings = _settings(args)
    engine = _engine(settings)
    ledger = evidence.Ledger.start(settings, engine, signer_for(settings.kms_key_id, settings.signing_key_path))
    print(f"sealed {contexts.seal_heads(engine, ledger)} context head(s)")
    return 0


def _export(args: argparse.Namespace) -> int:
    engine = _existing_engine(_settings(args))
    (tenant_id,) = _tenant_ids(engine, args.tenant)
    with open(args.output, "wb") as out:
        for line in audit.export_lines(engine, tenant_id):
            out.write(line)
    print(f"exported {tenant_id} to {args.output}", file=sys.stderr)
    return 0


def _witnesses(args: argparse.Namespace) -> int:
    """Each witness and organisation: the newest checkpoint, the newest the witness cosigned, how far behind."""
    settings = _settings(args)
    engine = _existing_engine(settings)
    witnesses = witnessing.parse_witnesses(settings.witnesses)
    if not witnesses:
        print("no witnesses configured (XASE_WITNESSES)")
        return 0
    for row in witnessing.Witnessing(engine, witnesses, tree.TileCache(16, 4)).state():
        since = f", {row['seconds_since']} s ago" if row["seconds_since"] is not None else ""
        print(printable(f"{row['witness']} {row['organisation']}: checkpoint {row['checkpoint']}, cosigned {row['cosigned']} "
                        f"({row['behind']} behind{since})"))  # fmt: skip
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xase-ledger", description="The Xase ledger service.")
    parser.add_argument("--database-url", help="overrides XASE_DATABASE_URL")
    parser.add_argument("--signing-key", help="overrides XASE_SIGNING_KEY_PATH")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the ledger: gunicorn, one worker process per core (at most 4)")
    serve.add_argument("--host", default=None, help="default XASE_HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default XASE_PORT or 3000; 0 picks a free port")
    serve.add_argument("--port-file", help="write the port actually bound to this file")
    serve.add_argument("--workers", type=int, default=None, help="gunicorn worker processes (default: one per core, at most 4); 0: the development server")
    serve.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker (default 8)")
    serve.set_defaults(handler=_serve)

    commands.add_parser("init", help="create (or migrate) the database, signing key and admin key").set_defaults(handler=_init)

    database = commands.add_parser("db", help="schema migrations (Alembic)")
    database.add_argument("action", choices=["upgrade", "current"])
    database.add_argument("revision", nargs="?", default="head")
    database.set_defaults(handler=_db)

    create = commands.add_parser("create-api-key", help="create an API key (and the tenant if new); prints the secret")
    create.add_argument("--tenant", required=True)
    create.add_argument("--name", default="")
    create.add_argument("--scopes", nargs="+", choices=sorted(auth.SCOPES))
    create.set_defaults(handler=_create_api_key)

    verify = commands.add_parser("verify", help="verify whole chains; exit 1 naming the first broken seq")
    verify.add_argument("--tenant", help="tenant id or name (default: every tenant)")
    verify.add_argument("--jobs", type=segments.jobs_argument, default=None, metavar="N",
                        help=f"processes per chain (default: one per core for chains of {PARALLEL_RECORDS:,} records or more)")  # fmt: skip
    verify.set_defaults(handler=_verify)

    commands.add_parser("seal-contexts", help="seal the agent context heads that moved into their tenants' chains, now").set_defaults(handler=_seal_contexts)

    commands.add_parser("witnesses", help="each witness's state: the newest checkpoint it cosigned, per organisation").set_defaults(handler=_witnesses)

    export = commands.add_parser("export", help="write a tenant's chain as a JSON Lines bundle")
    export.add_argument("--tenant", required=True)
    export.add_argument("-o", "--output", required=True)
    export.set_defaults(handler=_export)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
