"""AES-256-GCM for chunk contents and secret keys, in the wire format of xtrace-ai-sdk 0.1.1.

    base64( nonce[16] || tag[16] || ciphertext )

A fresh 16-byte nonce per message; `cryptography`'s AESGCM takes nonces of that length.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Union

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["AESCipher", "DecryptionError"]

NONCE_BYTES = 16
TAG_BYTES = 16


class DecryptionError(ValueError):
    """A ciphertext that is corrupt, truncated, or encrypted under another key."""


class AESCipher:
    """Encrypts and decrypts under one 256-bit key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError(f"AES-256 needs a 32-byte key, got {len(key)} bytes")
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: Union[str, bytes]) -> bytes:
        """The base64 text (as bytes) of nonce, tag and ciphertext."""
        data = plaintext.encode("utf-8") if isinstance(plaintext, str) else plaintext
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, data, None)  # ciphertext || tag
        return base64.b64encode(nonce + sealed[-TAG_BYTES:] + sealed[:-TAG_BYTES])

    def decrypt(self, token: Union[str, bytes]) -> str:
        """The UTF-8 plaintext of a token from `encrypt` (or from the published client)."""
        try:
            raw = base64.b64decode(token, validate=True)
        except (binascii.Error, ValueError):
            raise DecryptionError("not base64") from None
        if len(raw) < NONCE_BYTES + TAG_BYTES:
            raise DecryptionError(f"expected at least {NONCE_BYTES + TAG_BYTES} bytes, got {len(raw)}")
        nonce, tag, ciphertext = raw[:NONCE_BYTES], raw[NONCE_BYTES : NONCE_BYTES + TAG_BYTES], raw[NONCE_BYTES + TAG_BYTES :]
        try:
            return self._aead.decrypt(nonce, ciphertext + tag, None).decode("utf-8")
        except InvalidTag:
            raise DecryptionError("authentication failed: wrong key, or the ciphertext was changed") from None
