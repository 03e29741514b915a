"""`xase datasets ...` and `xase grants ...`: the data holder's and the consumer's commands.

    xase datasets create cardio-2024 --description "..."
    xase datasets upload cardio-2024 records.jsonl            # progress bar on stderr
    xase datasets index cardio-2024 age patient_id            # filters on these fields read an index
    xase datasets grant cardio-2024 ai-lab --purpose model-training --max-duration 30d
    xase datasets grants cardio-2024
    xase datasets revoke cardio-2024 grant_... --reason "study ended" --by dpo@example.com
    xase datasets accesses cardio-2024 [--since 2026-12-01T00:00:00Z] [--session sess_...]
    xase grants [--decline GRANT_ID]                            # what was shared with your tenant

The API key and ledger come from --api-key / --base-url or XASE_API_KEY / XASE_BASE_URL.
Answers are printed as JSON (one object per line for the access log), with every
non-ASCII or control character escaped, so nothing printed can drive a terminal.
Exit status: 0 done; 2 invalid input, found here or by the ledger; 1 any other refusal or failure.
Errors go to stderr as `error: CODE: message` and their details.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

from xase.errors import ValidationError, XaseError
from xase.sessions import Client
from xase.wire import printable

__all__ = ["add_commands"]


def _show(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=True))


def _client(args: argparse.Namespace) -> Client:
    return Client(api_key=args.api_key, base_url=args.base_url)


def _create(client: Client, args: argparse.Namespace) -> None:
    _show(client.datasets.create(args.name, args.description).info)


def _show_dataset(client: Client, args: argparse.Namespace) -> None:
    _show(client.datasets.get(args.dataset).info)


def _upload(client: Client, args: argparse.Namespace) -> None:
    dataset = client.datasets.get(args.dataset)
    summary = dataset.upload(args.file, batch_size=args.batch_size, progress=not args.quiet)
    print(f"{summary.inserted} records stored, {summary.already_stored} already there, in {summary.requests} requests")


def _index(client: Client, args: argparse.Namespace) -> None:
    _show(client.datasets.get(args.dataset).index(args.field))


def _grant(client: Client, args: argparse.Namespace) -> None:
    _show(client.datasets.get(args.dataset).grant(args.tenant, args.purpose, args.max_duration))


def _grants_of_dataset(client: Client, args: argparse.Namespace) -> None:
    _show(client.datasets.get(args.dataset).grants())


def _revoke(client: Client, args: argparse.Namespace) -> None:
    dataset = client.datasets.get(args.dataset)
    if args.session:
        _show(dataset.revoke_session(args.target, reason=args.reason, revoked_by=args.by))
    else:
        _show(dataset.revoke(args.target, reason=args.reason, revoked_by=args.by))


def _accesses(client: Client, args: argparse.Namespace) -> None:
    for access in client.datasets.get(args.dataset).accesses(since=args.since, session_id=args.session, receipts=args.receipts):
        print(json.dumps(access, ensure_ascii=True, separators=(",", ":")))


def _grants_to_me(client: Client, args: argparse.Namespace) -> None:
    if args.decline:
        _show(client.decline_grant(args.decline))
    else:
        _show(client.grants())


def _run(action: Callable[[Client, argparse.Namespace], None]) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        try:
            with _client(args) as client:
                action(client, args)
        except XaseError as error:
            print(printable(f"error: {error.code}: {error.message}"), file=sys.stderr)
            if error.details:
                print(printable(f"details: {json.dumps(error.details, ensure_ascii=True)}"), file=sys.stderr)
            return 2 if isinstance(error, ValidationError) else 1
        except OSError as error:
            print(printable(f"error: {error}"), file=sys.stderr)
            return 2
        return 0

    return handler


def _connection_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--api-key", help="API key with the sessions scope (default: XASE_API_KEY)")
    options.add_argument("--base-url", help="the ledger's API root (default: XASE_BASE_URL, else http://localhost:3000/api/xase/v1)")
    return options


def add_commands(commands: Any) -> None:
    """Add `datasets` and `grants` to the `xase` command's subcommands."""
    connection = _connection_options()
    datasets = commands.add_parser("datasets", help="datasets your tenant holds: create, upload, grant, revoke, access log")
    actions = datasets.add_subparsers(dest="action", required=True)

    create = actions.add_parser("create", parents=[connection], help="create a dataset")
    create.add_argument("name")
    create.add_argument("--description", default="")
    create.set_defaults(handler=_run(_create))

    show = actions.add_parser("show", parents=[connection], help="a dataset and its record count")
    show.add_argument("dataset", help="id (ds_...) or name")
    show.set_defaults(handler=_run(_show_dataset))

    upload = actions.add_parser("upload", parents=[connection], help="upload a JSON Lines file (resumable: run it again)")
    upload.add_argument("dataset")
    upload.add_argument("file", help="one JSON object per line; give each a record_id to make the upload resumable")
    upload.add_argument("--batch-size", type=int, default=10_000, help="records per request (default 10000)")
    upload.add_argument("--quiet", action="store_true", help="no progress bar")
    upload.set_defaults(handler=_run(_upload))

    index = actions.add_parser("index", parents=[connection], help="index fields, so that filters on them read an index")
    index.add_argument("dataset")
    index.add_argument("field", nargs="+", help="a field path such as age or lab_results.glucose (at most 8)")
    index.set_defaults(handler=_run(_index))

    grant = actions.add_parser("grant", parents=[connection], help="let another tenant open sessions for these purposes")
    grant.add_argument("dataset")
    grant.add_argument("tenant", help="the consumer tenant (id or name)")
    grant.add_argument("--purpose", action="append", required=True, help="a purpose the consumer may state (repeatable)")
    grant.add_argument("--max-duration", default="30d", help="longest session, e.g. 1h, 30d (default 30d)")
    grant.set_defaults(handler=_run(_grant))

    grants = actions.add_parser("grants", parents=[connection], help="the dataset's grants")
    grants.add_argument("dataset")
    grants.set_defaults(handler=_run(_grants_of_dataset))

    revoke = actions.add_parser("revoke", parents=[connection], help="revoke a grant (its live sessions end), or one session")
    revoke.add_argument("dataset")
    revoke.add_argument("target", help="grant id, or session id with --session")
    revoke.add_argument("--session", action="store_true", help="TARGET is a session id: end that session only")
    revoke.add_argument("--reason", required=True)
    revoke.add_argument("--by", required=True, help="who revokes (kept as evidence)")
    revoke.set_defaults(handler=_run(_revoke))

    accesses = actions.add_parser("accesses", parents=[connection], help="every access to the dataset, newest first, as JSON Lines")
    accesses.add_argument("dataset")
    accesses.add_argument("--since", help="ISO 8601 time, e.g. 2026-12-01T00:00:00Z")
    accesses.add_argument("--session", help="one session's accesses only")
    accesses.add_argument("--no-receipts", dest="receipts", action="store_false", help="leave out each access's receipt")
    accesses.set_defaults(handler=_run(_accesses))

    to_me = commands.add_parser("grants", parents=[connection], help="grants made to your tenant")
    to_me.add_argument("--decline", metavar="GRANT_ID", help="refuse this grant")
    to_me.set_defaults(handler=_run(_grants_to_me))
