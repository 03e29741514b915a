"""Reading answers from servers the caller does not control (a witness, a log, a mirror) with a cap in bytes:
the request is sent with `stream=True` and the body read until the cap, decompressed as it comes."""

from __future__ import annotations

from typing import Any

__all__ = ["BodyTooLarge", "read_at_most"]


class BodyTooLarge(ValueError):
    """A server answered more than the caller allows."""


def read_at_most(response: Any, limit: int) -> bytes:
    """The body of a `requests` response sent with `stream=True`; BodyTooLarge past `limit` bytes. Closes it."""
    body = bytearray()
    try:
        for chunk in response.iter_content(min(limit + 1, 64 * 1024)):
            body += chunk
            if len(body) > limit:
                raise BodyTooLarge(f"{response.url}: the answer is over {limit} bytes")
    finally:
        response.close()
    return bytes(body)
