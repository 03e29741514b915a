"""Offline proofs that a record is in an organisation's log (C2SP tlog-proof@v1): the one implementation.

A proof is the record's index, its RFC 6962 inclusion proof, and a signed checkpoint of a tree that holds it.
Xase carries the record's body as the proof's `extra` (its RFC 8785 bytes, from which the leaf follows: the leaf
hash is H(0x00 || record_hash)). The extra is not trusted: the leaf computed from it must reach the signed root.

The same proof rides in a JSON receipt as its `tlog` member; `verify_log_inclusion` checks either.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Optional

from xase import note, tlog

__all__ = [
    "HEADER",
    "MAX_PROOF_BYTES",
    "LogProof",
    "TlogProofError",
    "format_tlog_proof",
    "parse_tlog_proof",
    "verify_log_inclusion",
    "verify_witnesses",
]

HEADER = "c2sp.org/tlog-proof@v1"
MAX_PROOF_BYTES = note.MAX_NOTE_BYTES + 64 * 1024  # a checkpoint, 63 hashes and a record body fit with room to spare
_MAX_PROOF_HASHES = 63  # a tree below 2^63 leaves never needs more
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")


class TlogProofError(ValueError):
    """A tlog proof that does not parse or does not hold: the message says which part and why."""


@dataclass(frozen=True)
class LogProof:
    """A record's place in a signed tree: index, inclusion proof (nearest sibling first), checkpoint note."""

    index: int
    proof: Sequence[bytes]
    checkpoint: str
    extra: Optional[bytes] = None


def format_tlog_proof(proof: LogProof) -> str:
    lines = [HEADER]
    if proof.extra is not None:
        lines.append(f"extra {base64.b64encode(proof.extra).decode()}")
    lines.append(f"index {proof.index}")
    lines.extend(base64.b64encode(node).decode() for node in proof.proof)
    return "\n".join(lines) + "\n\n" + proof.checkpoint


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise TlogProofError(f"{what}: expected base64, got {text[:60]!r}") from None


def parse_tlog_proof(text: str) -> LogProof:
    """The parts of a tlog-proof text, checked for form only (nothing verified)."""
    if len(text.encode()) > MAX_PROOF_BYTES:
        raise TlogProofError(f"tlog proof: expected at most {MAX_PROOF_BYTES} bytes")
    head, blank, checkpoint = text.partition("\n\n")
    lines = head.split("\n")
    if not blank or lines[0] != HEADER:
        raise TlogProofError(f"tlog proof: expected a first line {HEADER!r} and a blank line before the checkpoint")
    rest = lines[1:]
    extra = _b64(rest.pop(0)[len("extra ") :], "extra") if rest and rest[0].startswith("extra ") else None
    if not rest or not rest[0].startswith("index ") or not _DECIMAL.fullmatch(rest[0][len("index ") :]):
        raise TlogProofError(f"index: expected 'index <decimal>', got {(rest[0] if rest else '')[:60]!r}")
    index = int(rest[0][len("index ") :])
    hashes = [_b64(line, "inclusion proof") for line in rest[1:]]
    if len(hashes) > _MAX_PROOF_HASHES or any(len(node) != tlog.HASH_SIZE for node in hashes):
        raise TlogProofError(f"inclusion proof: expected at most {_MAX_PROOF_HASHES} hashes of {tlog.HASH_SIZE} bytes")
    return LogProof(index, hashes, checkpoint, extra)


def verify_log_inclusion(
    record_hash: bytes, proof: LogProof, verifiers: Iterable[note.Verifier], origin: Optional[str] = None
) -> tuple[note.Checkpoint, list[note.Verifier]]:
    """Check that the leaf of `record_hash` is at `proof.index` of the tree the checkpoint signs.

    The checkpoint must be signed by at least one of `verifiers` (and no known key's signature may fail); with
    `origin`, its origin must be that. Returns the checkpoint and the keys that signed it, or raises
    TlogProofError naming the step: checkpoint signature, origin, or inclusion proof.
    """
    try:
        text, signed = note.open_note(proof.checkpoint, verifiers)
        checkpoint = note.parse_checkpoint(text)
    except note.NoteError as problem:
        raise TlogProofError(f"checkpoint: {problem}") from None
    if origin is not None and checkpoint.origin != origin:
        raise TlogProofError(f"checkpoint origin: expected {origin!r}, got {checkpoint.origin!r}")
    try:
        tlog.verify_inclusion(tlog.leaf_hash(record_hash), proof.index, checkpoint.size, proof.proof, checkpoint.root)
    except tlog.MerkleError as problem:
        raise TlogProofError(f"inclusion proof in checkpoint {checkpoint.size}: {problem}") from None
    return checkpoint, signed


def verify_witnesses(checkpoint: str, witnesses: Iterable[note.Verifier], quorum: int) -> list[note.Verifier]:
    """The given witnesses (cosigner keys, type 0x04) whose cosignatures of the checkpoint verify; TlogProofError
    when fewer than `quorum` do, or when one of theirs fails (a note with a failing known signature is malformed)."""
    try:
        _text, signers = note.verified_signers(checkpoint, [witness for witness in witnesses if witness.key_type == note.COSIGNATURE_V1])
    except note.NoteError as problem:
        raise TlogProofError(f"witnesses: {problem}") from None
    if len(signers) < quorum:
        named = ", ".join(signer.name for signer in signers) or "none"
        raise TlogProofError(f"witnesses: expected cosignatures by at least {quorum} of the witnesses given, got {len(signers)} ({named})")
    return signers
