"""The wire contract's shared rules, one home for the SDK and the ledger: which ids and keys are well formed, which
text may be shown, stored or parsed as a number. (The evidence format itself is `xase.evidence`.)

Text is safe to show on a terminal when it has no control, line-separator or bidirectional-override characters.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeGuard  # Python 3.10+; annotations only, never evaluated

__all__ = ["UNPRINTABLE", "IDEMPOTENCY_KEY_RULE", "is_decimal", "is_idempotency_key", "is_label", "is_transaction_id", "printable"]

# C0, DEL, C1, the Unicode line/paragraph separators, and the bidi embeddings, overrides and isolates.
UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


_UUID4 = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}")
_TOKEN_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")
_TRANSACTION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")
IDEMPOTENCY_KEY_RULE = "must be a UUID v4 or 16-64 characters of A-Z a-z 0-9 _ -"


def is_idempotency_key(value: object) -> TypeGuard[str]:
    """Whether `value` is an idempotency key: a UUID v4, or 16-64 characters of A-Z a-z 0-9 _ -."""
    return isinstance(value, str) and (_UUID4.fullmatch(value) is not None or _TOKEN_KEY.fullmatch(value) is not None)


def is_transaction_id(value: object) -> TypeGuard[str]:
    """Whether `value` is a transaction id: 1-128 of A-Z a-z 0-9 . _ : @ -, starting with a letter or digit."""
    return isinstance(value, str) and _TRANSACTION_ID.fullmatch(value) is not None


def is_label(value: object, limit: int) -> TypeGuard[str]:
    """Whether `value` is a name, key or id one may show and store: a non-empty str of at most `limit`
    characters, none of them UNPRINTABLE."""
    return isinstance(value, str) and 0 < len(value) <= limit and not UNPRINTABLE.search(value)


def is_decimal(value: object) -> TypeGuard[str]:
    """Whether `value` is a str of ASCII digits only: what may reach int(), which would also take "²", Arabic-Indic
    or fullwidth digits, surrounding blanks and underscores."""
    return isinstance(value, str) and value.isascii() and value.isdigit()


def printable(value: object) -> str:
    """`value` as text with every UNPRINTABLE character shown as its escape (\\x1b, \\u202e)."""
    return UNPRINTABLE.sub(lambda match: ascii(match.group())[1:-1], str(value))
