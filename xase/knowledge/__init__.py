"""Encrypted knowledge bases in the Xase SDK (seed 000): the client surface, with its cryptography.

Interoperable both ways with the published xtrace-ai-sdk 0.1.1: contexts, ciphertexts and AES
tokens written by either load in the other. Needs the `knowledge` extra (gmpy2, aiohttp).
"""

from __future__ import annotations

from xase.knowledge.aes import AESCipher, DecryptionError
from xase.knowledge.context import ExecutionContext
from xase.knowledge.integration import KnowledgeError, XTraceIntegration
from xase.knowledge.keys import AWSKMSKeyProvider, KeyProvider, PassphraseKeyProvider
from xase.knowledge.loader import DataLoader, Retriever, binarize

__all__ = ["AESCipher", "DecryptionError", "ExecutionContext", "KeyProvider", "PassphraseKeyProvider", "AWSKMSKeyProvider", "XTraceIntegration",
           "KnowledgeError", "DataLoader", "Retriever", "binarize"]  # fmt: skip
