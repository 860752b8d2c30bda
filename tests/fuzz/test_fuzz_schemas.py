"""Property-based fuzzing of request schemas through the mock backend: a malformed or unsatisfiable
schema (a keyword holding the wrong kind of value, NaN, a huge number, bounds no value meets) is the
caller's typed error (exit 2, HTTP 422), never a ``PluginError``; a schema the mock takes gets JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ultra_llm_mock.schema import SUPPORTED_KEYWORDS

from ultra_llm import create_adapter_sync
from ultra_llm._sync import SyncAdapter
from ultra_llm.errors import PluginError, UltraLLMError

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYWORDS = sorted(SUPPORTED_KEYWORDS | {"pattern", "allOf", "not", "uniqueItems", "prefixItems", "multipleOf"})
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 2, -1, 1e11, 1e300, -1e308, 1e308, 2.5, 10**400]),
    st.text(max_size=8),
    st.sampled_from(["object", "array", "string", "integer", "number", "boolean", "null", "date", "uuid"]),
    st.sampled_from(["#", "#/$defs/a", "#/properties", "#/$defs/a/b", "http://x"]),
)


def _nodes(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(KEYWORDS) | st.text(max_size=4), children, max_size=4),
    )


VALUES = st.recursive(SCALARS, _nodes, max_leaves=12)
SCHEMAS = st.dictionaries(st.sampled_from(KEYWORDS), VALUES, min_size=1, max_size=5)


@pytest.fixture(scope="module")
def llm() -> Iterator[SyncAdapter]:
    with create_adapter_sync(backend="mock", check=False) as adapter:
        yield adapter


def _outcome(llm: SyncAdapter, **features: Any) -> None:
    try:
        result = llm.complete("fuzz the schema walker", **features)
    except PluginError as error:
        raise AssertionError(f"a malformed schema became a PluginError: {error}") from error
    except UltraLLMError as error:
        assert error.exit_code == 2 and error.http_status == 422, repr(error)
        assert error.fix
        return
    if "response_format" in features:
        json.dumps(result.parsed, allow_nan=False)  # JSON any client can read
    else:
        assert result.tool_calls


@FUZZ
@given(SCHEMAS)
def test_a_response_format_schema_answers_or_is_the_callers_typed_error(
    llm: SyncAdapter, schema: dict[str, Any]
) -> None:
    _outcome(llm, response_format=schema)


@FUZZ
@given(SCHEMAS)
def test_tool_parameters_answer_or_are_the_callers_typed_error(llm: SyncAdapter, schema: dict[str, Any]) -> None:
    _outcome(llm, tools=[{"type": "function", "function": {"name": "f", "parameters": schema}}])
