"""KmsSigner: blocks signed by an AWS KMS asymmetric key (ECC_NIST_P256, SIGN_VERIFY). The log's Ed25519 key in
KMS is `xase.keys.KmsEd25519Key`, which the witness shares.

KMS is sent the canonical block body with MessageType=RAW and ECDSA_SHA_256: it
hashes with SHA-256, so the signature is over exactly the block_hash digest of
EVIDENCE-FORMAT.md and every verifier stays unchanged. The public key is
fetched once (GetPublicKey is rate-limited) and identifies the key by its
fingerprint, like any other signer's. One Sign call per block, never per record.
"""

from __future__ import annotations

import base64
from typing import Any, Optional

from cryptography.hazmat.primitives import serialization

from ledger_service.errors import SigningUnavailable
from xase import evidence
from xase.keys import RAW_MESSAGE_LIMIT, KmsEd25519Key, KmsKeyError, KmsUnavailable, describe_kms_key, kms_client, kms_sign

__all__ = ["KmsEd25519Key", "KmsSigner", "KmsKeyError", "signing_unavailable"]


def signing_unavailable(failure: KmsUnavailable) -> SigningUnavailable:
    """KMS's failure as the ledger answers it: 503, nothing written, retry."""
    details = {"kms_error": failure.code} if failure.code else None
    return SigningUnavailable(f"{failure}; nothing was written, retry", details)


class KmsSigner:
    algorithm = evidence.ALGORITHM

    def __init__(self, key_id: str, client: Optional[Any] = None) -> None:
        self._client = kms_client(client)
        arn, key = describe_kms_key(self._client, key_id, "ECC_NIST_P256", "ECDSA_SHA_256")
        self.kms_key_arn: Optional[str] = arn
        self.public_pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")
        self.key_id = evidence.key_fingerprint(self.public_pem)

    def sign(self, canonical_body: bytes, digest: bytes) -> str:
        if len(canonical_body) <= RAW_MESSAGE_LIMIT:
            message, message_type = canonical_body, "RAW"
        else:  # same signature scheme, for bodies KMS would refuse as RAW
            message, message_type = digest, "DIGEST"
        assert self.kms_key_arn is not None
        try:
            raw = kms_sign(self._client, self.kms_key_arn, message, message_type, "ECDSA_SHA_256", "block")
        except KmsUnavailable as failure:
            raise signing_unavailable(failure) from None
        signature = base64.b64encode(raw).decode("ascii")
        if not evidence.verify_signature(self.public_pem, digest, signature):
            raise SigningUnavailable("KMS returned a signature that does not verify with the key's public key; nothing was written")
        return signature
