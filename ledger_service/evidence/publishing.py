"""Each organisation's log published to S3-compatible object storage (`XASE_LOG_BUCKET`), laid out as C2SP
tlog-tiles: `<prefix><organisation id>/tile/<L>/<N>[.p/<W>]` and `<prefix><organisation id>/checkpoint`.

Witnesses, monitors and auditors then read the log from the bucket or a CDN in front of it without touching the
ledger, the way Tessera serves logs. After each checkpoint the ledger signs, a background thread uploads the
tiles the new size adds (full tiles and the right edge's partial tiles, each immutable once written), then the
checkpoint, so that a reader who finds a checkpoint finds every tile it needs. A failed upload is retried with
backoff; nothing waits for it. Uploads are idempotent: a restart, or several server processes, write the same
bytes again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from ledger_service.db import read_connection
from ledger_service.evidence import checkpoints, tree
from ledger_service.evidence.background import BackgroundJobs
from ledger_service.evidence.tables import LogCheckpoint
from xase import note, tlog

__all__ = ["Publisher", "tiles_between"]

IMMUTABLE = "public, max-age=31536000, immutable"


def tiles_between(old: int, size: int) -> list[tuple[int, int, int]]:
    """(level, index, width) of every tile a tree of `size` has that the tree of `old` had not in that form: full
    tiles not full at `old`, and the partial tiles at `size`'s right edge."""
    W = tlog.TILE_WIDTH
    wanted: list[tuple[int, int, int]] = []
    level = 0
    while size >> (tlog.TILE_HEIGHT * level):
        entries, before = size >> (tlog.TILE_HEIGHT * level), old >> (tlog.TILE_HEIGHT * level)
        wanted += [(level, index, W) for index in range(before // W, entries // W)]
        if entries % W and entries != before:  # the same count at this level: the old tree had this very tile
            wanted.append((level, entries // W, entries % W))
        level += 1
    return wanted


class Publisher:
    """Uploads organisations' tiles and checkpoints to one bucket, in a thread of its own (started on first use)."""

    def __init__(self, engine: Engine, bucket: str, cache: tree.TileCache, client: Any = None) -> None:
        self._engine, self._cache = engine, cache
        self.bucket, _, prefix = bucket.partition("/")
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._client = client
        self._published: dict[str, int] = {}  # the size whose tiles and checkpoint are in the bucket
        self._jobs = BackgroundJobs(f"publishing logs to s3://{self.bucket}", lambda tenant_id: self.publish(str(tenant_id)))

    def _s3(self) -> Any:
        if self._client is None:
            import boto3  # the [kms] extra; AWS_ENDPOINT_URL points it at any S3-compatible store

            self._client = boto3.client("s3")
        return self._client

    def notify(self, tenant_id: str) -> None:
        """A checkpoint was signed: publish it soon. Never blocks."""
        self._jobs.notify(tenant_id)

    def notify_all(self) -> None:
        """Publish every organisation that has a checkpoint (at start: what a crash may have left unpublished)."""
        with read_connection(self._engine) as conn:
            tenants = conn.execute(select(LogCheckpoint.tenant_id).distinct()).scalars().all()
        for tenant_id in tenants:
            self.notify(tenant_id)

    def _key(self, tenant_id: str, name: str) -> str:
        return f"{self.prefix}{tenant_id}/{name}"

    def _bucket_size(self, tenant_id: str) -> int:
        """The size of the checkpoint the bucket holds (0 when it has none)."""
        s3 = self._s3()
        try:
            body = s3.get_object(Bucket=self.bucket, Key=self._key(tenant_id, "checkpoint"))["Body"].read().decode()
        except s3.exceptions.NoSuchKey:
            return 0
        return note.parse_checkpoint(note.split_note(body)[0]).size

    def publish(self, tenant_id: str) -> int:
        """Upload what the organisation's newest checkpoint adds to the bucket; the size published."""
        with read_connection(self._engine, snapshot=True) as conn:
            signed = checkpoints.latest(conn, tenant_id)
            if tenant_id not in self._published:
                self._published[tenant_id] = self._bucket_size(tenant_id)
            old = self._published[tenant_id]
            if signed is None or signed.size <= old:
                return old
            reader = tree.TreeReader(conn, tenant_id, signed.size, self._cache)
            tiles = [(tlog.tile_path(*tile), reader.tile(*tile)) for tile in tiles_between(old, signed.size)]
        s3 = self._s3()
        for path, data in tiles:  # a partial tile of a given width never changes either
            s3.put_object(Bucket=self.bucket, Key=self._key(tenant_id, f"tile/{path}"), Body=data,
                          ContentType="application/octet-stream", CacheControl=IMMUTABLE)  # fmt: skip
        held = self._bucket_size(tenant_id)
        if held > signed.size:  # another server process published a newer one meanwhile
            self._published[tenant_id] = held
            return held
        s3.put_object(Bucket=self.bucket, Key=self._key(tenant_id, "checkpoint"), Body=signed.note.encode(), ContentType="text/plain; charset=utf-8",
                      CacheControl="no-cache")  # fmt: skip
        self._published[tenant_id] = signed.size
        return signed.size
