"""Private keys the ledger and the witness sign with: a PEM file of their own, or a key held in AWS KMS.

    key = ed25519_key_file(Path("witness.pem"))        # generated (mode 0600) if absent
    key = KmsEd25519Key("alias/xase-witness")          # ECC_NIST_EDWARDS25519 / SIGN_VERIFY

Both offer `public_key()` and `sign(message)` (`note.Ed25519Signer`). A KMS key is described once at start
(`KmsKeyError` if it cannot serve), and each signature it returns is checked against its public key before use;
a KMS that cannot sign raises `KmsUnavailable`. boto3 (the `[kms]` extra) is imported only when KMS is used.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Union

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

__all__ = ["KmsEd25519Key", "KmsKeyError", "KmsUnavailable", "create_key_file", "describe_kms_key", "ed25519_key_file", "kms_client", "kms_sign"]

RAW_MESSAGE_LIMIT = 4096  # KMS refuses larger RAW messages


class KmsKeyError(RuntimeError):
    """The configured KMS key cannot serve as this signing key (raised at start-up)."""


class KmsUnavailable(RuntimeError):
    """KMS did not sign (throttled, unreachable, refused) or answered a signature that does not verify."""

    def __init__(self, message: str, code: Optional[str] = None) -> None:
        super().__init__(message)
        self.code = code


def create_key_file(key_path: Path, private: Union[ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey]) -> None:
    """Write a new private key as PEM with mode 0600; atomic, so racing first starts agree on one key."""
    key_path.parent.mkdir(parents=True, exist_ok=True)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    temporary = key_path.with_name(f".{key_path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, key_path)  # fails if another process got there first: never overwrite a key
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)


def ed25519_key_file(key_path: Path, create: bool = True) -> ed25519.Ed25519PrivateKey:
    """The Ed25519 private key in the PEM at `key_path`, generated first if absent and `create`."""
    if create and not key_path.exists():
        create_key_file(key_path, ed25519.Ed25519PrivateKey.generate())
    loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(loaded, ed25519.Ed25519PrivateKey):
        raise ValueError(f"{key_path} does not hold an Ed25519 private key")
    return loaded


def kms_client(client: Optional[Any] = None) -> Any:
    """`client`, or a KMS client from the standard AWS settings (region, credentials, AWS_ENDPOINT_URL)."""
    if client is not None:
        return client
    import boto3

    return boto3.client("kms")


def describe_kms_key(client: Any, key_id: str, spec: str, algorithm: str) -> tuple[str, Any]:
    """The key's ARN and its public key, once the key is shown to be a `spec` signing key offering `algorithm`."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        metadata = client.describe_key(KeyId=key_id)["KeyMetadata"]
        public = client.get_public_key(KeyId=key_id)  # once: GetPublicKey is rate-limited
    except (BotoCoreError, ClientError) as exc:
        raise KmsKeyError(f"cannot use KMS key {key_id!r}: {exc}") from exc
    if metadata.get("KeySpec") != spec or metadata.get("KeyUsage") != "SIGN_VERIFY":
        raise KmsKeyError(f"KMS key {key_id!r} must be {spec} / SIGN_VERIFY, got {metadata.get('KeySpec')} / {metadata.get('KeyUsage')}")
    if algorithm not in (public.get("SigningAlgorithms") or [algorithm]):
        raise KmsKeyError(f"KMS key {key_id!r} does not offer {algorithm}")
    return str(metadata["Arn"]), serialization.load_der_public_key(public["PublicKey"])


def kms_sign(client: Any, arn: str, message: bytes, message_type: str, algorithm: str, what: str) -> bytes:
    """KMS's signature of `message`; KmsUnavailable (with KMS's error code) when it gives none."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return bytes(client.sign(KeyId=arn, Message=message, MessageType=message_type, SigningAlgorithm=algorithm)["Signature"])
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        raise KmsUnavailable(f"KMS could not sign the {what} ({code})", code) from None
    except BotoCoreError as exc:
        raise KmsUnavailable(f"KMS is unreachable ({type(exc).__name__})") from None


class KmsEd25519Key:
    """An Ed25519 key in KMS (ED25519_SHA_512 over the RAW message: plain Ed25519), offering `public_key()` and
    `sign(message)` as a local `Ed25519PrivateKey` does. `what` names what it signs, in errors."""

    def __init__(self, key_id: str, client: Optional[Any] = None, what: str = "checkpoint") -> None:
        self._client, self._what = kms_client(client), what
        self.kms_key_arn, key = describe_kms_key(self._client, key_id, "ECC_NIST_EDWARDS25519", "ED25519_SHA_512")
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise KmsKeyError(f"KMS key {key_id!r} did not give an Ed25519 public key")
        self._public = key

    def public_key(self) -> ed25519.Ed25519PublicKey:
        return self._public

    def sign(self, data: bytes) -> bytes:
        if len(data) > RAW_MESSAGE_LIMIT:
            raise KmsUnavailable(f"a {self._what} of {len(data)} bytes is more than KMS signs as RAW ({RAW_MESSAGE_LIMIT})")
        signature = kms_sign(self._client, self.kms_key_arn, data, "RAW", "ED25519_SHA_512", self._what)
        try:
            self._public.verify(signature, data)
        except InvalidSignature:
            raise KmsUnavailable(f"KMS returned a {self._what} signature that does not verify with the key's public key") from None
        return signature
