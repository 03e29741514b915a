"""A loopback HTTP proxy in front of a real ledger that injects faults on the way back.

The ledger behind it is real and really commits; the proxy decides what the
SDK sees: a 429 storm, a 5xx burst, a response that is lost after the ledger
committed, or one delayed past the client's timeout. Every request is logged
with its time, so a test can check that backoff and Retry-After were honoured.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

import requests

__all__ = ["Fault", "FaultProxy", "Hit"]

_FORWARDED_HEADERS = ("X-API-Key", "Content-Type", "Content-Encoding", "Idempotency-Key")


@dataclass(frozen=True)
class Fault:
    """What to do to one request. `forward`: let the ledger see (and commit) it first."""

    status: int = 0  # > 0: answer this status instead of the ledger's
    retry_after: Optional[float] = None  # with a status: the Retry-After header
    delay: float = 0.0  # seconds to hold the (forwarded) answer back
    forward: bool = False


@dataclass(frozen=True)
class Hit:
    at: float  # time.monotonic() when the request arrived
    path: str
    status: int  # what the SDK was answered
    fault: Optional[Fault]


class FaultProxy:
    """`plan(n)` picks the fault for the n-th POST to the ledger (0-based); None passes it through."""

    def __init__(self, upstream: str, plan: Callable[[int], Optional[Fault]]) -> None:
        self.upstream = upstream.rstrip("/")
        self.plan = plan
        self.hits: list[Hit] = []
        self._posts = 0
        self._lock = threading.Lock()
        self._session = requests.Session()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        arrived = time.monotonic()
        fault = None
        if method == "POST":
            with self._lock:
                fault = self.plan(self._posts)
                self._posts += 1
        status, reply_headers, reply = 502, {"Content-Type": "application/json"}, b""
        if fault is None or fault.forward or not fault.status:
            upstream = self._session.request(method, self.upstream + path, data=body, headers=headers, timeout=60)
            status, reply = upstream.status_code, upstream.content
            reply_headers = {name: upstream.headers[name] for name in ("Content-Type", "Retry-After") if name in upstream.headers}
        if fault is not None and fault.status:
            status = fault.status
            reply = json.dumps({"error": {"code": "INJECTED", "type": "injected", "message": f"fault proxy answered {status}"}}).encode()
            reply_headers = {"Content-Type": "application/json"}
            if fault.retry_after is not None:
                reply_headers["Retry-After"] = f"{fault.retry_after:g}"
        with self._lock:
            self.hits.append(Hit(arrived, path, status, fault))
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        return status, reply_headers, reply


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _relay(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name: self.headers[name] for name in _FORWARDED_HEADERS if name in self.headers}
            status, reply_headers, reply = proxy.answer(self.command, self.path, headers, body)
            try:
                self.send_response(status)
                for name, value in reply_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (the point of a delay fault)

        do_GET = do_POST = _relay

        def log_message(self, *_args: object) -> None:  # quiet
            pass

    return Handler
