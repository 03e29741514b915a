"""The execution context: a homomorphic key pair and an AES key, the root secret of an encrypted knowledge base.

Interoperable with xtrace-ai-sdk 0.1.1's ExecutionContext: the same id (SHA-256 of the plain
context, as it computes it), the same stored form (`to_dict_enc`: the secret key AES-encrypted
under the key provider, the provider's id and wrapped key beside it), so a context saved by either
client loads in the other. The secret key never leaves the process unencrypted.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from xase.knowledge import paillier
from xase.knowledge.aes import AESCipher
from xase.knowledge.keys import AWSKMSKeyProvider, KeyProvider, PassphraseKeyProvider

if TYPE_CHECKING:
    from xase.knowledge.integration import XTraceIntegration

__all__ = ["ExecutionContext"]


class ExecutionContext:
    """Keys for one knowledge base deployment; `id` names it on the server."""

    def __init__(self, keys: paillier.Keys, key_provider: KeyProvider, context_id: Optional[str] = None) -> None:
        self.keys = keys
        self.key_provider = key_provider
        self.aes = AESCipher(key_provider.get_key())
        self.id = context_id if context_id is not None else self.hash()

    @classmethod
    def create(
        cls,
        passphrase: Optional[str] = None,
        homomorphic_client_type: str = "paillier",
        embedding_length: int = 512,
        key_len: int = 1024,
        salt: Optional[bytes] = None,
        path: Optional[Union[str, Path]] = None,
        key_provider: Optional[KeyProvider] = None,
    ) -> ExecutionContext:
        """A new context (the published signature): a fresh key pair of `homomorphic_client_type`
        ("paillier" or "paillier_lookup"), the AES key from `key_provider` or from `passphrase` and `salt`."""
        provider = key_provider or (PassphraseKeyProvider(passphrase, salt) if passphrase is not None else None)
        if provider is None:
            raise ValueError("either key_provider or passphrase must be given")
        context = cls(paillier.generate(homomorphic_client_type.lower(), embedding_length, key_len), provider)
        if path is not None:
            context.save_to_disk(path)
        return context

    def embed_len(self) -> int:
        """Dimension of the binary embeddings this context encrypts."""
        return self.keys.embed_len

    def key_len(self) -> int:
        """Bits of each of the modulus' two primes."""
        return self.keys.key_len

    def type_name(self) -> str:
        """The published client's name of the scheme (PaillierClient, PaillierLookupClient)."""
        return paillier.SCHEMES[self.keys.scheme]

    def to_dict_plain(self) -> dict[str, str]:
        """The context with its secret key in plaintext: never store or send it."""
        return {"sk": self.keys.stringify_sk(), "pk": self.keys.stringify_pk(), "type": self.type_name(), "config": self.keys.stringify_config()}

    def to_dict_enc(self) -> dict[str, str]:
        """What may be stored or sent: the secret key AES-encrypted under the key provider."""
        return {"sk": self.aes.encrypt(self.keys.stringify_sk()).decode("ascii"), "pk": self.keys.stringify_pk(), "type": self.type_name(),
                "config": self.keys.stringify_config(), "key_provider": self.key_provider.provider_id(),
                "wrapped_key": base64.b64encode(self.key_provider.wrap_key()).decode("ascii")}  # fmt: skip

    def hash(self) -> str:
        """The context's id as xtrace-ai-sdk computes it: SHA-256 of the JSON of its plain form."""
        return hashlib.sha256(json.dumps(self.to_dict_plain()).encode("utf-8")).hexdigest()

    @classmethod
    def from_dict(
        cls,
        data: dict[str, Any],
        passphrase: Optional[str] = None,
        key_provider: Optional[KeyProvider] = None,
        context_id: Optional[str] = None,
        kms_client: Any = None,
        kms_key_id: Optional[str] = None,
    ) -> ExecutionContext:
        """A context from its stored form (`to_dict_enc`, by either client)."""
        provider = key_provider
        if provider is None and data.get("key_provider") == "passphrase":
            if passphrase is None:
                raise ValueError("this context's key is derived from a passphrase: pass passphrase=")
            provider = PassphraseKeyProvider.from_wrapped(base64.b64decode(data["wrapped_key"]), passphrase=passphrase)
        elif provider is None and data.get("key_provider") == "aws_kms":
            if kms_client is None or kms_key_id is None:
                raise ValueError("this context's key is wrapped by AWS KMS: pass kms_client= and kms_key_id=, or key_provider=")
            provider = AWSKMSKeyProvider.from_wrapped(base64.b64decode(data["wrapped_key"]), kms_client=kms_client, key_id=kms_key_id)
        if provider is None:
            raise ValueError("either key_provider or passphrase must be given")
        secret = AESCipher(provider.get_key()).decrypt(data["sk"])
        return cls(paillier.load(data["type"], data["pk"], secret, data["config"]), provider, context_id)

    def save_to_disk(self, path: Union[str, Path]) -> None:
        """Write the stored form (secret key encrypted) to a file."""
        Path(path).write_text(json.dumps(self.to_dict_enc()))

    @classmethod
    def load_from_disk(cls, passphrase: Optional[str] = None, path: Union[str, Path] = "", key_provider: Optional[KeyProvider] = None) -> ExecutionContext:
        """A context from a file that `save_to_disk` (of either client) wrote."""
        return cls.from_dict(json.loads(Path(path).read_text()), passphrase=passphrase, key_provider=key_provider)

    async def save_to_remote(self, integration: XTraceIntegration) -> str:
        """Store the encrypted form on the server; the id it confirms."""
        return await integration.store_exec_context(self.to_dict_enc(), self.id)

    @classmethod
    async def load_from_remote(
        cls, passphrase: Optional[str] = None, context_id: str = "", integration: Optional[XTraceIntegration] = None, key_provider: Optional[KeyProvider] = None
    ) -> ExecutionContext:
        """Fetch the stored form from the server and decrypt its secret key here."""
        if integration is None:
            raise ValueError("integration is required")
        data = await integration.get_serialized_exec_context(context_id)
        return cls.from_dict(data, passphrase=passphrase, key_provider=key_provider, context_id=str(context_id))
