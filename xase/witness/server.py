"""The witness over HTTP: the standard library's threaded server, keep-alive, a cap on every body and a socket
timeout on every connection (a slow client holds one thread for at most `TIMEOUT` seconds)."""

from __future__ import annotations

import http.server
import logging
from typing import Any

from xase.witness.protocol import MAX_BODY_BYTES, Answer, Witness

__all__ = ["TIMEOUT", "serve"]

log = logging.getLogger("xase.witness")
TIMEOUT = 10.0


def _handler(witness: Witness, prefix: str) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = TIMEOUT
        disable_nagle_algorithm = True  # headers and body leave as separate writes: Nagle would hold the body ~40 ms
        wbufsize = 64 * 1024  # ...or rather as one: http.server flushes after each request
        server_version = "xase-witness"

        def _answer(self, answer: Answer) -> None:
            data = answer.body.encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            if self.path != f"{prefix}/add-checkpoint":
                self._answer(Answer(404, "not found\n"))
                return
            length = self.headers.get("Content-Length", "")
            if not length.isascii() or not length.isdigit():
                self.close_connection = True
                self._answer(Answer(411, "a Content-Length is required\n"))
                return
            if int(length) > MAX_BODY_BYTES:
                self.close_connection = True  # the body is not read: the connection cannot be reused
                self._answer(Answer(413, f"at most {MAX_BODY_BYTES} bytes\n"))
                return
            self._answer(witness.add_checkpoint(self.rfile.read(int(length))))

        def do_GET(self) -> None:
            self._answer(Answer(404, "not found\n"))

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            log.info("%s %s", self.address_string(), format % args)

    return Handler


def serve(witness: Witness, host: str, port: int, prefix: str = "") -> http.server.ThreadingHTTPServer:
    """A server bound to (host, port), not yet serving: call `serve_forever()` on it."""
    server = http.server.ThreadingHTTPServer((host, port), _handler(witness, prefix.rstrip("/")))
    server.daemon_threads = True
    return server
