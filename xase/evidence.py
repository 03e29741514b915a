"""The Xase evidence format v1 (EVIDENCE-FORMAT.md): the one implementation.

Pure functions, bytes in and bytes or exceptions out: no I/O, no Flask, no
SQLAlchemy. The SDK, the ledger service and the `xase verify` command all use
this module, and tests/vectors/ pins it so the format cannot drift.

Verifiers return None or raise VerificationError, whose message reads
"<object>: <check>: expected X, got Y" and whose `step` and `seq` say which
check failed and where.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Literal, Optional, Union

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from xase import _merkle, note, tlogproof
from xase._jcs import MAX_SAFE_INTEGER, CanonicalizationError, InvalidJSONError, canonicalize, loads, orjson_writes_number_as_jcs

if TYPE_CHECKING:
    from typing import TypeGuard  # Python 3.10+; annotations only, never evaluated

__all__ = [
    "MAX_SAFE_INTEGER",
    "ALGORITHM",
    "BLOCK_FIELDS",
    "FORMAT_VERSION",
    "RECORD_FIELDS",
    "ZERO_HASH",
    "CanonicalizationError",
    "ChainState",
    "ChainVerifier",
    "GENESIS",
    "InvalidJSONError",
    "VerificationError",
    "block_hash",
    "block_signing_body",
    "block_signing_input",
    "canonicalize",
    "chain_position",
    "check_block_body",
    "check_record_body",
    "commitment",
    "format_timestamp",
    "inclusion_proof",
    "is_hex64",
    "key_fingerprint",
    "load_public_key",
    "log_proof_of",
    "loads",
    "merkle_root",
    "record_hash",
    "sha256_hex",
    "sign_digest",
    "trusted_key_ids",
    "verify_inclusion",
    "verify_receipt",
    "verify_signature",
]

FORMAT_VERSION = 1
ALGORITHM = "ECDSA_P256_SHA256"
ZERO_HASH = "0" * 64

RECORD_FIELDS = (
    "v", "tenant_id", "seq", "prev_hash", "transaction_id", "policy_id", "policy_version",
    "decision_type", "confidence", "processing_time_ms", "input_hash", "output_hash",
    "context_hash", "commitment", "payload_ref", "recorded_at",
)  # fmt: skip
BLOCK_FIELDS = (
    "v", "tenant_id", "block_seq", "prev_block_hash", "first_seq", "last_seq", "merkle_root",
    "head_record_hash", "sealed_at", "key_id", "algorithm",
)  # fmt: skip

PublicKeyLike = Union[str, bytes, ec.EllipticCurvePublicKey]


class VerificationError(Exception):
    """A piece of evidence failed a named check.

    `step` names the check (e.g. "record_hash", "inclusion_proof", "signature");
    `seq` is the first record sequence number the failure concerns, if any.
    """

    def __init__(self, subject: str, step: str, detail: str, *, seq: int | None = None) -> None:
        super().__init__(f"{subject}: {step}: {detail}")
        self.subject = subject
        self.step = step
        self.detail = detail
        self.seq = seq


# ---------------------------------------------------------------- hashing


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def commitment(value: Any, hmac_key: bytes | None = None) -> str:
    """Section 1: hex(H(JCS(value))), or hex(HMAC-SHA256(key, JCS(value))) with a key."""
    data = canonicalize(value)
    if hmac_key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(hmac_key, data, hashlib.sha256).hexdigest()


def record_hash(body: Mapping[str, Any]) -> str:
    """Section 2: hex(H(JCS(record_body)))."""
    return hashlib.sha256(_record_jcs(body, _plainly_valid_record_body(body))).hexdigest()


def _record_jcs(body: Mapping[str, Any], plainly_valid: bool) -> bytes:
    """JCS(body). A plainly valid body (see below) has fixed ASCII keys and strings that orjson writes
    as RFC 8785 does, so only its numbers could come out otherwise: checked here, the rest is orjson's."""
    if plainly_valid and all(orjson_writes_number_as_jcs(body[member]) for member in ("seq", "confidence", "processing_time_ms")):
        try:
            return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # a lone surrogate: canonicalize names it
            pass
    return canonicalize(body)


def chain_position(seq: int) -> Literal["genesis", "chained"]:
    return "genesis" if seq == 0 else "chained"


def block_signing_body(block: Mapping[str, Any]) -> dict[str, Any]:
    """The block body alone: a block as served minus `block_hash` and `signature`."""
    return {key: value for key, value in block.items() if key not in ("block_hash", "signature")}


def block_signing_input(body: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """Section 3: JCS(block_body) and its SHA-256, the `block_hash` a signer signs (a KMS key is sent the bytes)."""
    canonical = canonicalize(block_signing_body(body))
    return canonical, hashlib.sha256(canonical).digest()


def block_hash(body: Mapping[str, Any]) -> bytes:
    """Section 3: H(JCS(block_body)), 32 raw bytes; the digest that is signed."""
    return block_signing_input(body)[1]


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds and Z, as the format requires."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---------------------------------------------------------------- Merkle


def merkle_root(record_hashes: Sequence[str]) -> str:
    """Section 4: the root over a block's record hashes (hex, in seq order)."""
    return _merkle.root([bytes.fromhex(h) for h in record_hashes]).hex()


def inclusion_proof(record_hashes: Sequence[str], leaf_index: int) -> list[str]:
    return [node.hex() for node in _merkle.inclusion_proof([bytes.fromhex(h) for h in record_hashes], leaf_index)]


def verify_inclusion(record_hash_hex: str, leaf_index: int, tree_size: int, audit_path: Sequence[str], root_hex: str) -> None:
    """RFC 9162 2.1.3.2 for a record hash; raises _merkle.MerkleError (a ValueError)."""
    leaf = _merkle.leaf_hash(bytes.fromhex(record_hash_hex))
    path = [bytes.fromhex(node) for node in audit_path]
    _merkle.verify_inclusion(leaf, leaf_index, tree_size, path, bytes.fromhex(root_hex))


# ---------------------------------------------------------------- keys and signatures


def load_public_key(key: PublicKeyLike) -> ec.EllipticCurvePublicKey:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key
    loaded = serialization.load_pem_public_key(key.encode() if isinstance(key, str) else key)
    if not isinstance(loaded, ec.EllipticCurvePublicKey) or loaded.curve.name != "secp256r1":
        raise ValueError("public key is not an ECDSA P-256 key")
    return loaded


def key_fingerprint(key: PublicKeyLike) -> str:
    """Section 3: "sha256:" + hex(H(DER SubjectPublicKeyInfo))."""
    der = load_public_key(key).public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def sign_digest(private_key: ec.EllipticCurvePrivateKey, digest: bytes) -> str:
    """ECDSA P-256 over a 32-byte digest; base64 of the DER signature."""
    signature = private_key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    return base64.b64encode(signature).decode("ascii")


def verify_signature(public_key: PublicKeyLike, digest: bytes, signature_b64: str) -> bool:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        load_public_key(public_key).verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    except (InvalidSignature, binascii.Error, ValueError, TypeError):
        return False
    return True


# ---------------------------------------------------------------- shape checks

_HEX64 = re.compile(r"[0-9a-f]{64}")


def is_hex64(value: Any) -> TypeGuard[str]:
    """Whether `value` is 64 lowercase hex characters: a hash as the format writes it."""
    return type(value) is str and _HEX64.fullmatch(value) is not None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_members(subject: str, obj: Any, fields: Sequence[str], seq: int | None) -> None:
    if not isinstance(obj, dict):
        raise VerificationError(subject, "format", f"expected a JSON object, got {type(obj).__name__}", seq=seq)
    if set(obj) != set(fields):
        missing = sorted(set(fields) - set(obj))
        extra = sorted(set(obj) - set(fields))
        raise VerificationError(subject, "format", f"expected members {list(fields)}, missing {missing}, unexpected {extra}", seq=seq)
    if obj["v"] != FORMAT_VERSION or not _is_int(obj["v"]):
        raise VerificationError(subject, "format", f"v: expected {FORMAT_VERSION}, got {obj['v']!r}", seq=seq)


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _is_optional_text(value: Any) -> bool:
    return value is None or isinstance(value, str)


# Section 2's member types, one rule a member: checked in this order, the first one broken is named.
_RECORD_MEMBER_RULES: tuple[tuple[str, Callable[[Any], bool]], ...] = (
    ("seq", lambda value: _is_int(value) and value >= 0),
    ("tenant_id", _is_text),
    ("transaction_id", _is_text),
    ("policy_id", _is_text),
    ("policy_version", _is_optional_text),
    ("decision_type", _is_optional_text),
    ("confidence", lambda value: value is None or (_is_number(value) and 0 <= value <= 1)),
    ("processing_time_ms", lambda value: value is None or (_is_number(value) and value >= 0)),
    ("prev_hash", is_hex64),
    ("input_hash", is_hex64),
    ("output_hash", is_hex64),
    ("context_hash", is_hex64),
    ("commitment", lambda value: value in ("sha256", "hmac-sha256")),
    ("payload_ref", lambda value: value is None or is_hex64(value)),
    ("recorded_at", _is_text),
)


_RECORD_MEMBERS = frozenset(RECORD_FIELDS)
_TEXT_TYPE = frozenset({str})
_OPTIONAL_TEXT_TYPES = frozenset({str, type(None)})
_NUMBER_TYPES = frozenset({int, float})
_HEX64_LIST = re.compile(r"[0-9a-f]{64}(?:,[0-9a-f]{64})*")


def _plainly_valid_record_body(body: Any) -> bool:
    """The members and every rule above at once, for the plain types a parsed or stored body has.

    True only where the rules hold (tests prove it); where it says no, the rules run one by one to
    name what is wrong. A verifier checks a body per record, so this is the one worth a fast path.
    """
    if type(body) is not dict or body.keys() != _RECORD_MEMBERS:
        return False
    seq, confidence, elapsed = body["seq"], body["confidence"], body["processing_time_ms"]
    hashes = [body["prev_hash"], body["input_hash"], body["output_hash"], body["context_hash"]]
    if body["payload_ref"] is not None:
        hashes.append(body["payload_ref"])
    return (
        type(body["v"]) is int and body["v"] == FORMAT_VERSION
        and type(seq) is int and seq >= 0
        and _TEXT_TYPE.issuperset(map(type, (body["tenant_id"], body["transaction_id"], body["policy_id"], body["recorded_at"])))
        and _OPTIONAL_TEXT_TYPES.issuperset(map(type, (body["policy_version"], body["decision_type"])))
        and (confidence is None or (type(confidence) in _NUMBER_TYPES and 0 <= confidence <= 1))
        and (elapsed is None or (type(elapsed) in _NUMBER_TYPES and elapsed >= 0))
        and (body["commitment"] == "sha256" or body["commitment"] == "hmac-sha256")
        and _TEXT_TYPE.issuperset(map(type, hashes)) and _HEX64_LIST.fullmatch(",".join(hashes)) is not None
    )  # fmt: skip


def check_record_body(body: Any) -> None:
    """Section 2 shape: exactly the members, with their types."""
    if _plainly_valid_record_body(body):
        return
    seq = body.get("seq") if isinstance(body, dict) and _is_int(body.get("seq")) else None
    subject = f"record seq {seq}"
    _check_members(subject, body, RECORD_FIELDS, seq)
    for member, valid in _RECORD_MEMBER_RULES:
        if not valid(body[member]):
            raise VerificationError(subject, "format", f"{member}: invalid value {body[member]!r}", seq=seq)


def check_block_body(block: Any) -> None:
    """Section 3 shape: exactly the members (plus block_hash and signature), with their types."""
    block_seq = block.get("block_seq") if isinstance(block, dict) else None
    subject = f"block {block_seq}"
    first = block.get("first_seq") if isinstance(block, dict) and _is_int(block.get("first_seq")) else None
    _check_members(subject, block_signing_body(block) if isinstance(block, dict) else block, BLOCK_FIELDS, first)
    ints_ok = all(_is_int(block[m]) and block[m] >= 0 for m in ("block_seq", "first_seq", "last_seq"))
    if not ints_ok or block["last_seq"] < block["first_seq"]:
        raise VerificationError(subject, "format", "block_seq, first_seq, last_seq: expected integers with first <= last", seq=first)
    for member in ("prev_block_hash", "merkle_root", "head_record_hash"):
        if not is_hex64(block[member]):
            raise VerificationError(subject, "format", f"{member}: invalid value {block[member]!r}", seq=first)
    if block["algorithm"] != ALGORITHM:
        raise VerificationError(subject, "format", f"algorithm: expected {ALGORITHM}, got {block['algorithm']!r}", seq=first)
    for member in ("tenant_id", "sealed_at", "key_id"):
        if not isinstance(block[member], str):
            raise VerificationError(subject, "format", f"{member}: invalid value {block[member]!r}", seq=first)


def _verify_block_hash(block: Mapping[str, Any], subject: str, seq: int | None) -> bytes:
    """The block's digest, once its stated `block_hash` is shown to be it."""
    digest = block_hash(block)
    if block.get("block_hash") != digest.hex():
        raise VerificationError(subject, "block_hash", f"expected {digest.hex()}, got {block.get('block_hash')}", seq=seq)
    return digest


def _verify_block_signature(block: Mapping[str, Any], digest: bytes, key: PublicKeyLike, subject: str, seq: int | None) -> None:
    signature = block.get("signature")
    if not isinstance(signature, str) or not verify_signature(key, digest, signature):
        raise VerificationError(subject, "signature", f"expected a valid {ALGORITHM} signature by {block['key_id']}, got one that does not verify", seq=seq)


# ---------------------------------------------------------------- receipts


def trusted_key_ids(trusted_keys: Iterable[PublicKeyLike] | None) -> set[str] | None:
    """Key ids of trusted keys given as PEMs, key objects or "sha256:..." ids; None stays None."""
    if trusted_keys is None:
        return None
    return {key if isinstance(key, str) and key.startswith("sha256:") else key_fingerprint(key) for key in trusted_keys}


def _verify_receipt_key(receipt: Mapping[str, Any], block: Mapping[str, Any], trusted: set[str] | None, seq: int) -> str:
    subject = f"record seq {seq}"
    public_key = receipt.get("public_key")
    if not isinstance(public_key, dict) or not isinstance(public_key.get("pem"), str):
        raise VerificationError(subject, "public_key", "expected an object with key_id and pem, got none", seq=seq)
    try:
        actual_id = key_fingerprint(public_key["pem"])
    except ValueError as exc:
        raise VerificationError(subject, "public_key", f"expected an ECDSA P-256 PEM, got an unreadable key ({exc})", seq=seq) from None
    if public_key.get("key_id") != actual_id:
        raise VerificationError(subject, "public_key", f"key_id: expected {actual_id}, got {public_key.get('key_id')}", seq=seq)
    if block["key_id"] != actual_id:
        raise VerificationError(subject, "public_key", f"block key_id: expected {actual_id}, got {block['key_id']}", seq=seq)
    if trusted is not None and actual_id not in trusted:
        raise VerificationError(subject, "public_key", f"expected one of the trusted keys {sorted(trusted)}, got {actual_id}", seq=seq)
    return str(public_key["pem"])


def _verify_position(receipt: Mapping[str, Any], record: Mapping[str, Any], block: Mapping[str, Any]) -> dict[str, Any]:
    seq = record["seq"]
    subject = f"record seq {seq}"
    if record["tenant_id"] != block["tenant_id"]:
        raise VerificationError(subject, "position", f"block tenant_id: expected {record['tenant_id']}, got {block['tenant_id']}", seq=seq)
    if not block["first_seq"] <= seq <= block["last_seq"]:
        raise VerificationError(subject, "position", f"expected seq within block [{block['first_seq']}, {block['last_seq']}], got {seq}", seq=seq)
    if receipt.get("chain_position") != chain_position(seq):
        raise VerificationError(subject, "position", f"chain_position: expected {chain_position(seq)}, got {receipt.get('chain_position')}", seq=seq)
    proof = receipt.get("inclusion_proof")
    if not isinstance(proof, dict):
        raise VerificationError(subject, "position", "inclusion_proof: expected an object, got none", seq=seq)
    expected = {"leaf_index": seq - block["first_seq"], "tree_size": block["last_seq"] - block["first_seq"] + 1}
    for member, value in expected.items():
        if proof.get(member) != value or not _is_int(proof.get(member)):
            raise VerificationError(subject, "position", f"{member}: expected {value}, got {proof.get(member)!r}", seq=seq)
    return proof


def _verify_commitments(record: Mapping[str, Any], hmac_key: bytes | None, **originals: Any) -> None:
    seq = record["seq"]
    for name, value in originals.items():
        if value is None:
            continue
        key = hmac_key if name != "context" and record["commitment"] == "hmac-sha256" else None
        if name != "context" and record["commitment"] == "hmac-sha256" and hmac_key is None:
            raise VerificationError(f"record seq {seq}", f"{name}_hash", "expected an hmac_key to check an hmac-sha256 commitment, got none", seq=seq)
        actual = commitment(value, key)
        if actual != record[f"{name}_hash"]:
            raise VerificationError(f"record seq {seq}", f"{name}_hash", f"expected {record[f'{name}_hash']}, got {actual}", seq=seq)


def verify_receipt(
    receipt: Mapping[str, Any],
    trusted_keys: Iterable[PublicKeyLike] | None = None,
    input: Any = None,  # noqa: A002 - the name the format and the seed use
    output: Any = None,
    context: Any = None,
    *,
    hmac_key: bytes | None = None,
    log_keys: Iterable[str] | None = None,
    witnesses: Iterable[str] = (),
    quorum: int = 0,
) -> None:
    """Verify a receipt offline, in the order of EVIDENCE-FORMAT.md section 5 (and 8, for its `tlog` member).

    `trusted_keys` are PEMs, public keys or "sha256:..." key ids; without them
    the receipt's own key is used, which proves integrity but not origin.
    With `input`/`output`/`context` the record's commitments are checked too
    (`hmac_key` for hmac-sha256 commitments). A receipt with a `tlog` member
    must also be at its index of the organisation's log, by a checkpoint the
    block's key or one of `log_keys` (note verifier keys) signed; with `quorum`,
    that checkpoint must carry at least `quorum` valid cosignatures by the
    `witnesses` (cosigner vkeys, type 0x04). Returns None or raises
    VerificationError naming the failed step.
    """
    if not isinstance(receipt, Mapping) or receipt.get("receipt_version") != 1:
        found = receipt.get("receipt_version") if isinstance(receipt, Mapping) else type(receipt).__name__
        raise VerificationError("receipt", "format", f"receipt_version: expected 1, got {found!r}")
    record, block = receipt.get("record"), receipt.get("block")
    check_record_body(record)
    assert isinstance(record, dict)
    seq = record["seq"]
    subject = f"record seq {seq}"
    actual_hash = record_hash(record)
    if receipt.get("record_hash") != actual_hash:
        raise VerificationError(subject, "record_hash", f"expected {actual_hash}, got {receipt.get('record_hash')}", seq=seq)
    check_block_body(block)
    assert isinstance(block, dict)
    proof = _verify_position(receipt, record, block)
    audit_path = proof.get("audit_path")
    if not isinstance(audit_path, list) or not all(is_hex64(node) for node in audit_path):
        raise VerificationError(subject, "inclusion_proof", f"audit_path: expected a list of 64-hex hashes, got {audit_path!r}", seq=seq)
    try:
        verify_inclusion(actual_hash, proof["leaf_index"], proof["tree_size"], audit_path, block["merkle_root"])
    except _merkle.MerkleError as exc:
        raise VerificationError(subject, "inclusion_proof", str(exc), seq=seq) from None
    digest = _verify_block_hash(block, subject, seq)
    pem = _verify_receipt_key(receipt, block, trusted_key_ids(trusted_keys), seq)
    _verify_block_signature(block, digest, pem, subject, seq)
    if "tlog" in receipt:
        vkeys = log_keys if log_keys is not None else ([] if trusted_keys is not None else None)
        block_keys = [pem, *(key for key in trusted_keys or () if not (isinstance(key, str) and key.startswith("sha256:")))]
        _verify_log_member(receipt, bytes.fromhex(actual_hash), seq, block_keys, vkeys)
    if quorum > 0:
        _verify_witnesses(receipt, witnesses, quorum, seq)
    _verify_commitments(record, hmac_key, input=input, output=output, context=context)


def log_proof_of(receipt: Mapping[str, Any]) -> tlogproof.LogProof:
    """The receipt's `tlog` member as a proof (form checked, nothing verified); VerificationError when malformed."""
    member = receipt.get("tlog")
    seq = receipt.get("record", {}).get("seq") if isinstance(receipt.get("record"), dict) else None
    subject = f"record seq {seq}"
    if not isinstance(member, dict) or not _is_int(member.get("index")) or not isinstance(member.get("checkpoint"), str):
        raise VerificationError(subject, "tlog", "expected an object with index, inclusion_proof and checkpoint", seq=seq)
    nodes = member.get("inclusion_proof")
    try:
        if not isinstance(nodes, list) or len(nodes) > 63 or not all(isinstance(node, str) for node in nodes):
            raise ValueError("inclusion_proof: expected a list of base64 hashes")
        return tlogproof.LogProof(member["index"], [base64.b64decode(node, validate=True) for node in nodes], member["checkpoint"])
    except (binascii.Error, ValueError) as problem:
        raise VerificationError(subject, "tlog", str(problem), seq=seq) from None


def _verify_witnesses(receipt: Mapping[str, Any], witnesses: Iterable[str], quorum: int, seq: int) -> None:
    """The receipt's checkpoint carries at least `quorum` valid cosignatures by `witnesses` (cosigner vkeys)."""
    subject = f"record seq {seq}"
    if not isinstance(receipt.get("tlog"), dict):
        raise VerificationError(subject, "witnesses", "expected a receipt with its place in the log (tlog) to check cosignatures on, got none", seq=seq)
    try:
        tlogproof.verify_witnesses(str(receipt["tlog"].get("checkpoint")), [note.parse_vkey(vkey) for vkey in witnesses], quorum)
    except (note.NoteError, tlogproof.TlogProofError) as problem:
        raise VerificationError(subject, "witnesses", str(problem), seq=seq) from None


def _verify_log_member(
    receipt: Mapping[str, Any], record_hash_bytes: bytes, seq: int, block_keys: Sequence[PublicKeyLike], log_keys: Iterable[str] | None
) -> None:
    """The `tlog` member: the record at index `seq` of a checkpoint signed (ECDSA line) by the block's key or another
    trusted block key, or by one of `log_keys`; None (no trusted keys of any kind) takes the receipt's own vkeys,
    which proves integrity, not origin."""
    subject = f"record seq {seq}"
    proof = log_proof_of(receipt)
    if proof.index != seq:
        raise VerificationError(subject, "tlog", f"index: expected the record's seq {seq}, got {proof.index}", seq=seq)
    vkeys = log_keys if log_keys is not None else receipt["tlog"].get("vkeys") or []
    try:
        origin = note.parse_checkpoint(note.split_note(proof.checkpoint)[0]).origin
        verifiers = [*(note.ecdsa_verifier(origin, load_public_key(key)) for key in block_keys), *(note.parse_vkey(str(vkey)) for vkey in vkeys)]
        tlogproof.verify_log_inclusion(record_hash_bytes, proof, verifiers)
    except (note.NoteError, tlogproof.TlogProofError) as problem:
        raise VerificationError(subject, "tlog", str(problem), seq=seq) from None


# ---------------------------------------------------------------- whole chains


@dataclass(frozen=True)
class ChainState:
    """Where a chain stands after a block: all a verifier needs to go on from there."""

    next_seq: int
    blocks: int
    prev_hash: str
    prev_block_hash: str

    @classmethod
    def after_block(cls, block: Mapping[str, Any]) -> ChainState:
        """The state a block claims to leave (unverified: a segment's verifier starts from it, and the
        verifier of the previous segment must end at exactly it)."""
        return cls(int(block["last_seq"]) + 1, int(block["block_seq"]) + 1, str(block["head_record_hash"]), str(block["block_hash"]))


GENESIS = ChainState(0, 0, ZERO_HASH, ZERO_HASH)


class ChainVerifier:
    """Full-chain verification (section 6), fed in order: each block's records, then the block.

    Shared by `xase-ledger verify` (fed from the database) and export-bundle
    verification (fed from JSON Lines). Raises VerificationError at the first
    break, with `seq` set to the first record sequence number affected.
    A verifier may start mid-chain, from the state after a block (`start`):
    segments of one chain are then verified in parallel and joined by
    comparing each one's end `state` with the next one's start.
    """

    def __init__(
        self,
        tenant_id: str,
        public_keys: Mapping[str, PublicKeyLike],
        start: ChainState = GENESIS,
        *,
        context_commitment: Callable[[Any], str] = commitment,
    ) -> None:
        """`context_commitment`: how a context given to add_record is hashed (a caller that parsed the
        contexts from JSON may memoize it; see xase.bundle)."""
        self.tenant_id = tenant_id
        self._keys = {key_id: load_public_key(key) for key_id, key in public_keys.items()}
        self._context_commitment = context_commitment
        self.records = start.next_seq
        self.blocks = start.blocks
        self._next_seq = start.next_seq
        self._prev_hash = start.prev_hash
        self._prev_block_hash = start.prev_block_hash
        self._pending: list[str] = []  # record hashes since the last block

    @property
    def state(self) -> Optional[ChainState]:
        """Where the chain stands, or None between blocks (records not yet sealed)."""
        if self._pending:
            return None
        return ChainState(self._next_seq, self.blocks, self._prev_hash, self._prev_block_hash)

    def add_record(self, body: Mapping[str, Any], stored_hash: str, context: Any = None) -> None:
        plainly_valid = _plainly_valid_record_body(body)
        if not plainly_valid:
            check_record_body(body)
        seq = body["seq"]
        if seq != self._next_seq or body["tenant_id"] != self.tenant_id or body["prev_hash"] != self._prev_hash:
            self._raise_broken_link(body)
        actual = hashlib.sha256(_record_jcs(body, plainly_valid)).hexdigest()
        if stored_hash != actual:
            raise VerificationError(f"record seq {seq}", "record_hash", f"expected {actual}, got {stored_hash}", seq=seq)
        if context is not None:
            committed = self._context_commitment(context)
            if committed != body["context_hash"]:
                raise VerificationError(f"record seq {seq}", "context_hash", f"expected {body['context_hash']}, got {committed}", seq=seq)
        self._pending.append(actual)
        self._prev_hash = actual
        self._next_seq += 1
        self.records += 1

    def _raise_broken_link(self, body: Mapping[str, Any]) -> None:
        seq, subject = body["seq"], f"record seq {self._next_seq}"
        if seq != self._next_seq:
            raise VerificationError(subject, "seq", f"expected {self._next_seq}, got {seq}", seq=self._next_seq)
        if body["tenant_id"] != self.tenant_id:
            raise VerificationError(subject, "tenant_id", f"expected {self.tenant_id}, got {body['tenant_id']}", seq=seq)
        raise VerificationError(subject, "prev_hash", f"expected {self._prev_hash}, got {body['prev_hash']}", seq=seq)

    def add_block(self, block: Mapping[str, Any]) -> None:
        check_block_body(block)
        first = block["first_seq"]
        subject = f"block {block['block_seq']}"
        expected_first = self._next_seq - len(self._pending)
        checks = (
            ("block_seq", self.blocks, block["block_seq"]),
            ("tenant_id", self.tenant_id, block["tenant_id"]),
            ("prev_block_hash", self._prev_block_hash, block["prev_block_hash"]),
            ("first_seq", expected_first, first),
            ("last_seq", self._next_seq - 1, block["last_seq"]),
        )
        for step, expected, actual in checks:
            if expected != actual:
                raise VerificationError(subject, step, f"expected {expected}, got {actual}", seq=min(expected_first, first))
        root = merkle_root(self._pending)
        if block["merkle_root"] != root:
            raise VerificationError(subject, "merkle_root", f"expected {root}, got {block['merkle_root']}", seq=first)
        if block["head_record_hash"] != self._pending[-1]:
            raise VerificationError(subject, "head_record_hash", f"expected {self._pending[-1]}, got {block['head_record_hash']}", seq=first)
        key = self._keys.get(block["key_id"])
        if key is None:
            raise VerificationError(subject, "key_id", f"expected one of {sorted(self._keys)}, got {block['key_id']}", seq=first)
        _verify_block_signature(block, _verify_block_hash(block, subject, first), key, subject, first)
        self._prev_block_hash = str(block["block_hash"])
        self._pending = []
        self.blocks += 1

    def finish(self) -> None:
        """Records after the last block are covered by no signature: a break."""
        if self._pending:
            first = self._next_seq - len(self._pending)
            raise VerificationError(f"record seq {first}", "block", "expected a block covering this record, got none", seq=first)
