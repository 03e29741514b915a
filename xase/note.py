"""Signed notes (C2SP signed-note) and checkpoints (C2SP tlog-checkpoint): the one implementation.

A note is text ending in a newline, a blank line, and signature lines `— <name> <base64(key ID || signature)>`.
Verification follows the Go reference (`golang.org/x/mod/sumdb/note.Open`): signatures by unknown keys are
ignored, a known key whose signature fails rejects the whole note, and at least one known key must sign.

Key types: 0x01 Ed25519 over the note text; 0x02 ECDSA P-256 (DER signature over SHA-256 of the text, key ID the
SHA-256 of the key's SubjectPublicKeyInfo), as github.com/transparency-dev/witness implements it; 0x04 a witness's
Ed25519 cosignature (C2SP tlog-cosignature `cosignature/v1`): an 8-byte big-endian timestamp then Ed25519 over
"cosignature/v1\ntime <timestamp>\n" and the note text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

__all__ = [
    "Ed25519Signer",
    "COSIGNATURE_V1",
    "ED25519",
    "ECDSA",
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "Checkpoint",
    "NoteError",
    "Signature",
    "Verifier",
    "cosign",
    "cosignature_message",
    "cosignature_time",
    "cosigner_verifier",
    "ecdsa_verifier",
    "ed25519_verifier",
    "format_checkpoint",
    "key_id",
    "open_note",
    "parse_checkpoint",
    "parse_vkey",
    "signature_line",
    "split_note",
    "verified_signers",
]

ED25519 = 0x01
ECDSA = 0x02
COSIGNATURE_V1 = 0x04
MAX_NOTE_BYTES = 1 << 20  # a checkpoint is ~200 bytes a signature line; anything this large is refused unread
MAX_SIGNATURES = 100  # the Go reference's limit
_DASH = "\u2014 "
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


class Ed25519Signer(Protocol):
    """What signs an Ed25519 line: a local `Ed25519PrivateKey`, or a key in KMS (`xase.keys.KmsEd25519Key`)."""

    def public_key(self) -> ed25519.Ed25519PublicKey: ...

    def sign(self, data: bytes) -> bytes: ...


class NoteError(ValueError):
    """A note, a key or a checkpoint that does not hold: the message says which part and why."""


def _is_valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(char.isspace() for char in name) and name.isprintable()


def key_id(name: str, key_type: int, public_key: bytes) -> bytes:
    """The 4-byte key ID: SHA-256(name || 0x0A || type || key)[:4]; for 0x02, SHA-256 of the SPKI DER."""
    if key_type == ECDSA:
        return hashlib.sha256(public_key).digest()[:4]
    return hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + public_key).digest()[:4]


@dataclass(frozen=True)
class Verifier:
    """A key a reader trusts for notes signed under `name`."""

    name: str
    key_type: int
    public_key: bytes  # 32 raw bytes for Ed25519, SPKI DER for ECDSA
    key_id: bytes = field(init=False)

    def __post_init__(self) -> None:
        if not _is_valid_name(self.name):
            raise NoteError(f"key name: expected no spaces or '+', got {self.name[:80]!r}")
        object.__setattr__(self, "key_id", key_id(self.name, self.key_type, self.public_key))

    @property
    def vkey(self) -> str:
        """`name+hex(key ID)+base64(type || key)`, the form `note.NewVerifier` reads."""
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(bytes([self.key_type]) + self.public_key).decode()}"

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            if self.key_type == ED25519:
                ed25519.Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, text)
            elif self.key_type == COSIGNATURE_V1:
                if len(signature) != 8 + 64:
                    return False
                message = cosignature_message(text.decode(), cosignature_time(signature))
                ed25519.Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature[8:], message)
            elif self.key_type == ECDSA:
                key = serialization.load_der_public_key(self.public_key)
                if not isinstance(key, ec.EllipticCurvePublicKey):
                    return False
                key.verify(signature, text, ec.ECDSA(hashes.SHA256()))
            else:
                return False
        except (InvalidSignature, ValueError):
            return False
        return True


def ed25519_verifier(name: str, public_key: ed25519.Ed25519PublicKey) -> Verifier:
    return Verifier(name, ED25519, public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def cosigner_verifier(name: str, public_key: ed25519.Ed25519PublicKey) -> Verifier:
    """A witness's key for its cosignatures (type 0x04): the same Ed25519 key, another key ID and message."""
    return Verifier(name, COSIGNATURE_V1, public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


MAX_TIMESTAMP = (1 << 63) - 1


def cosignature_message(text: str, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: the header line, the time line, the checkpoint's note text."""
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def cosignature_time(signature: bytes) -> int:
    """The POSIX time a cosignature states (its first 8 bytes, big-endian)."""
    timestamp = int.from_bytes(signature[:8], "big")
    if timestamp > MAX_TIMESTAMP:
        raise ValueError(f"cosignature timestamp: expected at most 2^63-1, got {timestamp}")
    return timestamp


def cosign(private_key: Ed25519Signer, name: str, text: str, timestamp: int) -> Signature:
    """A witness's cosignature/v1 over a checkpoint's note text, as a signature line to append to the note."""
    if not 0 < timestamp <= MAX_TIMESTAMP:
        raise ValueError(f"cosignature timestamp: expected 1..2^63-1, got {timestamp}")
    verifier = cosigner_verifier(name, private_key.public_key())
    signature = timestamp.to_bytes(8, "big") + private_key.sign(cosignature_message(text, timestamp))
    return Signature(name, verifier.key_id, signature)


def ecdsa_verifier(name: str, public_key: ec.EllipticCurvePublicKey) -> Verifier:
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return Verifier(name, ECDSA, spki)


def parse_vkey(vkey: str) -> Verifier:
    """A verifier from its `name+hash+base64` text; the hash must match the key."""
    name, _, rest = vkey.partition("+")
    hash_hex, _, key_b64 = rest.partition("+")
    try:
        encoded = base64.b64decode(key_b64, validate=True)
        expected = bytes.fromhex(hash_hex) if len(hash_hex) == 8 else b""
    except (binascii.Error, ValueError):
        raise NoteError(f"verifier key: not name+hash+base64: {vkey[:80]!r}") from None
    if not encoded or not expected or encoded[0] not in (ED25519, ECDSA, COSIGNATURE_V1) or (encoded[0] != ECDSA and len(encoded) != 33):
        raise NoteError(f"verifier key: expected an Ed25519 (0x01), ECDSA (0x02) or cosigner (0x04) key, got {vkey[:80]!r}")
    verifier = Verifier(name, encoded[0], encoded[1:])
    if verifier.key_id != expected:
        raise NoteError(f"verifier key: key hash expected {verifier.key_id.hex()}, got {hash_hex}")
    return verifier


@dataclass(frozen=True)
class Signature:
    """One signature line: who (name, key ID) and the signature bytes."""

    name: str
    key_id: bytes
    signature: bytes

    @property
    def line(self) -> str:
        return signature_line(self.name, self.key_id, self.signature)


def signature_line(name: str, key_id_bytes: bytes, signature: bytes) -> str:
    return f"{_DASH}{name} {base64.b64encode(key_id_bytes + signature).decode()}\n"


def _check_text(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in text:
        raise NoteError("note text: expected non-empty lines ending in a newline")
    if any(ord(char) < 0x20 and char != "\n" for char in text):
        raise NoteError("note text: control characters are not allowed")


def split_note(note: str) -> tuple[str, list[Signature]]:
    """The text and the signature lines of a note, checked for form only (nothing verified)."""
    if len(note.encode()) > MAX_NOTE_BYTES:
        raise NoteError(f"note: expected at most {MAX_NOTE_BYTES} bytes")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("note: expected a blank line before the signatures")
    text, block = note[: cut + 1], note[cut + 2 :]
    _check_text(text)
    if not block.endswith("\n"):
        raise NoteError("signatures: expected a newline after the last line")
    signatures = []
    for line in block[:-1].split("\n"):
        name, _, encoded = line.removeprefix(_DASH).partition(" ")
        if not line.startswith(_DASH) or not _is_valid_name(name) or not _BASE64.fullmatch(encoded):
            raise NoteError(f"signature line: expected '— <name> <base64>', got {line[:80]!r}")
        raw = base64.b64decode(encoded)
        if len(raw) < 5:
            raise NoteError(f"signature line: expected a key ID and a signature, got {len(raw)} bytes")
        signatures.append(Signature(name, raw[:4], raw[4:]))
    if len(signatures) > MAX_SIGNATURES:
        raise NoteError(f"signatures: expected at most {MAX_SIGNATURES}, got {len(signatures)}")
    return text, signatures


def verified_signers(note: str, verifiers: Iterable[Verifier]) -> tuple[str, list[Verifier]]:
    """The note's text and those of `verifiers` that signed it (perhaps none); NoteError when one's signature fails."""
    text, signatures = split_note(note)
    known = {(verifier.name, verifier.key_id): verifier for verifier in verifiers}
    signed: list[Verifier] = []
    for signature in signatures:
        verifier = known.get((signature.name, signature.key_id))
        if verifier is None or verifier in signed:
            continue
        if not verifier.verify(text.encode(), signature.signature):
            raise NoteError(f"signature by {signature.name} ({signature.key_id.hex()}): does not verify")
        signed.append(verifier)
    return text, signed


def open_note(note: str, verifiers: Iterable[Verifier]) -> tuple[str, list[Verifier]]:
    """The note's text and the known keys that signed it; NoteError unless at least one did and none failed."""
    text, signed = verified_signers(note, verifiers)
    if not signed:
        raise NoteError("note: expected a signature by a trusted key, found none")
    return text, signed


# ---------------------------------------------------------------- checkpoints


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, size, root (C2SP tlog-checkpoint)."""

    origin: str
    size: int
    root: bytes
    extensions: Sequence[str] = ()


def format_checkpoint(checkpoint: Checkpoint) -> str:
    lines = [checkpoint.origin, str(checkpoint.size), base64.b64encode(checkpoint.root).decode(), *checkpoint.extensions]
    text = "\n".join(lines) + "\n"
    _check_text(text)
    return text


def parse_checkpoint(text: str) -> Checkpoint:
    """The checkpoint a note's text states; NoteError naming the line that is not as the spec says."""
    _check_text(text)
    lines = text[:-1].split("\n")
    if len(lines) < 3 or not lines[0]:
        raise NoteError("checkpoint: expected origin, size and root lines")
    origin, size_text, root_text = lines[:3]
    if not re.fullmatch(r"0|[1-9][0-9]{0,18}", size_text):
        raise NoteError(f"checkpoint size: expected a decimal without leading zeros, got {size_text[:40]!r}")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        root = b""
    if len(root) != 32 or base64.b64encode(root).decode() != root_text:
        raise NoteError(f"checkpoint root: expected base64 of 32 bytes, got {root_text[:60]!r}")
    return Checkpoint(origin, int(size_text), root, tuple(lines[3:]))
