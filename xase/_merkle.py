"""RFC 6962 / RFC 9162 section 2.1 Merkle trees: roots, inclusion proofs, verification.

Pure functions over raw bytes; every failure raises MerkleError saying what
was expected and what was found.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["MerkleError", "leaf_hash", "node_hash", "root", "inclusion_proof", "verify_inclusion"]

HASH_SIZE = 32


class MerkleError(ValueError):
    """An inclusion proof does not hold."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two strictly below size (size > 1)."""
    return 1 << ((size - 1).bit_length() - 1)


def _root_of_hashes(hashes: Sequence[bytes]) -> bytes:
    # Bottom-up with the odd last node promoted: the same tree as RFC 6962's
    # recursive definition, without recursion.
    level = list(hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def root(leaves: Sequence[bytes]) -> bytes:
    """Merkle Tree Hash of the leaf data (for us: raw 32-byte record hashes)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    return _root_of_hashes([leaf_hash(leaf) for leaf in leaves])


def _path(hashes: Sequence[bytes], index: int) -> list[bytes]:
    if len(hashes) <= 1:
        return []
    k = _split(len(hashes))
    if index < k:
        return [*_path(hashes[:k], index), _root_of_hashes(hashes[k:])]
    return [*_path(hashes[k:], index - k), _root_of_hashes(hashes[:k])]


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Audit path of leaf `index` (RFC 9162 section 2.1.3.1), nearest sibling first."""
    if not 0 <= index < len(leaves):
        raise MerkleError(f"leaf_index: expected 0..{len(leaves) - 1}, got {index}")
    return _path([leaf_hash(leaf) for leaf in leaves], index)


def verify_inclusion(leaf: bytes, index: int, size: int, audit_path: Sequence[bytes], expected_root: bytes) -> None:
    """Check that `leaf` (a leaf HASH) sits at `index` of the tree of `size` with `expected_root`.

    RFC 9162 section 2.1.3.2, step for step. Returns None or raises MerkleError.
    """
    if index < 0 or size < 1 or index >= size:
        raise MerkleError(f"leaf_index: expected 0..{size - 1}, got {index}")
    for name, value in (("leaf hash", leaf), ("root", expected_root), *(("audit_path entry", p) for p in audit_path)):
        if len(value) != HASH_SIZE:
            raise MerkleError(f"{name}: expected {HASH_SIZE} bytes, got {len(value)}")
    fn, sn, running = index, size - 1, leaf
    for sibling in audit_path:
        if sn == 0:
            raise MerkleError(f"audit_path: expected fewer entries, got {len(audit_path)}")
        if fn & 1 or fn == sn:
            running = node_hash(sibling, running)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            running = node_hash(running, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise MerkleError(f"audit_path: expected more entries, got {len(audit_path)}")
    if running != expected_root:
        raise MerkleError(f"root: expected {expected_root.hex()}, got {running.hex()}")
