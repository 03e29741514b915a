"""`xase-witness`: run a witness.

    xase-witness init --key witness.pem --name witness.example.com/w1     # prints the witness's vkey (0x04)
    xase-witness init --kms-key-id alias/xase-witness --name ...          # or a key in AWS KMS (the [kms] extra)
    xase-witness serve --key witness.pem --name witness.example.com/w1 --state witness.db \\
        --log "ledger.example.com/log/ten_...+1a2b3c4d+AQ..."  [--log ...] [--host 127.0.0.1 --port 7380]

Each --log is the vkey of a log to follow (`GET /log/keys`, the Ed25519 one): its name is the log's origin. The
witness cosigns a checkpoint of a log it follows only when it is consistent with the last one it cosigned.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from xase import note
from xase.keys import KmsEd25519Key, KmsKeyError, ed25519_key_file
from xase.witness.protocol import Witness
from xase.witness.server import serve
from xase.witness.state import WitnessState

__all__ = ["main"]


def _key(args: argparse.Namespace, create: bool) -> note.Ed25519Signer:
    """The witness's key: in AWS KMS (--kms-key-id) or in a PEM file (--key), created by `init` if absent."""
    if args.kms_key_id:
        return KmsEd25519Key(args.kms_key_id, what="cosignature")
    return ed25519_key_file(Path(args.key), create=create)


def _logs(vkeys: Sequence[str]) -> dict[str, list[note.Verifier]]:
    logs: dict[str, list[note.Verifier]] = {}
    for vkey in vkeys:
        verifier = note.parse_vkey(vkey)
        if verifier.key_type == note.COSIGNATURE_V1:
            raise ValueError(f"--log {vkey[:60]}...: a cosigner's key, not a log's")
        logs.setdefault(verifier.name, []).append(verifier)
    return logs


def _init(args: argparse.Namespace) -> int:
    print(note.cosigner_verifier(args.name, _key(args, create=True).public_key()).vkey)
    return 0


def _serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    witness = Witness(args.name, _key(args, create=False), _logs(args.log), WitnessState(args.state))
    server = serve(witness, args.host, args.port, args.prefix)
    if args.port_file:
        Path(args.port_file).write_text(str(server.server_address[1]))
    print(f"xase-witness {witness.verifier.vkey} on http://{args.host}:{server.server_address[1]}{args.prefix}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        witness.state.close()
    return 0


def _key_arguments(parser: argparse.ArgumentParser) -> None:
    key = parser.add_mutually_exclusive_group(required=True)
    key.add_argument("--key", metavar="PEM", help="the witness's Ed25519 private key file")
    key.add_argument("--kms-key-id", metavar="ID", help="an AWS KMS key (ECC_NIST_EDWARDS25519, SIGN_VERIFY) instead: its id, ARN or alias")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xase-witness", description="A C2SP tlog-witness for Xase logs.")
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="create the witness's Ed25519 key (if absent) and print its vkey")
    _key_arguments(init)
    init.add_argument("--name", required=True, help="the witness's name, e.g. witness.example.com/w1")
    init.set_defaults(handler=_init)
    run = commands.add_parser("serve", help="serve add-checkpoint")
    _key_arguments(run)
    run.add_argument("--name", required=True)
    run.add_argument("--state", required=True, metavar="SQLITE", help="where the last checkpoint cosigned per log is kept")
    run.add_argument("--log", action="append", required=True, metavar="VKEY", help="a log to follow: its note verifier key (repeatable)")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=7380)
    run.add_argument("--port-file", help="write the port here once listening (for --port 0)")
    run.add_argument("--prefix", default="", help="the submission prefix, e.g. /witness")
    run.set_defaults(handler=_serve)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except (OSError, ValueError, note.NoteError, KmsKeyError) as problem:
        print(f"xase-witness: {problem}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
