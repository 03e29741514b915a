"""Export bundles (EVIDENCE-FORMAT.md section 6): JSON Lines a tenant's whole chain travels in.

Line 1 is a header naming the tenant and the public keys; then, in order, each
block's records followed by the block; last, a trailer with the counts, so a
truncated file cannot pass for a shorter chain.

    {"type": "header", "format": "xase-export", "v": 1, "tenant_id": ..., "public_keys": [...]}
    {"type": "record", "record": {...body...}, "record_hash": "...", "context": {...}}
    {"type": "block", "block": {...body..., "block_hash": "...", "signature": "..."}}
    {"type": "end", "records": N, "blocks": M}
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, Optional, Union

import orjson

from xase import evidence, segments
from xase._jcs import loads_canonical

__all__ = ["BundleReport", "header_line", "record_line", "block_line", "end_line", "verify_bundle", "verify_bundle_file"]

FORMAT_NAME = "xase-export"


@dataclass(frozen=True)
class BundleReport:
    tenant_id: str
    records: int
    blocks: int


def _line(obj: Mapping[str, Any]) -> bytes:
    return evidence.canonicalize(obj) + b"\n"


def header_line(tenant_id: str, public_keys: list[dict[str, Any]], exported_at: str) -> bytes:
    return _line({"type": "header", "format": FORMAT_NAME, "v": 1, "tenant_id": tenant_id,
                  "exported_at": exported_at, "public_keys": public_keys})  # fmt: skip


def record_line(body: Mapping[str, Any], record_hash: str, context: Any) -> bytes:
    return _line({"type": "record", "record": body, "record_hash": record_hash, "context": context})


def block_line(block: Mapping[str, Any]) -> bytes:
    return _line({"type": "block", "block": block})


def end_line(records: int, blocks: int) -> bytes:
    return _line({"type": "end", "records": records, "blocks": blocks})


class _ParsedContextCommitments:
    """`evidence.commitment` of the contexts of an export, memoized by their orjson form: most records of a
    chain carry the same runtime context. For parsed JSON only: there, equal orjson bytes are equal values
    (no NaN, which orjson would write as null, and no subclasses of the JSON types)."""

    LIMIT = 4096  # distinct contexts remembered; past it, the memo starts over

    def __init__(self) -> None:
        self._known: dict[bytes, str] = {}

    def __call__(self, context: Any) -> str:
        try:
            key = orjson.dumps(context, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # beyond orjson (an integer over 64 bits): commitment names the fault
            return evidence.commitment(context)
        known = self._known.get(key)
        if known is None:
            known = evidence.commitment(context)
            if len(self._known) >= self.LIMIT:
                self._known.clear()
            self._known[key] = known
        return known


def _verifier(tenant_id: str, keys: Mapping[str, evidence.PublicKeyLike], start: evidence.ChainState = evidence.GENESIS) -> evidence.ChainVerifier:
    return evidence.ChainVerifier(tenant_id, keys, start, context_commitment=_ParsedContextCommitments())


def _header_keys(header: Mapping[str, Any], trusted_keys: Optional[Iterable[evidence.PublicKeyLike]]) -> dict[str, str]:
    keys = {}
    for entry in header.get("public_keys") or []:
        key_id = evidence.key_fingerprint(entry["pem"])
        if entry.get("key_id") != key_id:
            raise evidence.VerificationError("bundle header", "public_key", f"key_id: expected {key_id}, got {entry.get('key_id')}")
        keys[key_id] = entry["pem"]
    trusted = evidence.trusted_key_ids(trusted_keys)
    if trusted is not None:
        keys = {key_id: pem for key_id, pem in keys.items() if key_id in trusted}
    return keys


def _header(raw: bytes) -> dict[str, Any]:
    header = evidence.loads(raw)
    if not isinstance(header, dict) or header.get("type") != "header" or header.get("format") != FORMAT_NAME or header.get("v") != 1:
        raise evidence.VerificationError("bundle", "format", f"expected a {FORMAT_NAME} v1 header line, got {str(header)[:80]}")
    return header


def _feed(verifier: evidence.ChainVerifier, lines: Iterable[bytes], first_number: int) -> bool:
    """Every line to the verifier: True at a valid end line (what follows it is not read), False when lines run out."""
    for number, raw in enumerate(lines, start=first_number):
        if not raw.strip():
            continue
        line = loads_canonical(raw)
        kind = line.get("type") if isinstance(line, dict) else None
        if kind == "record":
            verifier.add_record(line["record"], line["record_hash"], line.get("context"))
        elif kind == "block":
            verifier.add_block(line["block"])
        elif kind == "end":
            verifier.finish()
            if (line.get("records"), line.get("blocks")) != (verifier.records, verifier.blocks):
                expected = f"{line.get('records')} records and {line.get('blocks')} blocks"
                raise evidence.VerificationError("bundle", "end", f"expected {expected}, got {verifier.records} and {verifier.blocks}")
            return True
        else:
            raise evidence.VerificationError("bundle", "format", f"line {number}: unknown line type {kind!r}")
    return False


def verify_bundle(lines: Iterable[bytes], trusted_keys: Optional[Iterable[evidence.PublicKeyLike]] = None) -> BundleReport:
    """Verify a whole exported chain; raises VerificationError naming the first broken seq."""
    iterator = iter(lines)
    header = _header(next(iterator, b"{}"))
    verifier = _verifier(header["tenant_id"], _header_keys(header, trusted_keys))
    if not _feed(verifier, iterator, first_number=2):
        raise evidence.VerificationError("bundle", "end", "expected an end line, got end of file (truncated export)")
    return BundleReport(verifier.tenant_id, verifier.records, verifier.blocks)


def verify_bundle_file(
    path: Union[str, os.PathLike[str]], trusted_keys: Optional[Iterable[evidence.PublicKeyLike]] = None, *, jobs: Optional[int] = None
) -> BundleReport:
    """`verify_bundle` of a file, in `jobs` processes (default: one per core for files of PARALLEL_BYTES or more).

    The same report, or the same VerificationError, whatever the number of processes: see xase.segments.
    """
    if jobs is None:
        jobs = segments.default_jobs() if os.path.getsize(path) >= PARALLEL_BYTES else 1
    if jobs > 1:
        report = _verify_in_segments(os.fspath(path), trusted_keys, jobs)
        if report is not None:
            return report
    with open(path, "rb") as lines:
        return verify_bundle(lines, trusted_keys)


# ---------------------------------------------------------------- in segments

PARALLEL_BYTES = 8 * 1024 * 1024  # below this, starting processes costs more than it saves
_BLOCK_LINE = b'\n{"block":'  # how a block line starts in canonical JSON (keys sorted: "block" < "type")


def _verify_in_segments(path: str, trusted_keys: Optional[Iterable[evidence.PublicKeyLike]], jobs: int) -> Optional[BundleReport]:
    """The report if every segment verifies and joins; None for the sequential pass to decide (and name the break)."""
    try:
        with open(path, "rb") as handle:
            header = _header(handle.readline())
            body_start = handle.tell()
        keys = _header_keys(header, trusted_keys)
        splits = _split_after_blocks(path, body_start, jobs)
    except (OSError, ValueError, KeyError, TypeError):  # VerificationError and InvalidJSONError are ValueErrors
        return None
    if not splits:
        return None
    starts = [body_start, *(start for start, _ in splits)]
    ends: list[Optional[int]] = [*(start for start, _ in splits), None]
    previous_blocks: list[Optional[int]] = [None, *(block_at for _, block_at in splits)]
    tenant_id = str(header["tenant_id"])
    arguments = [(path, tenant_id, keys, start, end, block_at) for start, end, block_at in zip(starts, ends, previous_blocks)]
    end_state = segments.joined(segments.run_segments(_verify_segment, arguments))
    return None if end_state is None else BundleReport(tenant_id, end_state.next_seq, end_state.blocks)


def _split_after_blocks(path: str, body_start: int, jobs: int) -> list[tuple[int, int]]:
    """Up to jobs - 1 split points, each (where a segment starts, where the block line before it starts)."""
    splits: list[tuple[int, int]] = []
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
        size = len(view)
        for k in range(1, jobs):
            found = view.find(_BLOCK_LINE, max(body_start - 1, size * k // jobs))
            line_end = view.find(b"\n", found + 1) if found >= 0 else -1
            if line_end < 0:
                break
            if not splits or line_end + 1 > splits[-1][0]:
                splits.append((line_end + 1, found + 1))
    return splits


def _lines_between(handle: BinaryIO, start: int, end: Optional[int]) -> Iterator[bytes]:
    handle.seek(start)
    position = start
    for line in handle:
        if end is not None and position >= end:
            return
        position += len(line)
        yield line


def _verify_segment(
    path: str, tenant_id: str, keys: dict[str, str], start: int, end: Optional[int], previous_block_at: Optional[int]
) -> Optional[segments.Segment]:
    """One segment in its own process: the states it began and ended at, or None if anything failed."""
    try:
        with open(path, "rb") as handle:
            begin = evidence.GENESIS
            if previous_block_at is not None:
                handle.seek(previous_block_at)
                begin = evidence.ChainState.after_block(loads_canonical(handle.readline())["block"])
            verifier = _verifier(tenant_id, keys, begin)
            ended = _feed(verifier, _lines_between(handle, start, end), first_number=0)
    except Exception:
        return None
    state = verifier.state
    if state is None or ended != (end is None):  # only the last segment holds the end line
        return None
    return segments.Segment(begin, state)
