"""XaseClient: record decisions as evidence without slowing the caller (seed 001).

`record()` validates, snapshots and enqueues; a background worker (worker.py)
batches, commits and delivers through transport.py. This module only wires
them together and owns the lifecycle: flush, close, exit, fork.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import signal
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Mapping
from typing import Any, Optional, Union

from xase import evidence, note
from xase._payload import QueuedRecord, assign_key, check_idempotency_key, runtime_context, snapshot, wire_item
from xase.config import XaseClientConfig
from xase.errors import ValidationError, XaseError
from xase.spool import Spool
from xase.transport import Transport, url_path
from xase.types import ClientStats, RecordPayload, RecordResult
from xase.worker import FlushMarker, QueueItem, Worker

__all__ = ["XaseClient"]

log = logging.getLogger("xase")

_CLIENTS: weakref.WeakSet[XaseClient] = weakref.WeakSet()
_BLOCK_POLL = 0.001


class XaseClient:
    """Records AI decisions as immutable, verifiable evidence.

        xase = XaseClient({"api_key": "xase_pk_...", "fire_and_forget": True})
        xase.record({"policy": "credit_policy_v4", "input": {...}, "output": {...}, "confidence": 0.94})

    Options are those of XaseClientConfig, given as a dict, keyword arguments or both.
    """

    def __init__(self, config: Union[XaseClientConfig, Mapping[str, Any], None] = None, **options: Any) -> None:
        self.config = XaseClientConfig.build(config, **options)
        self._closed = False
        self._lifecycle = threading.Lock()
        self._start_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._start_process()
        self._open_spool()
        _CLIENTS.add(self)
        atexit.register(_flush_at_exit, weakref.ref(self))
        if self.config.handle_signals:
            _flush_on_sigterm()

    def _start_process(self) -> None:
        """Everything that belongs to one process: a forked child builds its own."""
        self._pid = os.getpid()
        self._queue: deque[QueueItem] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._runtime = runtime_context() if self.config.capture_runtime_context else None
        self._transport = Transport(self.config, self._stop)
        self._sync_transport = Transport(self.config)
        self._worker = Worker(self._queue, self._wake, self._stop, self._transport, self.config, self._runtime)
        self._sync_sent = self._sync_failed = 0
        self._spool: Optional[Spool] = None

    def _open_spool(self) -> None:
        """Records a previous run spooled but never saw acknowledged go first, with their original keys."""
        if not self.config.spool_path:
            return
        self._spool = Spool(self.config.spool_path, self.config.spool_fsync)
        self._worker.spool = self._spool
        replay = self._spool.keys()
        self._worker.backlog.extend(replay)  # the worker reads them back as the queue has room
        if replay:
            log.info("xase: replaying %d spooled record(s) from %s", len(replay), self.config.spool_path)
            self._start_worker()

    def _after_fork(self) -> None:
        # The parent still owns (and will deliver) what it had queued; the child
        # starts empty, with its own thread and sockets, and without the parent's spool.
        self._lifecycle = threading.Lock()
        self._start_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._start_process()

    # ---------------------------------------------------------------- recording

    def record(self, payload: RecordPayload, *, idempotency_key: Optional[str] = None, skip_queue: bool = False) -> Optional[RecordResult]:
        """Record one decision.

        Fire-and-forget mode: queue it and return None at once. Synchronous mode
        (`fire_and_forget=False` or `skip_queue=True`): wait for the ledger and
        return its RecordResult. Invalid payloads raise XaseError("VALIDATION_ERROR").
        """
        if self._closed:
            raise XaseError("CLIENT_CLOSED", "record() called after close()")
        if self._pid != os.getpid():
            self._after_fork()
        queued = QueuedRecord(snapshot(payload), check_idempotency_key(idempotency_key))
        if skip_queue or not self.config.fire_and_forget:
            return self._record_now(queued)
        if self._spool is not None and self.config.queue_full_policy == "spill":
            self._spool_or_spill(queued)
        elif len(self._queue) >= self.config.queue_max_size and not self._room_after_waiting():
            self._worker.count_drop()  # dropped: neither queued nor spooled
            self._wake.set()
        else:
            if self._spool is not None:
                self._write_to_spool(queued)
            self._enqueue(queued)
        return None

    def _write_to_spool(self, queued: QueuedRecord) -> str:
        """On disk before record() returns: if this process dies, the next start delivers it."""
        assert self._spool is not None
        key = assign_key(queued)
        try:
            self._spool.append(key, queued.payload)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"payload cannot be recorded as JSON evidence: {exc}") from None
        return key

    def _spool_or_spill(self, queued: QueuedRecord) -> None:
        """queue_full_policy="spill": behind a full queue (or earlier spilled records), wait on disk only."""
        key = self._write_to_spool(queued)
        worker = self._worker
        with worker.backlog_lock:
            spill = bool(worker.backlog) or len(self._queue) >= self.config.queue_max_size
            if spill:
                worker.backlog.append(key)
        if spill:
            self._wake.set()
            self._start_worker()
        else:
            self._enqueue(queued)

    def _enqueue(self, item: QueuedRecord) -> None:
        queue = self._queue
        was_empty = not queue
        queue.append(item)
        if was_empty:
            self._wake.set()
            self._start_worker()

    def _room_after_waiting(self) -> bool:
        if self.config.queue_full_policy != "block":
            return False
        deadline = time.monotonic() + self.config.block_timeout
        while len(self._queue) >= self.config.queue_max_size:
            if time.monotonic() >= deadline:
                return False
            time.sleep(_BLOCK_POLL)
        return True

    def _start_worker(self) -> None:
        if not self._worker.alive:
            with self._start_lock:
                self._worker.ensure_started()

    def _record_now(self, queued: QueuedRecord) -> RecordResult:
        try:
            item = wire_item(queued, self._runtime, self.config.hmac_key)
        except (evidence.CanonicalizationError, TypeError, ValueError) as exc:
            raise ValidationError(f"payload cannot be recorded as JSON evidence: {exc}") from None
        try:
            result = self._sync_transport.send_one(item)
        except XaseError:
            with self._sync_lock:
                self._sync_failed += 1
            raise
        with self._sync_lock:
            self._sync_sent += 1
        return result

    def erase_payload(self, transaction_id: str, reason: Optional[str] = None) -> dict[str, Any]:
        """Erase the raw payload the ledger stored for a record (`store_payload=True`), e.g. for a GDPR request.

        The record, its commitments and its receipt stay and keep verifying; the receipt then carries
        `payload.erased_at`. Needs an API key with the `payloads:erase` scope. The reason is kept in the
        chain: no personal data in it. Returns `{transaction_id, payload_ref, erased_at, erasure_transaction_id, receipt_url}`.
        """
        body = {"reason": reason} if reason is not None else None
        return dict(self._sync_transport.call("POST", url_path("records", transaction_id, "payload", "erase"), body))

    def get_receipt(self, transaction_id: str, *, witnessed: bool = False, timeout: float = 30.0) -> dict[str, Any]:
        """The record's receipt (docs/evidence-format.md section 5), with its place in the organisation's log
        (`tlog`) once a checkpoint covers it.

        `witnessed=True` waits, up to `timeout` seconds, for a checkpoint the ledger's witnesses cosigned (their
        quorum, `XASE_WITNESS_QUORUM`) and answers the receipt proven against it, with their cosignatures; check
        them with `verify_receipt(receipt, witnesses=[vkey, ...], quorum=K)`. Raises XaseError: `CHECKPOINT_PENDING`
        when the time is up, `NOT_FOUND`, or what the ledger answered.
        """
        path = url_path("receipts", transaction_id)
        deadline = time.monotonic() + timeout
        while True:
            try:
                return dict(self._sync_transport.call("GET", path, params={"witnessed": "true"} if witnessed else None))
            except XaseError as failure:
                last = failure.details.get("last_error") or {}
                pending = "CHECKPOINT_PENDING" in (failure.code, last.get("code") if isinstance(last, dict) else None)
                left = deadline - time.monotonic()
                if not pending or left <= 0:
                    raise
                time.sleep(min(left, max(0.1, float(getattr(failure, "retry_after", None) or 0.5))))

    def record_oversight(
        self,
        decision_transaction_id: str,
        action: str,
        actor: str,
        reason: Optional[str] = None,
        *,
        confirms: Optional[str] = None,
        details: Optional[dict[str, Any]] = None,
        idempotency_key: Optional[str] = None,
    ) -> dict[str, Any]:
        """Record a person's `override`, `confirm`, `stop` or `escalate` of a decision (EU AI Act Article 14), as
        evidence in the organisation's chain linked to the decision; waits for the ledger.

        `actor` says who (an id; it stays in the chain), `reason` why (required for override and stop). Where the
        organisation's rule for the decision's policy needs two persons (`set_oversight_rule`), an override or stop
        is `awaiting_confirmation` until another actor records a `confirm` naming it (`confirms=event_id`).
        A retry never records it twice (an idempotency key is made if none is given). Returns the event:
        `event_id`, `status`, `needs_confirmation`, `recorded_at`, `receipt_url`, ...
        """
        body: dict[str, Any] = {"action": action, "actor": actor}
        for name, value in (("reason", reason), ("confirms", confirms), ("details", details)):
            if value is not None:
                body[name] = value
        key = check_idempotency_key(idempotency_key) or str(uuid.uuid4())
        path = url_path("records", decision_transaction_id, "oversight")
        return dict(self._sync_transport.call("POST", path, body, headers={"Idempotency-Key": key}))

    def set_oversight_rule(self, policy_id: str, *, two_person: bool) -> dict[str, Any]:
        """Whether overrides and stops of `policy_id`'s decisions need a second person's confirmation; the change is evidence."""
        return dict(self._sync_transport.call("PUT", url_path("oversight", "rules", policy_id), {"two_person": two_person}))

    def get_explanation(self, transaction_id: str) -> dict[str, Any]:
        """Everything the evidence says about one decision (EU AI Act Article 86): the decision, its commitments and
        payload, what it cites and whether each resolves, the oversight events on it, and its receipt."""
        return dict(self._sync_transport.call("GET", url_path("records", transaction_id, "explanation")))

    def get_report(self, since: str, until: Optional[str] = None, *, gap_threshold_seconds: int = 86_400, settle: float = 10.0) -> dict[str, Any]:
        """The auditor's report on the organisation's evidence for [since, until) (default until: now), attested by
        the ledger: checks with their EU AI Act articles and verdicts, statistics, and the inputs they rest on. Check
        it against an export bundle with `xase verify BUNDLE --report REPORT` (xase.report.check_report).

        A report covers the chain up to the log's newest checkpoint: this first waits, up to `settle` seconds, for a
        checkpoint of every record the chain holds now (one is signed at most every XASE_CHECKPOINT_INTERVAL)."""
        held = int(self._sync_transport.call("GET", url_path("stats"))["records"])
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            signed = str(self._sync_transport.response("GET", url_path("log", "checkpoint")).text)
            if note.parse_checkpoint(note.split_note(signed)[0]).size >= held:
                break
            time.sleep(0.1)
        params: dict[str, Any] = {"since": since, "gap_threshold_seconds": gap_threshold_seconds, **({"until": until} if until else {})}
        return dict(self._sync_transport.call("GET", url_path("reports"), params=params))

    def report_page(self, report: dict[str, Any]) -> str:
        """The page (self-contained HTML) of a report `get_report` gave."""
        return str(self._sync_transport.response("POST", url_path("reports", "page"), body=report).text)

    def export_bundle(self, path: Union[str, os.PathLike[str]]) -> None:
        """Write the organisation's whole chain as an export bundle (JSON Lines, EVIDENCE-FORMAT.md section 6) to `path`."""
        response = self._sync_transport.response("GET", url_path("export"))
        with open(path, "wb") as out:
            out.write(response.content)

    # ---------------------------------------------------------------- lifecycle

    def flush(self, timeout_s: float = 5.0) -> None:
        """Return once every record queued before this call is delivered or failed.

        Raises XaseError("FLUSH_TIMEOUT") if that takes longer than `timeout_s`.
        """
        if self._pid != os.getpid():
            self._after_fork()
        if not self._worker.alive and not self._queue and not self._worker.backlog:
            return
        marker = FlushMarker()
        self._queue_marker(marker)
        self._start_worker()
        if not marker.done.wait(timeout_s):
            pending = self._pending()
            raise XaseError("FLUSH_TIMEOUT", f"Flush timeout: {pending} record(s) still pending after {timeout_s}s", None,
                            {"pending": pending, "timeout_s": timeout_s})  # fmt: skip

    def _queue_marker(self, marker: FlushMarker) -> None:
        """Behind every record queued so far, spilled ones included."""
        with self._worker.backlog_lock:
            (self._worker.backlog if self._worker.backlog else self._queue).append(marker)
        self._wake.set()

    def close(self, timeout_s: float = 5.0) -> None:
        """Flush (up to `timeout_s`) and stop. Idempotent; record() afterwards raises."""
        with self._lifecycle:
            if self._closed:
                return
            self._closed = True
        try:
            self.flush(timeout_s)
        except XaseError as exc:
            log.warning("xase: closing with records undelivered: %s", exc.message)
        finally:
            self._shut_down()

    def _shut_down(self) -> None:
        self._stop.set()
        self._wake.set()
        self._worker.join(timeout=0.5)
        self._sync_transport.close()
        if not self._worker.alive:
            self._transport.close()
            if self._spool is not None:
                self._spool.close()

    def _queued_records(self) -> int:
        # list() copies the deque in one C call, safe against concurrent appends.
        return sum(1 for item in list(self._queue) if type(item) is QueuedRecord)

    def _pending(self) -> int:
        """Records not yet final: queued or spilled ones plus those the worker holds (collecting, sending)."""
        return self._queued_records() + self._worker.spilled + self._worker.in_flight

    def __enter__(self) -> XaseClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def get_stats(self) -> ClientStats:
        worker = self._worker
        return {
            "size": self._queued_records(),
            "closed": self._closed,
            "sent": worker.sent + self._sync_sent,
            "failed": worker.failed + self._sync_failed,
            "dropped": worker.dropped,
            "retries": self._transport.retries + self._sync_transport.retries,
            "batches": worker.batches,
            "in_flight": worker.in_flight,
            "spooled": len(self._spool) if self._spool is not None else 0,
            "spilled": worker.spilled,
        }

    def _flush_at_exit(self) -> None:
        """Bounded by atexit_timeout, starts no thread: never holds up interpreter exit."""
        budget = self.config.atexit_timeout
        if self._closed or budget <= 0 or not self._pending():
            return
        deadline = time.monotonic() + budget
        if self._worker.alive:
            marker = FlushMarker()
            self._queue_marker(marker)
            marker.done.wait(budget)
        else:
            quick = dataclasses.replace(self.config, max_retries=0, timeout=max(0.1, budget))
            self._worker.sender = Transport(quick, self._stop)
            self._worker.drain_inline(deadline)
        self._stop.set()
        self._report_undelivered(f"before exit (atexit budget {budget:.1f}s)")

    def _report_undelivered(self, when: str) -> None:
        """What is not confirmed: never sent (lost, or kept in the spool) and sent but unanswered (maybe recorded)."""
        unsent = self._queued_records() + self._worker.spilled + self._worker.holding
        unanswered = self._worker.in_flight - self._worker.holding
        if not unsent + unanswered:
            return
        if self._spool is not None:
            log.warning("xase: %d record(s) not confirmed %s stay in the spool %s for the next start",
                        unsent + unanswered, when, self.config.spool_path)  # fmt: skip
        else:
            log.warning("xase: %d record(s) not confirmed %s: %d never sent (lost), %d sent without an answer (may be recorded); "
                        "%d failed earlier", unsent + unanswered, when, unsent, unanswered, self._worker.failed)  # fmt: skip

    def _flush_for_signal(self) -> None:
        """On SIGTERM: what is queued is delivered within atexit_timeout; the client stays usable."""
        if self._closed or self._pid != os.getpid() or not self._pending():
            return
        try:
            self.flush(self.config.atexit_timeout)
        except XaseError:
            self._report_undelivered(f"on SIGTERM (budget {self.config.atexit_timeout:.1f}s)")

    def __repr__(self) -> str:
        return f"<XaseClient {self.config.base_url} {'closed' if self._closed else 'open'}>"


def _flush_at_exit(client_ref: weakref.ref[XaseClient]) -> None:
    client = client_ref()
    if client is not None and client._pid == os.getpid():
        try:
            client._flush_at_exit()
        except Exception:
            log.exception("xase: error while flushing at exit")


_sigterm_lock = threading.Lock()
_sigterm_installed = False


def _flush_on_sigterm() -> None:
    """Install, once, a SIGTERM handler that flushes every client with handle_signals and then lets the signal take
    the course it had: the previous Python handler is called, the default one terminates the process, an ignored
    signal stays ignored. Only the main thread may install a handler; elsewhere this warns and does nothing."""
    global _sigterm_installed
    with _sigterm_lock:
        if _sigterm_installed:
            return
        if threading.current_thread() is not threading.main_thread():
            log.warning("xase: handle_signals needs the client to be created on the main thread; no SIGTERM handler installed")
            return
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: Any) -> None:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)  # a second SIGTERM is not held up
            # The flush runs on a helper thread, joined with a bound: this thread may hold a lock the flush needs.
            clients = [client for client in list(_CLIENTS) if client.config.handle_signals]

            def flush_all() -> None:
                for client in clients:
                    client._flush_for_signal()

            helper = threading.Thread(target=flush_all, name="xase-sigterm", daemon=True)
            helper.start()
            helper.join(sum(client.config.atexit_timeout for client in clients) + 0.5)
            if callable(previous):
                previous(signum, frame)
            elif previous in (signal.SIG_DFL, None):
                os.kill(os.getpid(), signum)

        signal.signal(signal.SIGTERM, on_sigterm)
        _sigterm_installed = True


def _reset_clients_in_child() -> None:
    for client in list(_CLIENTS):
        client._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_clients_in_child)
