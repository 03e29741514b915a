"""KmsSigner: blocks signed by an AWS KMS asymmetric key (ECC_NIST_P256, SIGN_VERIFY).

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

__all__ = ["KmsSigner", "KmsKeyError"]

RAW_MESSAGE_LIMIT = 4096  # KMS refuses larger RAW messages; block bodies are ~0.5 KB


class KmsKeyError(RuntimeError):
    """The configured KMS key cannot serve as a Xase signing key (raised at start-up)."""


class KmsSigner:
    algorithm = evidence.ALGORITHM

    def __init__(self, key_id: str, client: Optional[Any] = None) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        if client is None:
            import boto3

            client = boto3.client("kms")  # region, credentials and endpoint from the standard AWS settings
        self._client = client
        try:
            metadata = client.describe_key(KeyId=key_id)["KeyMetadata"]
            public = client.get_public_key(KeyId=key_id)
        except (BotoCoreError, ClientError) as exc:
            raise KmsKeyError(f"cannot use KMS key {key_id!r}: {exc}") from exc
        if metadata.get("KeySpec") != "ECC_NIST_P256" or metadata.get("KeyUsage") != "SIGN_VERIFY":
            raise KmsKeyError(f"KMS key {key_id!r} must be ECC_NIST_P256 / SIGN_VERIFY, got {metadata.get('KeySpec')} / {metadata.get('KeyUsage')}")
        if "ECDSA_SHA_256" not in (public.get("SigningAlgorithms") or ["ECDSA_SHA_256"]):
            raise KmsKeyError(f"KMS key {key_id!r} does not offer ECDSA_SHA_256")
        self.kms_key_arn: Optional[str] = metadata["Arn"]
        key = serialization.load_der_public_key(public["PublicKey"])
        self.public_pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")
        self.key_id = evidence.key_fingerprint(self.public_pem)

    def sign(self, canonical_body: bytes, digest: bytes) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        if len(canonical_body) <= RAW_MESSAGE_LIMIT:
            message, message_type = canonical_body, "RAW"
        else:  # same signature scheme, for bodies KMS would refuse as RAW
            message, message_type = digest, "DIGEST"
        try:
            response = self._client.sign(KeyId=self.kms_key_arn, Message=message, MessageType=message_type, SigningAlgorithm="ECDSA_SHA_256")
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            raise SigningUnavailable(f"KMS could not sign the block ({code}); nothing was written, retry", {"kms_error": code}) from None
        except BotoCoreError as exc:
            raise SigningUnavailable(f"KMS is unreachable ({type(exc).__name__}); nothing was written, retry") from None
        signature = base64.b64encode(response["Signature"]).decode("ascii")
        if not evidence.verify_signature(self.public_pem, digest, signature):
            raise SigningUnavailable("KMS returned a signature that does not verify with the key's public key; nothing was written")
        return signature
