"""Signers: who seals blocks. LocalSigner keeps an ECDSA P-256 PEM on disk; a KMS signer comes later.

Every signer signs the same thing, the 32-byte block_hash digest (EVIDENCE-FORMAT.md
section 3), so every verifier stays identical whoever holds the key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from xase import evidence
from xase.keys import create_key_file

__all__ = ["Signer", "LocalSigner", "signer_for"]


class Signer(Protocol):
    """What the ledger needs from a key: its identity and one signature per block."""

    key_id: str
    public_pem: str
    algorithm: str
    kms_key_arn: Optional[str]

    def sign(self, canonical_body: bytes, digest: bytes) -> str:
        """Base64 DER ECDSA signature over `digest` = SHA-256(`canonical_body`).

        Raises ledger_service.errors.SigningUnavailable when the key cannot sign now.
        """
        ...


class LocalSigner:
    """ECDSA P-256 key in a PEM file, created with mode 0600 on first start."""

    algorithm = evidence.ALGORITHM
    kms_key_arn: Optional[str] = None

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if private_key.curve.name != "secp256r1":
            raise ValueError(f"signing key must be ECDSA P-256, got {private_key.curve.name}")
        self._private_key = private_key
        public = private_key.public_key()
        self.public_pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")
        self.key_id = evidence.key_fingerprint(public)

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> LocalSigner:
        """Load the PEM at `path`, generating it (mode 0600) if the file does not exist."""
        key_path = Path(path)
        if not key_path.exists():
            create_key_file(key_path, ec.generate_private_key(ec.SECP256R1()))
        loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path} does not hold an ECDSA private key")
        return cls(loaded)

    def sign(self, canonical_body: bytes, digest: bytes) -> str:
        return evidence.sign_digest(self._private_key, digest)


def signer_for(kms_key_id: Optional[str], signing_key_path: str | os.PathLike[str]) -> Signer:
    """The configured signer: the AWS KMS key if one is named, else the local PEM (created if absent)."""
    if kms_key_id:
        from ledger_service.evidence.kms import KmsSigner  # boto3 is the optional [kms] extra

        return KmsSigner(kms_key_id)
    return LocalSigner.from_path(signing_key_path)
