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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Optional

from xase import evidence
from xase._jcs import loads_canonical

__all__ = ["BundleReport", "header_line", "record_line", "block_line", "end_line", "verify_bundle"]

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


def verify_bundle(lines: Iterable[bytes], trusted_keys: Optional[Iterable[evidence.PublicKeyLike]] = None) -> BundleReport:
    """Verify a whole exported chain; raises VerificationError naming the first broken seq."""
    iterator = iter(lines)
    header = evidence.loads(next(iterator, b"{}"))
    if header.get("type") != "header" or header.get("format") != FORMAT_NAME or header.get("v") != 1:
        raise evidence.VerificationError("bundle", "format", f"expected a {FORMAT_NAME} v1 header line, got {str(header)[:80]}")
    verifier = evidence.ChainVerifier(header["tenant_id"], _header_keys(header, trusted_keys))
    for number, raw in enumerate(iterator, start=2):
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
            return BundleReport(verifier.tenant_id, verifier.records, verifier.blocks)
        else:
            raise evidence.VerificationError("bundle", "format", f"line {number}: unknown line type {kind!r}")
    raise evidence.VerificationError("bundle", "end", "expected an end line, got end of file (truncated export)")
