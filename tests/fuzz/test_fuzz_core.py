"""Property-based fuzzing of the core's parsers: only typed errors come out, never anything else."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ultra_llm_mock.backend import MockBackend

from ultra_llm._json_depth import JSONDepthError, check_depth, json_loads
from ultra_llm._options import parse_option_pairs, validate_options
from ultra_llm._types import to_messages
from ultra_llm.errors import InvalidOptionsError

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.lists(st.text(max_size=30), max_size=6))
def test_option_pairs_parse_or_raise_the_typed_error(pairs: list[str]) -> None:
    try:
        options = parse_option_pairs(pairs)
    except InvalidOptionsError:
        return
    assert set(options) == {pair.partition("=")[0].strip() for pair in pairs}


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(["temperature", "max_tokens", "top_p", "seed", "stop", "bogus"]),
        st.one_of(
            st.none(),
            st.integers(),
            st.floats(allow_nan=True),
            st.text(max_size=10),
            st.lists(st.text(max_size=5), max_size=3),
            st.booleans(),
        ),
        max_size=5,
    )
)
def test_option_values_validate_or_raise_the_typed_error(options: dict[str, object]) -> None:
    try:
        _, cleaned = validate_options(MockBackend, options)
    except InvalidOptionsError as error:
        assert error.message and error.fix
        return
    assert set(cleaned) <= {"temperature", "max_tokens", "top_p", "seed", "stop"}


@FUZZ
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["role", "content", "name"]),
            st.one_of(st.text(max_size=10), st.integers(), st.none()),
            max_size=3,
        ),
        max_size=4,
    )
)
def test_message_lists_convert_or_raise_value_error(items: list[dict[str, object]]) -> None:
    try:
        messages = to_messages(items)
    except ValueError:
        return
    assert len(messages) == len(items) and all(isinstance(m.content, str) for m in messages)


BRACKETY = st.text(alphabet='[]{}"\\ab', max_size=8)
"""Strings full of what the depth scanner must not count: brackets, quotes and backslashes."""
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | BRACKETY,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(BRACKETY, inner, max_size=3),
    max_leaves=20,
)


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    return 0


@FUZZ
@given(JSON_VALUES, st.integers(min_value=0, max_value=8), st.booleans())
def test_json_depth_is_counted_exactly_in_text_and_values(value: Any, limit: int, as_bytes: bool) -> None:
    text = json.dumps(value, ensure_ascii=False)
    data: str | bytes = text.encode() if as_bytes else text
    if depth_of(value) > limit:
        with pytest.raises(JSONDepthError):
            json_loads(data, limit=limit)
        with pytest.raises(JSONDepthError):
            check_depth(value, limit=limit)
    else:
        assert json_loads(data, limit=limit) == value
        check_depth(value, limit=limit)
