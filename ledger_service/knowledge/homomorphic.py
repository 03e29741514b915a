"""The server's half of encrypted Hamming distances, for the Paillier and Paillier-lookup schemes of xtrace-ai-sdk.

A client packs each bit b of a binary embedding into a 2-bit slot `0b`, packs the slots into chunks
and encrypts each chunk under Paillier with its public modulus n. Paillier is additively
homomorphic: E(a) * E(b) mod n^2 = E(a + b). So the product of the query's ciphertext and a stored
one encrypts query + stored, whose every slot holds q + d in {0, 1, 2}: its low bit is q XOR d.
The client decrypts and counts those low bits, the Hamming distance. The server only multiplies:
it never decrypts, and refuses to store a context that would let it (a plaintext secret key).
Both schemes decrypt alike, so the server treats them alike; only n^2 matters.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gmpy2

from ledger_service.errors import ValidationFailed
from xase.wire import is_decimal

__all__ = ["SCHEMES", "MAX_KEY_BITS", "MAX_CIPHERTEXTS", "PublicContext", "parse_context", "decode_vector", "pack_vector",
           "unpack_vector", "encode_ciphertext", "query_numbers", "distances", "check_widths", "json_rows"]  # fmt: skip

SCHEMES = {"PaillierClient": "paillier", "PaillierLookupClient": "paillier_lookup"}
MAX_KEY_BITS = 8192  # the public modulus n; n^2 has twice as many bits
MAX_CIPHERTEXTS = 64  # per vector: embed_len 2 * 64 * key_len / 2 bits at most


@dataclass(frozen=True)
class PublicContext:
    """What the server may know of an execution context: its scheme and the public n^2."""

    scheme: str
    n_squared: Any  # gmpy2.mpz

    @property
    def width(self) -> int:
        """Bytes of a ciphertext, an integer below n^2."""
        return int((self.n_squared.bit_length() + 7) // 8)


def _json_member(data: Mapping[str, Any], name: str) -> Any:
    text = data.get(name)
    if not isinstance(text, str) or len(text) > 64 * 1024:
        raise ValidationFailed(f"data.{name}: expected a JSON string (as ExecutionContext.to_dict_enc writes it)", {"field": f"data.{name}"})
    try:
        return json.loads(text)
    except ValueError:
        raise ValidationFailed(f"data.{name}: not JSON", {"field": f"data.{name}"}) from None


MAX_SECRET_TEXT = 64 * 1024  # the encrypted secret key's text, as the client writes it (a few KB at 8,192 bits)


def _is_plaintext_secret(sk: str) -> bool:
    """to_dict_enc sends the secret key AES-encrypted; to_dict_plain would send its JSON, {"phi": ..., ...}, which
    may also arrive encoded twice (a JSON string holding that JSON)."""
    value: Any = sk
    for _ in range(2):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
            return False
        if isinstance(value, dict):
            return True
        if not isinstance(value, str):
            return False
    return False


def parse_context(data: Any) -> PublicContext:
    """An execution context as the client stores it; ValidationFailed unless its public key is usable and its
    secret key is not in plaintext."""
    if not isinstance(data, dict):
        raise ValidationFailed("data: expected an object (ExecutionContext.to_dict_enc)", {"field": "data"})
    kind = data.get("type")
    scheme = SCHEMES.get(kind) if isinstance(kind, str) else None  # any JSON value may come: a dict is not even hashable
    if scheme is None:
        raise ValidationFailed(f"data.type: expected one of {sorted(SCHEMES)}", {"field": "data.type"})
    sk = data.get("sk")
    if not isinstance(sk, str) or len(sk) > MAX_SECRET_TEXT:
        raise ValidationFailed(f"data.sk: expected the AES-encrypted secret key (never plaintext), at most {MAX_SECRET_TEXT} characters", {"field": "data.sk"})
    if _is_plaintext_secret(sk):
        raise ValidationFailed("data.sk: the secret key must be AES-encrypted (to_dict_enc), never in plaintext", {"field": "data.sk"})
    public_key = _json_member(data, "pk")
    config = _json_member(data, "config")
    raw = public_key.get("n_squared") if isinstance(public_key, dict) else None
    if isinstance(raw, bool) or not isinstance(raw, (int, str)) or (isinstance(raw, str) and not is_decimal(raw)):
        raise ValidationFailed("data.pk: expected n_squared, an integer", {"field": "data.pk"})
    if isinstance(raw, str) and len(raw) > 2 * MAX_KEY_BITS // 3 + 2:
        raise ValidationFailed(f"data.pk: n_squared beyond a {MAX_KEY_BITS}-bit key", {"field": "data.pk"})
    n_squared = gmpy2.mpz(raw)
    if n_squared < 9 or n_squared.bit_length() > 2 * MAX_KEY_BITS:
        raise ValidationFailed(f"data.pk: n_squared must be a modulus of at most {2 * MAX_KEY_BITS} bits", {"field": "data.pk"})
    if not isinstance(config, dict) or not all(isinstance(config.get(k), int) for k in ("embed_len", "key_len")):
        raise ValidationFailed("data.config: expected embed_len and key_len", {"field": "data.config"})
    return PublicContext(scheme, n_squared)


def decode_vector(items: Any, context: PublicContext, field: str) -> list[bytes]:
    """A vector as the client sends it (base64 of little-endian integers), as bytes of fixed width, each below n^2."""
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_CIPHERTEXTS:
        raise ValidationFailed(f"{field}: expected a list of 1 to {MAX_CIPHERTEXTS} ciphertexts", {"field": field})
    width, decoded = context.width, []
    for item in items:
        try:
            raw = base64.b64decode(item, validate=True) if isinstance(item, str) else None
        except binascii.Error:
            raw = None
        if raw is None or len(raw) > width or gmpy2.mpz.from_bytes(raw, "little") >= context.n_squared:
            raise ValidationFailed(f"{field}: each ciphertext must be base64 of a little-endian integer below n^2", {"field": field})
        decoded.append(raw.ljust(width, b"\0"))
    return decoded


def pack_vector(ciphertexts: Sequence[bytes]) -> bytes:
    """Stored form of a vector: its ciphertexts' width (2 bytes, big-endian), then the ciphertexts, each that wide."""
    width = len(ciphertexts[0])
    return width.to_bytes(2, "big") + b"".join(ciphertexts)


def unpack_vector(blob: bytes) -> list[bytes]:
    width = int.from_bytes(blob[:2], "big")
    return [blob[start : start + width] for start in range(2, len(blob), width)]


def encode_ciphertext(ciphertext: bytes) -> str:
    """As the client encodes it: base64 of the little-endian integer, without trailing zero bytes."""
    return base64.b64encode(ciphertext.rstrip(b"\0") or b"\0").decode("ascii")


def query_numbers(query: Sequence[bytes]) -> list[Any]:
    """The query's ciphertexts as gmpy2 integers, converted once per search."""
    return [gmpy2.mpz.from_bytes(ciphertext, "little") for ciphertext in query]


def distances(numbers: Sequence[Any], rows: Iterable[tuple[int, bytes]], context: PublicContext) -> Iterator[tuple[list[bytes], int]]:
    """(E(query + stored), chunk_id) for each (chunk_id, stored vector): the encoding the client decodes, each
    ciphertext `context.width` bytes little-endian. The hot loop of a search: one multiply-mod per ciphertext."""
    n_squared, width, from_bytes = context.n_squared, context.width, gmpy2.mpz.from_bytes
    if len(numbers) == 1:  # the common case (embed_len <= key_len): the stored vector is one ciphertext
        (number,) = numbers
        for chunk_id, blob in rows:
            if len(blob) != width + 2:
                raise _mismatch(chunk_id, unpack_vector(blob), numbers)
            yield [(number * from_bytes(blob[2:], "little") % n_squared).to_bytes(width, "little")], chunk_id
        return
    for chunk_id, blob in rows:
        stored = unpack_vector(blob)
        if len(stored) != len(numbers):
            raise _mismatch(chunk_id, stored, numbers)
        yield [(number * from_bytes(ciphertext, "little") % n_squared).to_bytes(width, "little") for number, ciphertext in zip(numbers, stored)], chunk_id


def check_widths(numbers: Sequence[Any], rows: Sequence[tuple[int, bytes]], context: PublicContext) -> None:
    """Every stored vector holds as many ciphertexts of this context's width as the query: checked before an
    answer starts streaming, when a 400 can still be sent."""
    expected = 2 + context.width * len(numbers)
    for chunk_id, blob in rows:
        if len(blob) != expected:
            raise _mismatch(chunk_id, unpack_vector(blob), numbers)


def json_rows(computed: Iterable[tuple[list[bytes], int]], first: bool) -> bytes:
    """Rows of the JSON answer, `[[ciphertext as an integer, ...], chunk_id]` each, comma-separated (and preceded by
    one unless `first`). gmpy2 writes the integers: Python's own int-to-text stops at 4,300 digits (a 7,150-bit key)."""
    from_bytes = gmpy2.mpz.from_bytes
    rows = [f"[[{','.join(from_bytes(c, 'little').digits() for c in ciphertexts)}],{chunk_id}]" for ciphertexts, chunk_id in computed]
    return (("" if first or not rows else ",") + ",".join(rows)).encode("ascii")


def _mismatch(chunk_id: int, stored: Sequence[bytes], numbers: Sequence[Any]) -> ValidationFailed:
    return ValidationFailed(f"query: {len(numbers)} ciphertexts of this context's width, but chunk {chunk_id} holds {len(stored)}", {"field": "query"})
