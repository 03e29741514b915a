"""Batches of one SDK client chained in the order it sent them, though two are on their way at once.

The SDK numbers the batches of each client (its stream) and sends the next before the last is answered, so that
the ledger's processes parse and check them side by side. A batch that names its place (`X-Xase-Batch:
<stream>/<number>`) is appended only once its stream's previous batch has been: parsing overlaps, the chain keeps
the order of recording. It waits at most ORDER_WAIT seconds: a predecessor the ledger never received, or refused
whole, holds its stream up no longer than that, and then the chain has the later batch first. A batch the client
had to send in parts (the ledger refused it for its size) names every part but the last `<stream>/<number>+`:
each part waits for the previous batch, and only the last lets the next batch go.

A wait holds a server thread: an organisation has at most MAX_WAITING of its batches waiting in a server process
at once, and one more is chained at once, so a client that names predecessors it never sends cannot take the
threads other organisations' requests need.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Optional

from sqlalchemy import Connection, Engine, case, delete, select

from ledger_service.auth import now
from ledger_service.db import insert_statement, read_connection
from ledger_service.errors import ValidationFailed
from ledger_service.evidence.tables import BatchStream
from xase import evidence

__all__ = ["BATCH_HEADER", "MAX_WAITING", "ORDER_WAIT", "BatchPlace", "place", "wait_turn", "mark_chained"]

BATCH_HEADER = "X-Xase-Batch"
ORDER_WAIT = 2.0  # seconds a batch waits for its predecessor
MAX_WAITING = 4  # an organisation's batches waiting at once in a server process (of its 8 threads)
_FORGOTTEN_AFTER = timedelta(days=1)  # a stream not heard from this long is dropped (its client has gone)
_PLACE = re.compile(r"([A-Za-z0-9_-]{8,64})/([1-9][0-9]{0,14})(\+?)")


@dataclass(frozen=True)
class BatchPlace:
    stream: str
    number: int
    last_part: bool = True  # False: more parts of this batch follow; the next batch waits for them


def place(header: Optional[str]) -> Optional[BatchPlace]:
    """The place a batch names in its X-Xase-Batch header (none: no order asked); a 400 if malformed."""
    if header is None:
        return None
    matched = _PLACE.fullmatch(header)
    if matched is None:
        raise ValidationFailed(f"{BATCH_HEADER}: expected <stream>/<number>[+] (8-64 of A-Z a-z 0-9 _ -, then 1 to 10^15)", {"field": BATCH_HEADER})
    return BatchPlace(matched.group(1), int(matched.group(2)), not matched.group(3))


def _chained(engine: Engine, tenant_id: str, stream: str) -> int:
    with read_connection(engine) as conn:
        query = select(BatchStream.last_batch).where(BatchStream.tenant_id == tenant_id, BatchStream.stream_id == stream)
        return int(conn.execute(query).scalar() or 0)


_waiting_lock = threading.Lock()
_waiting: dict[str, int] = {}


def wait_turn(engine: Engine, tenant_id: str, batch: BatchPlace) -> bool:
    """Return once the stream's previous batch is chained (True), or after ORDER_WAIT seconds without it, or at once
    when MAX_WAITING of the organisation's batches are waiting already (False)."""
    with _waiting_lock:
        if _waiting.get(tenant_id, 0) >= MAX_WAITING:
            return False
        _waiting[tenant_id] = _waiting.get(tenant_id, 0) + 1
    try:
        return _wait(engine, tenant_id, batch)
    finally:
        with _waiting_lock:
            _waiting[tenant_id] -= 1
            if not _waiting[tenant_id]:
                del _waiting[tenant_id]


def _wait(engine: Engine, tenant_id: str, batch: BatchPlace) -> bool:
    deadline, pause = time.monotonic() + ORDER_WAIT, 0.0005
    while _chained(engine, tenant_id, batch.stream) < batch.number - 1:
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(2 * pause, 0.001)  # the predecessor's mark commits with its records: seen within a millisecond
    return True


def mark_chained(conn: Connection, tenant_id: str, batch: BatchPlace) -> None:
    """In the batch's append transaction: once it commits, the successor may go. A batch chained again (a retry)
    never moves its stream back."""
    upsert = insert_statement(conn, BatchStream).values(tenant_id=tenant_id, stream_id=batch.stream, last_batch=batch.number, updated_at=now())
    later = case((upsert.excluded.last_batch > BatchStream.last_batch, upsert.excluded.last_batch), else_=BatchStream.last_batch)
    conn.execute(upsert.on_conflict_do_update(index_elements=["tenant_id", "stream_id"], set_={"last_batch": later, "updated_at": now()}))
    if batch.number == 1:  # a client starts: forget those long gone
        stale = evidence.format_timestamp(datetime.now(timezone.utc) - _FORGOTTEN_AFTER)
        conn.execute(delete(BatchStream).where(BatchStream.tenant_id == tenant_id, BatchStream.updated_at < stale))
