"""Text that is safe to show on a terminal: control, line-separator and bidirectional-override characters."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeGuard  # Python 3.10+; annotations only, never evaluated

__all__ = ["UNPRINTABLE", "is_decimal", "is_label", "printable"]

# C0, DEL, C1, the Unicode line/paragraph separators, and the bidi embeddings, overrides and isolates.
UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


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
