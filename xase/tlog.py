"""Transparency-log trees (RFC 6962 / RFC 9162 section 2.1) over hash tiles (C2SP tlog-tiles): the one implementation.

Pure functions over raw 32-byte hashes. A tree is read through a `HashSource`, which knows the hash of every
complete subtree of the tree it serves; proofs and roots of any size up to that tree's follow from those hashes
alone, so the ledger (over its stored tiles) and a client (over tiles it fetched) compute them the same way.

A tile of level L holds up to 256 hashes of height 8L: tile (L, N) starts at hash N*256 of that height. A full
tile has 256; the partial tile at the right edge has `width` of them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from xase._merkle import HASH_SIZE, MerkleError, leaf_hash, node_hash, verify_inclusion

__all__ = [
    "HASH_SIZE",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "EMPTY_ROOT",
    "Frontier",
    "HashSource",
    "ListSource",
    "MerkleError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "parse_tile_path",
    "perfect_root",
    "range_hash",
    "tile_path",
    "tree_hash",
    "verify_consistency",
    "verify_inclusion",
]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
EMPTY_ROOT = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")  # SHA-256 of nothing


class HashSource(Protocol):
    """The hashes of one tree's complete subtrees."""

    def subtree(self, height: int, index: int) -> bytes:
        """The hash of the complete subtree of `height` over leaves [index * 2**height, (index + 1) * 2**height)."""
        ...


class ListSource:
    """A HashSource over leaf hashes held in memory: for tests, vectors and small trees."""

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self._leaves = leaf_hashes

    def subtree(self, height: int, index: int) -> bytes:
        return perfect_root(self._leaves[index << height : (index + 1) << height])


def perfect_root(hashes: Sequence[bytes]) -> bytes:
    """The root over a power-of-two count of hashes of one height (a tile's subtree)."""
    level = list(hashes)
    if not level or len(level) & (len(level) - 1):
        raise MerkleError(f"perfect subtree: expected a power of two of hashes, got {len(level)}")
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def _split(size: int) -> int:
    """The largest power of two strictly below size (size > 1)."""
    return 1 << ((size - 1).bit_length() - 1)


def range_hash(source: HashSource, lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) for a range the RFC's recursion produces: lo aligned to the power of two at or above hi - lo."""
    size = hi - lo
    if size & (size - 1) == 0:
        height = size.bit_length() - 1
        return source.subtree(height, lo >> height)
    k = _split(size)
    return node_hash(range_hash(source, lo, lo + k), range_hash(source, lo + k, hi))


def tree_hash(source: HashSource, size: int) -> bytes:
    """The root of the tree of `size` leaves (SHA-256 of nothing for the empty tree)."""
    return range_hash(source, 0, size) if size else EMPTY_ROOT


class Frontier:
    """A tree kept by its right edge: the roots of the complete subtrees covering leaves [0, size), largest
    first (one per bit set in size). Enough to grow the tree and to give its root without holding its leaves."""

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != bin(size).count("1"):
            raise MerkleError(f"frontier: a tree of {size} leaves has {bin(size).count('1')} edge hashes, got {len(hashes)}")
        self.size, self.hashes = size, list(hashes)

    def append(self, leaf_hash: bytes) -> None:
        self.append_subtree(leaf_hash, 0)

    def append_subtree(self, root: bytes, height: int) -> None:
        """Add the complete subtree of `height` whose root is `root`; the size must be a multiple of its width."""
        if self.size & ((1 << height) - 1):
            raise MerkleError(f"frontier: a subtree of height {height} cannot follow {self.size} leaves")
        carry = self.size >> height
        while carry & 1:  # equal neighbours merge, as in binary addition
            root = node_hash(self.hashes.pop(), root)
            carry >>= 1
        self.hashes.append(root)
        self.size += 1 << height

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        root = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            root = node_hash(left, root)
        return root


def inclusion_proof(source: HashSource, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 6962 section 2.1.1: nearest sibling first."""
    if not 0 <= index < size:
        raise MerkleError(f"index: expected 0..{size - 1}, got {index}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(range_hash(source, lo + k, hi))
            hi = lo + k
        else:
            path.append(range_hash(source, lo, lo + k))
            lo += k
    return path[::-1]


def consistency_proof(source: HashSource, old: int, size: int) -> list[bytes]:
    """PROOF(old, D[0:size]) of RFC 6962 section 2.1.2 (empty when old is 0 or equals size)."""
    if not 0 <= old <= size:
        raise MerkleError(f"old size: expected 0..{size}, got {old}")
    if old in (0, size):
        return []
    path: list[bytes] = []
    lo, hi, whole = 0, size, True
    while old != hi:
        k = _split(hi - lo)
        if old - lo <= k:
            path.append(range_hash(source, lo + k, hi))
            hi = lo + k
        else:
            path.append(range_hash(source, lo, lo + k))
            lo, whole = lo + k, False
    if not whole:
        path.append(range_hash(source, lo, hi))
    return path[::-1]


def verify_consistency(old: int, size: int, old_root: bytes, root: bytes, proof: Sequence[bytes]) -> None:
    """RFC 9162 section 2.1.4.2, step for step: the tree of `old` leaves is a prefix of the tree of `size`.

    Returns None or raises MerkleError saying what did not hold.
    """
    if not 0 <= old <= size:
        raise MerkleError(f"old size: expected 0..{size}, got {old}")
    for name, value in (("old root", old_root), ("root", root), *(("proof entry", p) for p in proof)):
        if len(value) != HASH_SIZE:
            raise MerkleError(f"{name}: expected {HASH_SIZE} bytes, got {len(value)}")
    if old == size:
        if proof:
            raise MerkleError(f"proof: expected no entries between equal sizes, got {len(proof)}")
        if old_root != root:
            raise MerkleError(f"root: expected {old_root.hex()} at the same size, got {root.hex()}")
        return
    if old == 0:
        if proof:
            raise MerkleError(f"proof: expected no entries from the empty tree, got {len(proof)}")
        return
    path = list(proof)
    if old & (old - 1) == 0:
        path.insert(0, old_root)
    if not path:
        raise MerkleError("proof: expected entries, got none")
    fn, sn = old - 1, size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first = second = path[0]
    for entry in path[1:]:
        if sn == 0:
            raise MerkleError(f"proof: expected fewer entries, got {len(proof)}")
        if fn & 1 or fn == sn:
            first, second = node_hash(entry, first), node_hash(entry, second)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            second = node_hash(second, entry)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise MerkleError(f"proof: expected more entries, got {len(proof)}")
    if first != old_root:
        raise MerkleError(f"old root: expected {old_root.hex()}, got {first.hex()}")
    if second != root:
        raise MerkleError(f"root: expected {root.hex()}, got {second.hex()}")


# ---------------------------------------------------------------- tile paths (C2SP tlog-tiles)

_TILE_PATH = re.compile(r"(?P<level>[0-9]{1,2})/(?P<index>(?:x[0-9]{3}/)*[0-9]{3})(?:\.p/(?P<width>[0-9]{1,3}))?")
MAX_TILE_LEVEL = 63


def _index_path(index: int) -> str:
    groups = f"{index:d}"
    groups = "0" * (-len(groups) % 3) + groups
    parts = [groups[i : i + 3] for i in range(0, len(groups), 3)]
    return "/".join([*("x" + part for part in parts[:-1]), parts[-1]])


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """`<L>/<N>[.p/<W>]` after `tile/`: N in groups of three digits, all but the last prefixed with x."""
    suffix = f".p/{width}" if width < TILE_WIDTH else ""
    return f"{level}/{_index_path(index)}{suffix}"


def parse_tile_path(path: str) -> tuple[int, int, int]:
    """(level, index, width) of a tile path after `tile/`; ValueError for anything the spec does not produce."""
    match = _TILE_PATH.fullmatch(path)
    if match is None:
        raise ValueError(f"not a tile path: {path[:80]!r}")
    level, width = int(match["level"]), int(match["width"] or TILE_WIDTH)
    index = int(match["index"].replace("x", "").replace("/", ""))
    if level > MAX_TILE_LEVEL or not 1 <= width <= TILE_WIDTH or tile_path(level, index, width) != path:
        raise ValueError(f"not a canonical tile path: {path[:80]!r}")
    return level, index, width
