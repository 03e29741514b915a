"""Bundle verification memoizes context commitments by their orjson form: only ever the commitment itself."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xase import bundle, evidence

text = st.text(max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64) | st.floats(allow_nan=False, allow_infinity=False) | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=20,
)


def _commitment_or_error(commit: Any, value: Any) -> Any:
    try:
        return commit(value)
    except evidence.CanonicalizationError as error:
        return type(error)


@settings(max_examples=300, deadline=None)
@given(st.lists(json_values, min_size=1, max_size=6))
def test_memoized_commitments_of_parsed_contexts_equal_the_commitment(values: list[Any]) -> None:
    memo = bundle._ParsedContextCommitments()
    for value in [*values, *values]:  # the second round is answered from the memo
        parsed = evidence.loads(json.dumps(value))
        assert _commitment_or_error(memo, parsed) == _commitment_or_error(evidence.commitment, parsed)


def test_the_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle._ParsedContextCommitments, "LIMIT", 3)
    memo = bundle._ParsedContextCommitments()
    for n in range(10):
        assert memo({"n": n}) == evidence.commitment({"n": n})
    assert len(memo._known) <= 3
