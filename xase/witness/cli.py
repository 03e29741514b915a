"""`xase-witness`: run a witness.

    xase-witness init --key witness.pem --name witness.example.com/w1     # prints the witness's vkey (0x04)
    xase-witness serve --key witness.pem --name witness.example.com/w1 --state witness.db \\
        --log "ledger.example.com/log/ten_...+1a2b3c4d+AQ..."  [--log ...] [--host 127.0.0.1 --port 7380]

Each --log is the vkey of a log to follow (`GET /log/keys`, the Ed25519 one): its name is the log's origin. The
witness cosigns a checkpoint of a log it follows only when it is consistent with the last one it cosigned.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from xase import note
from xase.witness.protocol import Witness
from xase.witness.server import serve
from xase.witness.state import WitnessState

__all__ = ["main"]


def _create_key(path: Path) -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never overwrite a witness's identity
    with os.fdopen(fd, "wb") as out:
        out.write(pem)


def _load_key(path: Path) -> ed25519.Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return key


def _logs(vkeys: Sequence[str]) -> dict[str, list[note.Verifier]]:
    logs: dict[str, list[note.Verifier]] = {}
    for vkey in vkeys:
        verifier = note.parse_vkey(vkey)
        if verifier.key_type == note.COSIGNATURE_V1:
            raise ValueError(f"--log {vkey[:60]}...: a cosigner's key, not a log's")
        logs.setdefault(verifier.name, []).append(verifier)
    return logs


def _init(args: argparse.Namespace) -> int:
    path = Path(args.key)
    if not path.exists():
        _create_key(path)
    print(note.cosigner_verifier(args.name, _load_key(path).public_key()).vkey)
    return 0


def _serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    witness = Witness(args.name, _load_key(Path(args.key)), _logs(args.log), WitnessState(args.state))
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xase-witness", description="A C2SP tlog-witness for Xase logs.")
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="create the witness's Ed25519 key (if absent) and print its vkey")
    init.add_argument("--key", required=True, metavar="PEM")
    init.add_argument("--name", required=True, help="the witness's name, e.g. witness.example.com/w1")
    init.set_defaults(handler=_init)
    run = commands.add_parser("serve", help="serve add-checkpoint")
    run.add_argument("--key", required=True, metavar="PEM")
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
    except (OSError, ValueError, note.NoteError) as problem:
        print(f"xase-witness: {problem}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
