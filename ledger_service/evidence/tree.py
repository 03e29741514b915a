"""One append-only Merkle tree per organisation over its records, stored as C2SP hash tiles (evidence format v2).

Leaf i is the record of seq i (leaf hash SHA-256(0x00 || record hash), RFC 6962). Only full tiles are stored, and
only inserted, like records: tile (L, N) holds the 256 hashes of height 8L that start at N*256, and the root of
the subtree they span (the tile's entry one level up). The partial tiles at the right edge are derived when read:
level 0 from the records' hashes, level L from the roots of level L-1 tiles. An append writes a tile only when
one fills, in the append's transaction: 32 bytes a record, plus 1/256 of that a level up.

Invariant, kept by every transaction that writes tiles: level L holds exactly (size // 256**(L+1)) tiles of a
tree of `size` leaves, or fewer at level 0 only while `backfill` has not reached the head (each append then
fills what is missing).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Optional, cast

from sqlalchemy import Connection, Engine, Table, func, insert, select

from ledger_service.db import read_connection, write_transaction
from ledger_service.errors import NotFound
from ledger_service.evidence.tables import ChainHead, LogTile, Record
from xase import tlog

__all__ = ["TileCache", "TreeNotBuilt", "TreeReader", "backfill", "check_tree", "extend", "tree_size"]

_TILES = cast(Table, LogTile.__table__)
W = tlog.TILE_WIDTH
MAX_BACKFILL_TILES = 64  # level-0 tiles a backfill transaction writes: the write lock is held for ~20 ms


class TreeNotBuilt(RuntimeError):
    """The tiles of a chain older than its tree stop short of its records: `xase-ledger db upgrade` builds them."""


def _span(level: int) -> int:
    """Leaves under one full tile of `level`."""
    return 1 << (tlog.TILE_HEIGHT * (level + 1))


def tree_size(conn: Connection, tenant_id: str) -> int:
    """Leaves in the organisation's tree: every record it has."""
    return int(conn.execute(select(ChainHead.next_seq).where(ChainHead.tenant_id == tenant_id)).scalar() or 0)


def _stored_tiles(conn: Connection, tenant_id: str, level: int) -> int:
    last = conn.execute(select(func.max(LogTile.tile_index)).where(LogTile.tenant_id == tenant_id, LogTile.level == level)).scalar()
    return 0 if last is None else int(last) + 1


def _leaf_hashes(conn: Connection, tenant_id: str, start: int, end: int) -> list[bytes]:
    rows = conn.execute(select(Record.record_hash).where(Record.tenant_id == tenant_id, Record.seq >= start, Record.seq < end).order_by(Record.seq))
    return [tlog.leaf_hash(bytes.fromhex(record_hash)) for record_hash in rows.scalars()]


def _tile_roots(conn: Connection, tenant_id: str, level: int, start: int, end: int) -> list[bytes]:
    rows = conn.execute(
        select(LogTile.root)
        .where(LogTile.tenant_id == tenant_id, LogTile.level == level, LogTile.tile_index >= start, LogTile.tile_index < end)
        .order_by(LogTile.tile_index)
    )
    return [bytes(root) for root in rows.scalars()]


def _fill(conn: Connection, tenant_id: str, level: int, wanted: int) -> None:
    """Store the tiles of `level` up to `wanted` of them, then those that fill one level up."""
    have = _stored_tiles(conn, tenant_id, level)
    if have >= wanted:
        return
    if level == 0:
        entries = _leaf_hashes(conn, tenant_id, have * W, wanted * W)
    else:
        entries = _tile_roots(conn, tenant_id, level - 1, have * W, wanted * W)
    if len(entries) != (wanted - have) * W:
        raise RuntimeError(f"log tiles of level {level}: expected {(wanted - have) * W} hashes below, found {len(entries)}")
    rows = []
    for offset in range(0, len(entries), W):
        hashes = entries[offset : offset + W]
        rows.append({"tenant_id": tenant_id, "level": level, "tile_index": have + offset // W, "hashes": b"".join(hashes), "root": tlog.perfect_root(hashes)})
    conn.execute(insert(_TILES), rows)
    if have // W < wanted // W:
        _fill(conn, tenant_id, level + 1, wanted // W)


def extend(conn: Connection, tenant_id: str, size_before: int, size: int) -> None:
    """In an append's transaction: store every tile the records from `size_before` to `size` filled."""
    if size // W > size_before // W:
        _fill(conn, tenant_id, 0, size // W)


def backfill(engine: Engine, progress: Optional[Callable[[str, int, int], None]] = None) -> int:
    """Build the trees of chains that predate them, MAX_BACKFILL_TILES tiles a transaction, so that an interrupted
    run resumes where it stopped. `progress(tenant, leaves covered, leaves)`; returns the tiles written."""
    with read_connection(engine) as conn:
        built = dict(conn.execute(select(LogTile.tenant_id, func.max(LogTile.tile_index) + 1).where(LogTile.level == 0).group_by(LogTile.tenant_id)).all())
        sizes = conn.execute(select(ChainHead.tenant_id, ChainHead.next_seq).where(ChainHead.next_seq >= W)).all()
    lagging = [(tenant_id, size) for tenant_id, size in sizes if built.get(tenant_id, 0) < size // W]
    written = 0
    for tenant_id, size in lagging:
        while True:
            with write_transaction(engine) as conn:
                have = _stored_tiles(conn, tenant_id, 0)
                wanted = min(size // W, have + MAX_BACKFILL_TILES)
                _fill(conn, tenant_id, 0, wanted)
            written += wanted - have
            if progress is not None:
                progress(tenant_id, wanted * W, size)
            if wanted == size // W:
                break
    return written


def _split(data: bytes) -> list[bytes]:
    return [data[offset : offset + tlog.HASH_SIZE] for offset in range(0, len(data), tlog.HASH_SIZE)]


def _tile_tree(hashes: list[bytes]) -> tuple[bytes, ...]:
    """A tile's hashes and every complete subtree root within it, bottom up: entry k concatenates the roots of the
    runs of 2**k hashes the tile holds whole (a full tile: 9 entries, 16 KiB)."""
    levels, current = [b"".join(hashes)], hashes
    while len(current) > 1:
        current = [tlog.node_hash(current[i], current[i + 1]) for i in range(0, len(current) - 1, 2)]
        levels.append(b"".join(current))
    return tuple(levels)


class TileCache:
    """Tiles recently read, with the subtree roots within them, per process: a tile of a given width never changes.
    Bounded by count: full tiles (16 KiB each with their roots) and, apart, the right edge's partial tiles."""

    def __init__(self, capacity: int = 1024, edge_capacity: int = 64) -> None:
        self._caches = {True: OrderedDict[tuple[str, int, int, int], tuple[bytes, ...]](), False: OrderedDict()}
        self._capacity = {True: capacity, False: edge_capacity}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int, int, int], load: Callable[[], tuple[bytes, ...]]) -> tuple[bytes, ...]:
        """The tile of (organisation, level, index, width), loaded on a miss."""
        cache = self._caches[key[3] == W]
        with self._lock:
            found = cache.get(key)
            if found is not None:
                cache.move_to_end(key)
                return found
        found = load()
        with self._lock:
            cache[key] = found
            while len(cache) > self._capacity[key[3] == W]:
                cache.popitem(last=False)
        return found


class TreeReader:
    """A `tlog.HashSource` over one organisation's stored tiles and records, as of `size` leaves (the head)."""

    def __init__(self, conn: Connection, tenant_id: str, size: int, cache: Optional[TileCache] = None) -> None:
        self.conn, self.tenant_id, self.size = conn, tenant_id, size
        self._cache = cache or TileCache(64, 16)

    def subtree(self, height: int, index: int) -> bytes:
        """A complete subtree's root: one lookup in the tile that holds it."""
        level, rest = divmod(height, tlog.TILE_HEIGHT)
        tile, offset = divmod(index << rest, W)
        node = offset >> rest
        return self._tile_tree(level, tile)[rest][node * tlog.HASH_SIZE : (node + 1) * tlog.HASH_SIZE]

    def _tile_tree(self, level: int, tile: int) -> tuple[bytes, ...]:
        width = min(W, (self.size >> (tlog.TILE_HEIGHT * level)) - tile * W)
        return self._cache.get((self.tenant_id, level, tile, width), lambda: _tile_tree(self._entries(level, tile, width)))

    def _entries(self, level: int, tile: int, width: int) -> list[bytes]:
        """The hashes of a tile as the tree of `size` has it: stored for a full tile, derived for the right edge."""
        if width == W:
            data = self.conn.execute(
                select(LogTile.hashes).where(LogTile.tenant_id == self.tenant_id, LogTile.level == level, LogTile.tile_index == tile)
            ).scalar()
            return _split(bytes(data)) if data is not None else self._missing_tile(level, tile)
        if level == 0:
            return _leaf_hashes(self.conn, self.tenant_id, tile * W, tile * W + width)
        return _tile_roots(self.conn, self.tenant_id, level - 1, tile * W, tile * W + width)

    def full_tile(self, level: int, index: int) -> bytes:
        return self._tile_tree(level, index)[0]

    def _missing_tile(self, level: int, index: int) -> list[bytes]:
        """A full tile a lagging tree has not stored yet (backfill under way), from what lies below it."""
        if level == 0:
            return _leaf_hashes(self.conn, self.tenant_id, index * W, index * W + W)
        return [self._tile_tree(level - 1, below)[-1] for below in range(index * W, index * W + W)]

    def tile(self, level: int, index: int, width: int) -> bytes:
        """The tile served at tile/<level>/<index>[.p/<width>]; NotFound where the tree does not reach it."""
        entries = self.size >> (tlog.TILE_HEIGHT * level)  # hashes of height 8*level the tree has
        if width < 1 or width > W or index * W + width > entries or (width < W and index != entries // W):
            raise NotFound(f"tile {tlog.tile_path(level, index, width)}: beyond the tree of {self.size} leaves")
        return self._tile_tree(level, index)[0][: width * tlog.HASH_SIZE]


def check_tree(conn: Connection, tenant_id: str, record_hashes: Iterable[str]) -> Optional[tuple[int, str]]:
    """Compare the stored tiles with the tiles the chain's record hashes make: None, or (first leaf, what differs)."""
    level_roots: list[bytes] = []
    pending: list[bytes] = []
    stored = _stored_rows(conn, tenant_id, 0)
    for record_hash in record_hashes:
        pending.append(tlog.leaf_hash(bytes.fromhex(record_hash)))
        if len(pending) == W:
            row = next(stored, None)
            if row is None:
                raise TreeNotBuilt(f"the log tree is built up to leaf {len(level_roots) * W} only: run `xase-ledger db upgrade` to build the rest")
            problem = _compare(row, 0, len(level_roots), pending)
            if problem:
                return len(level_roots) * W, problem
            level_roots.append(tlog.perfect_root(pending))
            pending = []
    if next(stored, None) is not None:
        return len(level_roots) * W, "log tile 0: stored beyond the records"
    level = 1
    while level_roots:
        stored = _stored_rows(conn, tenant_id, level)
        roots = []
        for index in range(len(level_roots) // W):
            entries = level_roots[index * W : index * W + W]
            problem = _compare(next(stored, None), level, index, entries)
            if problem:
                return index * _span(level), problem
            roots.append(tlog.perfect_root(entries))
        if next(stored, None) is not None:
            return len(roots) * _span(level), f"log tile {level}: stored beyond the tree"
        level_roots, level = roots, level + 1
    return None


def _stored_rows(conn: Connection, tenant_id: str, level: int) -> Iterator[Any]:
    query = select(LogTile.tile_index, LogTile.hashes, LogTile.root).where(LogTile.tenant_id == tenant_id, LogTile.level == level).order_by(LogTile.tile_index)
    return iter(conn.execute(query.execution_options(yield_per=256)))


def _compare(row: Any, level: int, index: int, entries: list[bytes]) -> Optional[str]:
    path = tlog.tile_path(level, index)
    if row is None:
        return f"log tile {path}: missing"
    if row.tile_index != index:
        return f"log tile {path}: missing (found {tlog.tile_path(level, row.tile_index)})"
    if bytes(row.hashes) != b"".join(entries):
        return f"log tile {path}: hashes differ from the records'"
    if bytes(row.root) != tlog.perfect_root(entries):
        return f"log tile {path}: root differs from its hashes'"
    return None
