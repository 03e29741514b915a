"""KmsSigner: blocks signed by an AWS KMS asymmetric key (ECC_NIST_P256, SIGN_VERIFY); KmsEd25519Key: the log's
checkpoints signed by an ECC_NIST_EDWARDS25519 key (ED25519_SHA_512 over the RAW note text: plain Ed25519).

KMS is sent the canonical block body with MessageType=RAW and ECDSA_SHA_256: it
hashes with SHA-256, so the signature is over exactly the block_hash digest of
EVIDENCE-FORMAT.md and every verifier stays unchanged. The public key is
fetched once (GetPublicKey is rate-limited) and identifies the key by its
fingerprint, like any other signer's. One Sign call per block, never per record.
"""

from __future__ import annotations

import base64
from typing import Any, Optional

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from ledger_service.errors import SigningUnavailable
from xase import evidence

__all__ = ["KmsEd25519Key", "KmsSigner", "KmsKeyError"]

RAW_MESSAGE_LIMIT = 4096  # KMS refuses larger RAW messages; block bodies are ~0.5 KB


class KmsKeyError(RuntimeError):
    """The configured KMS key cannot serve as a Xase signing key (raised at start-up)."""


def _describe(client: Any, key_id: str, spec: str, algorithm: str) -> tuple[str, Any]:
    """The key's ARN and its public key, once the key is shown to be a `spec` signing key offering `algorithm`."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        metadata = client.describe_key(KeyId=key_id)["KeyMetadata"]
        public = client.get_public_key(KeyId=key_id)
    except (BotoCoreError, ClientError) as exc:
        raise KmsKeyError(f"cannot use KMS key {key_id!r}: {exc}") from exc
    if metadata.get("KeySpec") != spec or metadata.get("KeyUsage") != "SIGN_VERIFY":
        raise KmsKeyError(f"KMS key {key_id!r} must be {spec} / SIGN_VERIFY, got {metadata.get('KeySpec')} / {metadata.get('KeyUsage')}")
    if algorithm not in (public.get("SigningAlgorithms") or [algorithm]):
        raise KmsKeyError(f"KMS key {key_id!r} does not offer {algorithm}")
    return str(metadata["Arn"]), serialization.load_der_public_key(public["PublicKey"])


def _kms_client(client: Optional[Any]) -> Any:
    if client is not None:
        return client
    import boto3

    return boto3.client("kms")  # region, credentials and endpoint from the standard AWS settings


def _sign(client: Any, arn: str, message: bytes, message_type: str, algorithm: str, what: str) -> bytes:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return bytes(client.sign(KeyId=arn, Message=message, MessageType=message_type, SigningAlgorithm=algorithm)["Signature"])
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        raise SigningUnavailable(f"KMS could not sign the {what} ({code}); nothing was written, retry", {"kms_error": code}) from None
    except BotoCoreError as exc:
        raise SigningUnavailable(f"KMS is unreachable ({type(exc).__name__}); nothing was written, retry") from None


class KmsEd25519Key:
    """An Ed25519 key in KMS that signs the log's checkpoints: `public_key()` and `sign(message)`, as a local
    `Ed25519PrivateKey` offers them. Each signature is checked against the public key before it is used."""

    def __init__(self, key_id: str, client: Optional[Any] = None) -> None:
        self._client = _kms_client(client)
        self.kms_key_arn, key = _describe(self._client, key_id, "ECC_NIST_EDWARDS25519", "ED25519_SHA_512")
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise KmsKeyError(f"KMS key {key_id!r} did not give an Ed25519 public key")
        self._public = key

    def public_key(self) -> ed25519.Ed25519PublicKey:
        return self._public

    def sign(self, message: bytes) -> bytes:
        if len(message) > RAW_MESSAGE_LIMIT:
            raise SigningUnavailable(f"a checkpoint of {len(message)} bytes is more than KMS signs as RAW")
        signature = _sign(self._client, self.kms_key_arn, message, "RAW", "ED25519_SHA_512", "checkpoint")
        try:
            self._public.verify(signature, message)
        except InvalidSignature:
            raise SigningUnavailable("KMS returned a checkpoint signature that does not verify with the key's public key") from None
        return signature


class KmsSigner:
    algorithm = evidence.ALGORITHM

    def __init__(self, key_id: str, client: Optional[Any] = None) -> None:
        self._client = _kms_client(client)
        arn, key = _describe(self._client, key_id, "ECC_NIST_P256", "ECDSA_SHA_256")
        self.kms_key_arn: Optional[str] = arn
        self.public_pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")
        self.key_id = evidence.key_fingerprint(self.public_pem)

    def sign(self, canonical_body: bytes, digest: bytes) -> str:
        if len(canonical_body) <= RAW_MESSAGE_LIMIT:
            message, message_type = canonical_body, "RAW"
        else:  # same signature scheme, for bodies KMS would refuse as RAW
            message, message_type = digest, "DIGEST"
        assert self.kms_key_arn is not None
        signature = base64.b64encode(_sign(self._client, self.kms_key_arn, message, message_type, "ECDSA_SHA_256", "block")).decode("ascii")
        if not evidence.verify_signature(self.public_pem, digest, signature):
            raise SigningUnavailable("KMS returned a signature that does not verify with the key's public key; nothing was written")
        return signature
