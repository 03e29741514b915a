"""Transformations work on copies and do what they say, field by field."""

from __future__ import annotations

from typing import Any

import pytest

from ledger_service.access.transforms import transform
from ledger_service.errors import ValidationFailed

RECORD = {"record_id": "p1", "patient_id": "p12345", "name": "Ana Souza", "age": 57, "admitted": "2026-03-14T09:30:00Z",
          "lab": {"glucose": 212.5}, "ssn": "123-45-6789"}  # fmt: skip
KEY = bytes(32)


def test_hash_is_keyed_stable_and_joinable() -> None:
    (first,) = transform([RECORD], "anonymize", {"fields": ["patient_id"], "method": "hash"}, KEY)
    (again,) = transform([RECORD], "anonymize", {"fields": ["patient_id"]}, KEY)
    (other_key,) = transform([RECORD], "anonymize", {"fields": ["patient_id"]}, bytes([1]) * 32)
    assert first["patient_id"] == again["patient_id"] != other_key["patient_id"]
    assert len(first["patient_id"]) == 64 and first["age"] == 57 and first["record_id"] == "p1"


def test_mask_redact_and_the_original_is_untouched() -> None:
    original = dict(RECORD)
    (masked,) = transform([RECORD], "anonymize", {"fields": ["ssn", "name", "missing.field"], "method": "mask"}, KEY)
    (redacted,) = transform([RECORD], "anonymize", {"fields": ["lab.glucose"], "method": "redact"}, KEY)
    assert masked["ssn"] == "*******6789" and masked["name"] == "*****ouza"
    assert redacted["lab"] == {"glucose": "[REDACTED]"}
    assert RECORD == original


def test_generalize_numbers_and_dates() -> None:
    (general,) = transform([RECORD], "generalize", {"fields": ["age", "admitted", "lab.glucose"], "bucket": 10, "granularity": "month"}, KEY)
    assert (general["age"], general["admitted"], general["lab"]["glucose"]) == ("50-59", "2026-03", "210-220")


@pytest.mark.parametrize(
    "transformation, parameters, fragment",
    [
        ("encrypt", {"fields": ["age"]}, "transformation"),
        ("anonymize", {"fields": []}, "fields"),
        ("anonymize", {"fields": ["age"], "method": "rot13"}, "method"),
        ("anonymize", {"fields": ["record_id"]}, "record_id"),
        ("generalize", {"fields": ["age"], "bucket": 0}, "bucket"),
        ("generalize", {"fields": ["age"], "granularity": "day"}, "granularity"),
        ("anonymize", "age", "must be an object"),
    ],
)
def test_bad_requests_name_the_problem(transformation: str, parameters: Any, fragment: str) -> None:
    with pytest.raises(ValidationFailed, match=fragment):
        transform([RECORD], transformation, parameters, KEY)


def test_transform_fields_are_capped() -> None:
    from ledger_service.access.transforms import MAX_FIELDS

    with pytest.raises(ValidationFailed) as caught:
        transform([{"record_id": "r", "a": 1}], "anonymize", {"fields": [f"f{n}" for n in range(10_000)]}, b"k" * 32)
    assert caught.value.details == {"cap": "max_transform_fields", "limit": MAX_FIELDS}
