"""add-checkpoint (C2SP tlog-witness): parse the request, check it in the order the protocol gives, cosign.

    old <size>\\n  <base64 proof hash>\\n ...  \\n  <signed checkpoint>

404 for a log the witness does not follow; 403 when no trusted key signed the checkpoint (or a trusted key's
signature fails); 400 for a body not of that form or an old size above the checkpoint's; 409 with the size last
cosigned (`text/x.tlog.size`) when the old size is not it; 422 when the empty tree's root is wrong, a proof comes
with old size 0, the proof does not hold, or the same size comes with another root; else 200 and one cosignature
line. Nothing is cosigned before its size is stored; a key in KMS that cannot sign just then is a 503 (the size
is stored, so the log's retry from it is cosigned).
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Optional

from xase import note, tlog
from xase.keys import KmsUnavailable
from xase.witness.state import Conflict, Seen, WitnessState

__all__ = ["MAX_BODY_BYTES", "Answer", "Witness"]

MAX_BODY_BYTES = 64 * 1024  # a checkpoint with many signatures and 63 proof lines fits in a few KiB
_MAX_PROOF = 63
_OLD = re.compile(r"old (0|[1-9][0-9]{0,18})")


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Witness:
    """A witness: its name and key, the logs it follows (origin -> the log's verifier keys), its state."""

    name: str
    key: note.Ed25519Signer
    logs: Mapping[str, Sequence[note.Verifier]]
    state: WitnessState
    clock: Callable[[], float] = field(default=time.time)

    @property
    def verifier(self) -> note.Verifier:
        return note.cosigner_verifier(self.name, self.key.public_key())

    def add_checkpoint(self, body: bytes) -> Answer:
        try:
            return self._add(body)
        except _Refused as refused:
            return Answer(refused.status, f"{refused}\n")
        except Conflict as conflict:
            return Answer(409, f"{conflict.size}\n", "text/x.tlog.size")

    def _add(self, body: bytes) -> Answer:
        old, proof, signed = _parse(body)
        try:
            text, _signatures = note.split_note(signed)
            checkpoint = note.parse_checkpoint(text)
        except note.NoteError as problem:
            raise _Refused(400, str(problem)) from None
        verifiers = self.logs.get(checkpoint.origin)
        if verifiers is None:
            raise _Refused(404, f"unknown log {checkpoint.origin[:200]!r}")
        try:
            note.open_note(signed, verifiers)
        except note.NoteError as problem:
            raise _Refused(403, str(problem)) from None
        if old > checkpoint.size:
            raise _Refused(400, f"old size {old} is above the checkpoint's {checkpoint.size}")
        if checkpoint.size == 0 and checkpoint.root != tlog.EMPTY_ROOT:
            raise _Refused(422, "a checkpoint of size 0 must have the empty tree's root")
        if old == 0 and proof:
            raise _Refused(422, "a proof from size 0 must be empty")

        def consistent(stored: Optional[Seen]) -> None:
            if stored is None or old == 0:
                return
            try:
                tlog.verify_consistency(old, checkpoint.size, stored.root, checkpoint.root, proof)
            except tlog.MerkleError as problem:
                raise _Refused(422, f"not consistent with the checkpoint of {old} cosigned before: {problem}") from None

        self.state.advance(checkpoint.origin, old, Seen(checkpoint.size, checkpoint.root, signed), consistent)
        try:
            cosignature = note.cosign(self.key, self.name, text, int(self.clock()))
        except KmsUnavailable as failure:  # the size is stored: the log's retry (a 409, then old = size) gets it cosigned
            return Answer(503, f"cannot cosign now: {failure}\n")
        return Answer(200, cosignature.line)


def _parse(body: bytes) -> tuple[int, list[bytes], str]:
    """(old size, proof, signed checkpoint) of a request body; _Refused(400) when it is not of that form."""
    if len(body) > MAX_BODY_BYTES:
        raise _Refused(400, f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _Refused(400, "the body is not UTF-8") from None
    head, blank, signed = text.partition("\n\n")
    lines = head.split("\n")
    found = _OLD.fullmatch(lines[0])
    if not blank or found is None:
        raise _Refused(400, "expected 'old <size>', proof lines, a blank line, then the checkpoint")
    if len(lines) - 1 > _MAX_PROOF:
        raise _Refused(400, f"expected at most {_MAX_PROOF} proof lines")
    proof = []
    for line in lines[1:]:
        try:
            node = base64.b64decode(line, validate=True)
        except binascii.Error:
            node = b""
        if len(node) != tlog.HASH_SIZE:
            raise _Refused(400, f"proof line: expected base64 of {tlog.HASH_SIZE} bytes, got {line[:60]!r}")
        proof.append(node)
    return int(found.group(1)), proof, signed
