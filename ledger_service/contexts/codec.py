"""Turn payloads: JSON in, msgpack stored (numeric tags when the registry describes the type), typed JSON out.

Encoding with a descriptor checks every field against it (422 for a wrong type, a missing required field,
a name the type does not have); without one the JSON is stored as msgpack with its own keys, sorted so
equal payloads are equal bytes (and deduplicate). Payloads above a threshold are zstd-compressed at rest;
the content hash is always of the uncompressed bytes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Optional

import msgpack
import zstandard

from ledger_service.contexts.registry import INTEGER_RANGES, Descriptor, Field, Registry
from ledger_service.errors import FailedDependency, Unprocessable
from xase.wire import is_decimal

__all__ = ["COMPRESSION_NONE", "COMPRESSION_ZSTD", "RenderOptions", "RENDER_CHOICES", "encode", "project", "plain", "compress", "decompress"]

COMPRESSION_NONE = 0
COMPRESSION_ZSTD = 1
MAX_NESTING = 32  # nested types within nested types
MAX_DEPTH = 64  # arrays and objects within each other in a payload
UNIX_MS_RANGE = (-62_135_596_800_000, 253_402_300_799_999)  # 0001-01-01 to 9999-12-31T23:59:59.999Z: what ISO-8601 can show
_ZSTD_LEVEL = 3


# ---------------------------------------------------------------- JSON -> msgpack


def _sorted_plain(value: Any, depth: int = 0) -> Any:
    """JSON with every object's keys sorted: equal payloads become equal bytes."""
    if depth > MAX_DEPTH:
        raise Unprocessable(f"data: nested deeper than {MAX_DEPTH} levels", {"cap": "MAX_DEPTH", "limit": MAX_DEPTH})
    if isinstance(value, dict):
        return {key: _sorted_plain(value[key], depth + 1) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted_plain(item, depth + 1) for item in value]
    return value


def _fail(path: str, expected: str, value: Any) -> Unprocessable:
    shown = repr(value)
    return Unprocessable(f"data.{path}: expected {expected}, got {shown[:80]}", {"field": path})


def _integer(value: Any, kind: str, path: str) -> int:
    if isinstance(value, str) and is_decimal(value.removeprefix("-")) and len(value) <= 21:
        value = int(value)  # u64 as the typed view renders it by default
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, f"an integer ({kind})", value)
    low, high = INTEGER_RANGES[kind]
    if not low <= value <= high:
        raise _fail(path, f"an integer in [{low}, {high}] ({kind})", value)
    return value


def _timestamp(value: Any, field: Field, path: str) -> int:
    if isinstance(value, str) and not is_decimal(value.removeprefix("-")):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _fail(path, "unix milliseconds or an ISO-8601 time", value) from None
        if moment.tzinfo is None:
            raise _fail(path, "an ISO-8601 time with a zone", value)
        value = round(moment.timestamp() * 1000)
    number = _integer(value, field.type, path)
    if not UNIX_MS_RANGE[0] <= number <= UNIX_MS_RANGE[1]:
        raise _fail(path, "a time within the years 1 to 9999 (unix milliseconds)", value)
    return number


def _enum_value(value: Any, field: Field, registry: Registry, path: str) -> int:
    labels = registry.enum(field.enum or "")
    if isinstance(value, str) and not is_decimal(value):
        number = registry.enum_number(field.enum or "", value)
        if number is None:
            raise _fail(path, f"a label of {field.enum} ({len(labels)} labels)", value)
        return number
    number = _integer(value, field.type, path)
    if number not in labels:
        raise _fail(path, f"a value of {field.enum} {sorted(labels)}", value)
    return number


def _scalar(value: Any, kind: str, path: str) -> Any:
    if kind == "string" and isinstance(value, str):
        return value
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind in ("f32", "f64") and isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) <= 1.7976931348623157e308:
        return float(value)
    if kind == "bytes" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _fail(path, "base64 bytes", value) from None
    if kind in INTEGER_RANGES:
        return _integer(value, kind, path)
    if kind == "map" and isinstance(value, dict):
        return _sorted_plain(value)
    if kind in ("any", "typed_blob"):
        return _sorted_plain(value)
    raise _fail(path, kind, value)


def _value(value: Any, field: Field, registry: Registry, path: str, nesting: int) -> Any:
    if value is None:
        if field.optional:
            return None
        raise _fail(path, f"a value ({field.name} is required)", value)
    if field.enum:
        return _enum_value(value, field, registry, path)
    if field.semantic == "unix_ms":
        return _timestamp(value, field, path)
    if field.type == "array":
        if not isinstance(value, list):
            raise _fail(path, "an array", value)
        kind = field.items or "any"
        return [_scalar(item, kind, f"{path}[{index}]") for index, item in enumerate(value)]
    if field.type == "nested":
        if not isinstance(value, dict):
            raise _fail(path, f"an object ({field.nested})", value)
        return _tagged(value, _nested_descriptor(field, registry), registry, path + ".", nesting + 1)
    return _scalar(value, field.type, path)


def _nested_descriptor(field: Field, registry: Registry) -> Descriptor:
    descriptor = registry.descriptor(field.nested or "", None)
    if descriptor is None:
        raise FailedDependency(f"no descriptor for the nested type {field.nested}", {"type_id": field.nested})
    return descriptor


def _tagged(data: Mapping[str, Any], descriptor: Descriptor, registry: Registry, prefix: str, nesting: int) -> dict[int, Any]:
    if nesting > MAX_NESTING:
        raise Unprocessable(f"data: nested types deeper than {MAX_NESTING}")
    unknown = sorted(set(data) - set(descriptor.by_name))
    if unknown:
        raise Unprocessable(f"data: fields {unknown[:10]} are not in {descriptor.type_id} version {descriptor.type_version}", {"fields": unknown[:10]})
    encoded: dict[int, Any] = {}
    for tag, field in sorted(descriptor.fields.items()):
        if field.name not in data:
            if not field.optional:
                raise _fail(prefix + field.name, f"a value ({field.name} is required)", None)
            continue
        encoded[tag] = _value(data[field.name], field, registry, prefix + field.name, nesting)
    return encoded


def encode(data: Mapping[str, Any], descriptor: Optional[Descriptor], registry: Registry) -> bytes:
    """The msgpack bytes of a turn's JSON payload: numeric tags with a descriptor, sorted names without."""
    body = _tagged(data, descriptor, registry, "", 0) if descriptor is not None else _sorted_plain(dict(data))
    try:
        return msgpack.packb(body, use_bin_type=True)  # type: ignore[no-any-return]
    except (OverflowError, ValueError) as exc:  # an integer beyond 64 bits, which JSON allows and msgpack cannot hold
        raise Unprocessable(f"data: {exc}: integers must fit in 64 bits") from None


def compress(payload: bytes, threshold: int) -> tuple[int, bytes]:
    """(compression, stored bytes): zstd at `threshold` bytes and above, when it saves space."""
    if len(payload) >= threshold:
        packed = zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(payload)
        if len(packed) < len(payload):
            return COMPRESSION_ZSTD, packed
    return COMPRESSION_NONE, payload


def decompress(compression: int, stored: bytes, uncompressed_len: int) -> bytes:
    if compression == COMPRESSION_NONE:
        return stored
    if compression == COMPRESSION_ZSTD:
        return zstandard.ZstdDecompressor().decompress(stored, max_output_size=uncompressed_len)
    raise ValueError(f"unknown compression {compression}")


# ---------------------------------------------------------------- msgpack -> typed JSON


@dataclass(frozen=True)
class RenderOptions:
    include_unknown: bool = False
    bytes_render: str = "base64"  # base64 | hex | len_only
    u64_format: str = "string"  # string | number
    enum_render: str = "label"  # label | number | both
    time_render: str = "iso"  # iso | unix_ms


RENDER_CHOICES = {"bytes_render": ("base64", "hex", "len_only"), "u64_format": ("string", "number"),
                  "enum_render": ("label", "number", "both"), "time_render": ("iso", "unix_ms")}  # fmt: skip


def _bytes(value: bytes, options: RenderOptions) -> str:
    if options.bytes_render == "hex":
        return value.hex()
    if options.bytes_render == "len_only":
        return f"<{len(value)} bytes>"
    return base64.b64encode(value).decode("ascii")


def plain(value: Any, options: RenderOptions) -> Any:
    """A msgpack value as JSON without a descriptor: keys as strings, bytes per `bytes_render`."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:  # most leaves: nothing to do
        return value
    if kind is dict:
        return {key if type(key) is str else str(key): plain(item, options) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [plain(item, options) for item in value]
    if kind is bytes:
        return _bytes(value, options)
    return value


def _iso_ms(value: int) -> Any:
    """ISO-8601 with milliseconds; a value no such time can show (stored before its type said unix_ms) stays a number."""
    if not UNIX_MS_RANGE[0] <= value <= UNIX_MS_RANGE[1]:
        return value
    moment = datetime.fromtimestamp(value // 1000, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value % 1000:03d}Z"


def _render(value: Any, field: Field, registry: Registry, options: RenderOptions, nesting: int) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        if field.enum:
            label = registry.enum(field.enum).get(value)
            if options.enum_render == "number" or label is None:
                return value
            return label if options.enum_render == "label" else {"value": value, "label": label}
        if field.semantic == "unix_ms":
            return value if options.time_render == "unix_ms" else _iso_ms(value)
        if field.type in ("u64", "i64") and options.u64_format == "string":
            return str(value)
        return value
    if field.type == "nested" and isinstance(value, dict) and nesting < MAX_NESTING:
        descriptor = registry.descriptor(field.nested or "", None)
        if descriptor is not None:
            return _project_map(value, descriptor, registry, options, nesting + 1)
    if field.type == "array" and isinstance(value, list) and field.items:
        item_field = Field(field.tag, field.name, field.items)
        return [_render(item, item_field, registry, options, nesting) for item in value]
    return plain(value, options)


def _project_map(body: Mapping[Any, Any], descriptor: Descriptor, registry: Registry, options: RenderOptions, nesting: int) -> dict[str, Any]:
    data: dict[str, Any] = {}
    unknown: dict[str, Any] = {}
    for key, value in body.items():
        # By tag, or by name: a turn appended before its type was published was stored with its field names.
        field = descriptor.fields.get(key) if isinstance(key, int) else descriptor.by_name.get(key) if isinstance(key, str) else None
        if field is None:
            unknown[str(key)] = plain(value, options)
        else:
            data[field.name] = _render(value, field, registry, options, nesting)
    if options.include_unknown and unknown:
        data["unknown"] = unknown
    return data


def project(payload: bytes, descriptor: Optional[Descriptor], registry: Registry, options: RenderOptions) -> Any:
    """A stored payload as typed JSON (`descriptor`) or as its own JSON (None)."""
    body = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    if descriptor is None or not isinstance(body, dict):
        return plain(body, options)
    return _project_map(body, descriptor, registry, options, 0)
