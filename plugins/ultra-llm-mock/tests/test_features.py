"""The mock's tools, response formats, images and reasoning, through the adapter as a caller uses them.

Schema answers are checked with a real JSON Schema validator (``jsonschema_rs``, in this
distribution's ``test`` extra) and, for nested models and ``$defs``, by pydantic itself;
each case also names a value its schema rejects, so the check is shown to be able to fail.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
import uuid
from enum import Enum
from typing import Any, Literal

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import AnyUrl, BaseModel, Field
from ultra_llm_mock.backend import ARGUMENT_PIECE, MockBackend, split_words
from ultra_llm_mock.schema import sample

from ultra_llm import create_adapter_sync
from ultra_llm._host import PluginHost
from ultra_llm._sync import SyncAdapter
from ultra_llm._types import ImagePart, Message, TextPart
from ultra_llm.errors import InvalidOptionsError, StructuredOutputError

PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)
JPEG = b"\xff\xd8\xff\xe0" + bytes(40)
PROMPTS = ["What is the capital of France?", "list three colours", "ünïcödé words 日本語", ""]


def adapter(model: str = "mock/default") -> SyncAdapter:
    return create_adapter_sync(model, host=PluginHost(), backend="mock")


# (keyword, schema, a value the schema rejects)
SUBSET: list[tuple[str, dict[str, Any], Any]] = [
    ("type object", {"type": "object"}, []),
    ("type array", {"type": "array"}, {}),
    ("type string", {"type": "string"}, 1),
    ("type integer", {"type": "integer"}, 1.5),
    ("type number", {"type": "number"}, "1"),
    ("type boolean", {"type": "boolean"}, 0),
    ("type null", {"type": "null"}, False),
    ("type list", {"type": ["integer", "null"]}, "x"),
    ("properties", {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}, {"a": 1}),
    (
        "required",
        {"type": "object", "properties": {"a": {"type": "boolean"}}, "required": ["a"], "additionalProperties": False},
        {},
    ),
    ("enum", {"enum": ["red", "green", 3, None]}, "blue"),
    ("const", {"const": {"k": [1, 2]}}, {"k": [1]}),
    ("items", {"type": "array", "items": {"type": "integer"}}, ["x"]),
    ("minItems", {"type": "array", "items": {"type": "string"}, "minItems": 3}, ["a", "b"]),
    ("maxItems", {"type": "array", "items": {"type": "null"}, "minItems": 0, "maxItems": 0}, [None]),
    ("minLength", {"type": "string", "minLength": 40}, "short"),
    ("maxLength", {"type": "string", "maxLength": 2}, "long"),
    ("minimum", {"type": "integer", "minimum": 1000}, 999),
    ("maximum", {"type": "integer", "maximum": -1000}, -999),
    ("minimum and maximum", {"type": "number", "minimum": 0.25, "maximum": 0.5}, 0.75),
    ("exclusive bounds", {"type": "integer", "exclusiveMinimum": 4, "exclusiveMaximum": 6}, 4),
    ("number bounds", {"type": "number", "minimum": -3, "maximum": 250}, 251),
    ("anyOf", {"anyOf": [{"type": "string", "minLength": 2}, {"type": "null"}]}, 1),
    ("oneOf", {"oneOf": [{"type": "boolean"}, {"type": "string"}]}, 1),
    (
        "$ref/$defs",
        {
            "$defs": {"P": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}},
            "type": "array",
            "items": {"$ref": "#/$defs/P"},
            "minItems": 2,
        },
        [{"x": "1"}],
    ),
    ("default", {"type": "integer", "default": 7, "minimum": 0}, -1),
    ("annotations", {"type": "string", "title": "T", "description": "d", "examples": ["e"]}, 1),
]


@pytest.mark.parametrize(("keyword", "schema", "rejected"), SUBSET, ids=[case[0] for case in SUBSET])
def test_each_keyword_of_the_subset_gives_valid_json(keyword: str, schema: dict[str, Any], rejected: Any) -> None:
    validator = jsonschema_rs.validator_for(schema)
    assert not validator.is_valid(rejected), "the check can fail"
    values = [sample(schema, prompt) for prompt in PROMPTS]
    for value in values:
        validator.validate(value)
    assert values == [sample(schema, prompt) for prompt in PROMPTS], "deterministic"


@pytest.mark.parametrize(("keyword", "schema", "rejected"), SUBSET, ids=[case[0] for case in SUBSET])
def test_each_keyword_of_the_subset_gives_valid_json_through_a_request(
    keyword: str, schema: dict[str, Any], rejected: Any
) -> None:
    """The request freezes the schema (lists become tuples): the mock reads it the same."""
    with adapter() as mock:
        jsonschema_rs.validator_for(schema).validate(mock.complete("x", response_format=schema).parsed)


@pytest.mark.parametrize(
    ("schema", "check"),
    [
        ({"type": "number", "minimum": 3, "exclusiveMinimum": True, "maximum": 4}, lambda v: 3 < v <= 4),
        ({"type": "integer", "maximum": 3, "exclusiveMaximum": True}, lambda v: v < 3),
        ({"type": "number", "exclusiveMinimum": -1e308, "exclusiveMaximum": 1e308}, lambda v: -1e308 < v < 1e308),
        ({"type": "number", "minimum": 1e308}, lambda v: v >= 1e308),
    ],
    ids=["draft-4-exclusive-minimum", "draft-4-exclusive-maximum", "widest-range", "near-the-float-limit"],
)
def test_number_bounds_of_any_width_or_draft_give_a_number_inside(schema: dict[str, Any], check: Any) -> None:
    with adapter() as mock:
        value = mock.complete("x", response_format=schema).parsed
    assert check(value), value


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "array", "minItems": 3, "maxItems": 2},
        {"type": "string", "minLength": 5, "maxLength": 4},
        {"type": "number", "minimum": 10**400},
    ],
    ids=["min-items-above-max-items", "min-length-above-max-length", "bound-beyond-a-float"],
)
def test_bounds_no_value_meets_are_the_callers_error(schema: dict[str, Any]) -> None:
    with adapter() as mock, pytest.raises(InvalidOptionsError, match="bound"):
        mock.complete("x", response_format=schema)


def test_values_are_derived_from_the_prompt() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "s": {"type": "string"}}}
    answers = {json.dumps(sample(schema, prompt)) for prompt in PROMPTS}
    assert len(answers) > 1
    prompt = "What is the capital of France?"
    assert sample({"type": "string"}, prompt) in re.findall(r"[A-Za-z0-9]+", prompt)


@pytest.mark.parametrize(
    ("schema", "keyword"),
    [
        ({"type": "string", "pattern": "^a+$"}, "pattern"),
        ({"type": "string", "format": "iri-reference"}, "iri-reference"),
        ({"allOf": [{"type": "integer"}]}, "allOf"),
        ({"type": "object", "properties": {"a": {"type": "array", "uniqueItems": True}}}, "uniqueItems"),
    ],
)
def test_a_keyword_outside_the_subset_is_refused_by_name(schema: dict[str, Any], keyword: str) -> None:
    with adapter() as mock, pytest.raises(InvalidOptionsError, match=f"'{keyword}'"):
        mock.complete("x", response_format=schema)


FORMATS = ["date-time", "date", "time", "duration", "email", "uri", "uuid", "ipv4", "ipv6", "hostname"]


@pytest.mark.parametrize("name", FORMATS)
def test_each_string_format_gives_a_valid_string(name: str) -> None:
    validator = jsonschema_rs.validator_for({"type": "string", "format": name}, validate_formats=True)
    assert not validator.is_valid("not of any format at all: ::"), "the check can fail"
    for prompt in PROMPTS:
        validator.validate(sample({"type": "string", "format": name}, prompt))


def test_a_model_with_typed_fields_pydantic_writes_as_formats_is_answered() -> None:
    class Visit(BaseModel):
        at: datetime.datetime
        on: datetime.date
        site: AnyUrl
        id: uuid.UUID
        host: ipaddress.IPv4Address

    with adapter() as mock:
        assert isinstance(mock.complete("when and where?", response_format=Visit).parsed, Visit)


class Colour(str, Enum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    street: str = Field(min_length=3, max_length=30)
    number: int = Field(ge=1, le=999)


class Person(BaseModel):
    name: str
    age: int = Field(gt=0, lt=130)
    height: float = Field(ge=0.5, le=2.5)
    home: Address
    previous: list[Address] = Field(min_length=2, max_length=4)
    nickname: str | None = None
    favourite: Colour
    mood: Literal["happy", "sad"]
    tags: list[str] = []
    parent: Person | None = None


@pytest.mark.parametrize("prompt", PROMPTS[:3])
def test_a_pydantic_model_with_nested_models_and_defs_is_answered_as_an_instance(prompt: str) -> None:
    schema = Person.model_json_schema()
    assert "$defs" in schema
    with adapter() as mock:
        result = mock.complete(prompt, response_format=Person)
    assert isinstance(result.parsed, Person) and isinstance(result.parsed.home, Address)
    assert Person.model_validate_json(result.text) == result.parsed
    jsonschema_rs.validator_for(schema).validate(json.loads(result.text))


def test_a_schema_answer_streams_in_pieces_and_ends_parsed() -> None:
    schema = {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "string"}, "minItems": 4}}}
    with adapter() as mock:
        chunks = list(mock.stream("list some things", response_format=schema))
        whole = mock.complete("list some things", response_format=schema)
    text_chunks = [chunk.text for chunk in chunks if chunk.text]
    assert len(text_chunks) > 3 and all(chunk.kind == "text" for chunk in chunks)
    assert json.loads("".join(text_chunks)) == chunks[-1].parsed == whole.parsed
    jsonschema_rs.validator_for(schema).validate(whole.parsed)


def test_a_schema_answer_cut_by_max_tokens_keeps_the_raw_text() -> None:
    with adapter() as mock, pytest.raises(StructuredOutputError) as caught:
        mock.complete("x", response_format=Person, max_tokens=3)
    assert caught.value.output and caught.value.finish_reason == "length"


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "minLength": 1},
                "days": {"type": "integer", "minimum": 1, "maximum": 14},
                "unit": {"enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "days"],
        },
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}


@pytest.mark.parametrize(
    ("choice", "called"),
    [(None, "get_weather"), ("auto", "get_weather"), ("required", "get_weather"), ("get_time", "get_time")],
)
def test_the_named_tool_or_the_first_is_called_with_valid_arguments(choice: str | None, called: str) -> None:
    with adapter() as mock:
        result = mock.complete("weather in Lyon for a week", tools=[WEATHER, TIME], tool_choice=choice)
    (call,) = result.tool_calls
    assert call.name == called and result.finish_reason == "tool_calls" and call.id
    tool = WEATHER if called == "get_weather" else TIME
    jsonschema_rs.validator_for(tool["function"]["parameters"]).validate(call.parsed_arguments)


def test_tool_choice_none_answers_with_text() -> None:
    with adapter() as mock:
        result = mock.complete("weather?", tools=[WEATHER], tool_choice="none")
    assert result.tool_calls == () and result.text and result.finish_reason == "stop"


def test_a_streamed_call_comes_in_pieces_with_id_and_name_first() -> None:
    with adapter() as mock:
        chunks = list(mock.stream("weather in Lyon", tools=[WEATHER]))
        whole = mock.complete("weather in Lyon", tools=[WEATHER])
    deltas = [delta for chunk in chunks for delta in chunk.tool_call_deltas]
    (call,) = whole.tool_calls
    assert len(deltas) == 1 + -(-len(call.arguments) // ARGUMENT_PIECE) and len(deltas) > 3
    assert (deltas[0].id, deltas[0].name) == (call.id, call.name)
    assert all(delta.id is None and delta.name is None for delta in deltas[1:])
    assert "".join(delta.arguments for delta in deltas) == call.arguments
    assert [c.finish_reason for c in chunks if c.finish_reason] == ["tool_calls"]
    assert chunks[-1].tool_calls == whole.tool_calls


def test_after_a_tool_message_the_answer_quotes_the_result() -> None:
    with adapter() as mock:
        first = mock.complete("weather in Lyon", tools=[WEATHER])
        (call,) = first.tool_calls
        history = [
            Message("user", "weather in Lyon"),
            first.to_message(),
            Message("tool", '{"sky": "clear", "high": 21}', tool_call_id=call.id),
        ]
        answer = mock.complete(history, tools=[WEATHER])
    assert answer.tool_calls == ()
    assert answer.text == f'The tool {call.name} returned: {{"sky": "clear", "high": 21}}'


def test_images_are_acknowledged_with_count_types_and_sizes() -> None:
    images = [ImagePart.from_bytes(PNG), ImagePart.from_bytes(JPEG)]
    with adapter("mock/echo") as mock:
        text = mock.generate([Message("user", (TextPart("what is this?"), *images))])
    described = ", ".join(f"{image.media_type} {len(image.data)} bytes" for image in images)
    assert text == f"[2 images received: {described}] what is this?"


@pytest.mark.parametrize(("reasoning", "budget", "most"), [(True, None, None), (True, 3, 3), (None, 5, 5)])
def test_reasoning_comes_apart_from_the_answer_within_its_budget(
    reasoning: bool | None, budget: int | None, most: int | None
) -> None:
    with adapter("mock/echo") as mock:
        chunks = list(mock.stream("why is the sky blue", reasoning=reasoning, reasoning_budget=budget))
        whole = mock.complete("why is the sky blue", reasoning=reasoning, reasoning_budget=budget)
    thinking = [chunk for chunk in chunks if chunk.kind == "reasoning"]
    assert thinking and whole.reasoning == "".join(chunk.text for chunk in thinking)
    assert most is None or len(split_words(whole.reasoning)) == most
    assert whole.text == "why is the sky blue", "the answer holds no reasoning"


@pytest.mark.parametrize(("reasoning", "budget"), [(False, None), (False, 10), (None, 0), (None, None)])
def test_no_reasoning_when_turned_off_or_not_asked_for(reasoning: bool | None, budget: int | None) -> None:
    with adapter("mock/echo") as mock:
        chunks = list(mock.stream("why is the sky blue", reasoning=reasoning, reasoning_budget=budget))
    assert [chunk for chunk in chunks if chunk.kind == "reasoning"] == []


def test_every_feature_is_declared() -> None:
    capabilities = MockBackend.capabilities()
    assert all(capabilities[key] for key in ("tools", "response_format", "images", "reasoning_control"))


COMPOSITE = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "minimum": -5, "maximum": 5},
        "ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "label": {"type": ["string", "null"], "minLength": 2, "maxLength": 6},
        "kind": {"enum": ["a", "b", "c"]},
        "points": {"type": "array", "items": {"anyOf": [{"type": "integer"}, {"type": "null"}]}, "maxItems": 3},
    },
    "required": ["id", "ratio", "label", "kind", "points"],
}


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=60))
def test_any_prompt_gives_valid_json(prompt: str) -> None:
    jsonschema_rs.validator_for(COMPOSITE).validate(sample(COMPOSITE, prompt))
