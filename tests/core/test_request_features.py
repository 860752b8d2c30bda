"""Tools, response formats, images and reasoning control in the core: the types, the OpenAI shapes
they accept, the adapter's one check against what a backend declares, and its assembly of tool
calls and parsed answers, whole and streamed."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import functools
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel

from ultra_llm import ImagePart, create_adapter
from ultra_llm._host import PluginHost
from ultra_llm._types import to_messages
from ultra_llm.errors import (
    EmptyPromptError,
    InvalidOptionsError,
    StructuredOutputError,
    UnsupportedOperationError,
)
from ultra_llm.plugin import (
    Availability,
    Backend,
    BackendRegistrar,
    Chunk,
    GenerationRequest,
    Message,
    ModelInfo,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolCallDelta,
    hookimpl,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


class City(BaseModel):
    name: str
    population: int


class ScriptBackend(Backend):
    """Streams what the test scripts in ``SCRIPT``, and records the requests it gets."""

    name: ClassVar[str] = "script"
    default_model: ClassVar[str] = "m"
    supports_tools: ClassVar[bool] = True
    supports_response_format: ClassVar[bool] = True
    supports_images: ClassVar[bool] = True
    supports_reasoning_control: ClassVar[bool] = True
    SCRIPT: ClassVar[list[Chunk]] = []
    SEEN: ClassVar[list[GenerationRequest]] = []

    async def check_availability(self) -> Availability:
        return Availability(True)

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("m", self.name)]

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        self.SEEN.append(request)
        for chunk in self.SCRIPT:
            yield chunk


class PlainBackend(ScriptBackend):
    """Declares no feature, with its own way out."""

    name: ClassVar[str] = "plain"
    supports_tools: ClassVar[bool] = False
    supports_response_format: ClassVar[bool] = False
    supports_images: ClassVar[bool] = False
    supports_reasoning_control: ClassVar[bool] = False
    unsupported_hint: ClassVar[str] = "Use the script backend."


class Plugin:
    @hookimpl
    def ultra_llm_register_backends(self, register: BackendRegistrar) -> None:
        register("script", ScriptBackend)
        register("plain", PlainBackend)


@pytest.fixture
def host() -> PluginHost:
    host = PluginHost(entry_points=lambda: [])
    host.register(Plugin(), name="features-test")
    ScriptBackend.SEEN.clear()
    return host


def synchronously(test: Any) -> Any:
    """Run an async test body on a fresh event loop (the suite has no async plugin)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(test(*args, **kwargs))

    return run


def data_url(data: bytes = PNG) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


# -- types and the OpenAI shapes --------------------------------------------------------------------


def test_openai_messages_are_taken_as_they_are_and_sent_back_the_same() -> None:
    wire = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": data_url()}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}],
        },
        {"role": "tool", "content": "42", "tool_call_id": "c1"},
    ]
    messages = to_messages(wire)
    assert [m.to_dict() for m in messages] == wire
    assert messages[0].images[0].media_type == "image/png" and messages[0].text == "What is this?"
    assert messages[1].tool_calls[0].parsed_arguments == {"a": 1}


def test_an_image_only_message_is_a_prompt_and_a_message_without_either_is_empty() -> None:
    assert to_messages([Message("user", [ImagePart.from_bytes(PNG)])])[0].images
    with pytest.raises(EmptyPromptError):
        to_messages([Message("user", [TextPart("  ")])])


@pytest.mark.parametrize(
    ("part", "says"),
    [
        ({"type": "image_url", "image_url": {"url": "http://127.0.0.1:9/cat.png"}}, "must be data: URLs"),
        ({"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}, "not base64"),
        ({"type": "image_url", "image_url": {"url": data_url(b"RIFF....WEBPVP8 ")}}, "not an image llama.cpp can read"),
    ],
)
def test_images_llama_cpp_cannot_read_are_refused_with_a_fix(part: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidOptionsError, match=says) as caught:
        to_messages([{"role": "user", "content": [{"type": "text", "text": "hi"}, part]}])
    assert caught.value.fix


def test_an_image_file_is_read_and_sniffed_and_a_missing_one_is_a_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "cat.jpg"
    path.write_bytes(PNG)  # named .jpg, is a PNG: the bytes decide
    image = ImagePart.from_file(path)
    assert (image.media_type, image.filename) == ("image/png", str(path))
    assert "bytes" in repr(image) or "data" not in repr(image)
    with pytest.raises(InvalidOptionsError, match="Cannot read the image"):
        ImagePart.from_file(tmp_path / "missing.png")


def test_tool_definitions_are_checked() -> None:
    from ultra_llm._tools import to_tool_choice, to_tools

    tools = to_tools([WEATHER, {"name": "now"}])
    assert [t.name for t in tools] == ["get_weather", "now"] and tools[0].to_dict() == WEATHER
    assert to_tool_choice("now", tools) == {"type": "function", "function": {"name": "now"}}
    for bad, says in [
        ([{"name": "no spaces"}], "letters, digits"),
        ([WEATHER, WEATHER], "repeated: get_weather"),
        ({"name": "x"}, "must be a list"),
        ([{"type": "function"}], "no function name"),
    ]:
        with pytest.raises(InvalidOptionsError, match=says):
            to_tools(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionsError, match="names no tool"):
        to_tool_choice("other", tools)
    with pytest.raises(InvalidOptionsError, match="needs tools"):
        to_tool_choice("required", ())


def test_response_formats_come_from_models_schemas_and_the_openai_shape() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}}
    assert ResponseFormat.from_value(schema).to_openai()["json_schema"]["schema"] == schema
    wrapped = {"type": "json_schema", "json_schema": {"name": "point", "schema": schema}}
    assert ResponseFormat.from_value(wrapped).to_openai()["json_schema"]["name"] == "point"
    assert ResponseFormat.from_value({"type": "json_object"}).to_openai() == {"type": "json_object"}
    city = ResponseFormat.from_value(City)
    assert city.parse('{"name": "Oslo", "population": 700000}') == City(name="Oslo", population=700000)
    with pytest.raises(StructuredOutputError, match="does not match City") as caught:
        city.parse('{"name": "Oslo"}')
    assert caught.value.output == '{"name": "Oslo"}'
    with pytest.raises(InvalidOptionsError):
        ResponseFormat.from_value("json")


# -- the adapter ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "prompt", "says"),
    [
        ({"tools": [WEATHER]}, "hi", "cannot call tools"),
        ({"response_format": City}, "hi", "cannot answer in a JSON schema"),
        ({"reasoning": False}, "hi", "cannot take reasoning control"),
        (
            {},
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url()}}]}],
            "cannot read images",
        ),
    ],
)
@synchronously
async def test_a_feature_the_backend_does_not_declare_is_refused_before_it_is_called(
    host: PluginHost, options: dict[str, Any], prompt: Any, says: str
) -> None:
    async with await create_adapter(backend="plain", host=host) as adapter:
        with pytest.raises(UnsupportedOperationError, match=says) as caught:
            await adapter.complete(prompt, **options)
    assert caught.value.fix == "Use the script backend."
    assert ScriptBackend.SEEN == []


@synchronously
async def test_bad_feature_values_are_typed_errors(host: PluginHost) -> None:
    async with await create_adapter(backend="script", host=host) as adapter:
        with pytest.raises(InvalidOptionsError, match="reasoning_budget"):
            await adapter.complete("hi", reasoning_budget=-1)
        with pytest.raises(InvalidOptionsError, match="reasoning must be"):
            await adapter.complete("hi", reasoning="no")


@synchronously
async def test_streamed_tool_call_pieces_are_assembled_whole_and_streamed(host: PluginHost) -> None:
    ScriptBackend.SCRIPT = [
        Chunk("", tool_call_deltas=(ToolCallDelta(0, "c1", "get_weather", '{"ci'),)),
        Chunk("", tool_call_deltas=(ToolCallDelta(1, None, "now"), ToolCallDelta(0, arguments='ty": "Oslo"}'))),
        Chunk("", finish_reason="tool_calls"),
    ]
    async with await create_adapter(backend="script", host=host) as adapter:
        result = await adapter.complete("Weather in Oslo?", tools=[WEATHER, {"name": "now"}], tool_choice="required")
        chunks = [chunk async for chunk in adapter.stream("Weather in Oslo?", tools=[WEATHER, {"name": "now"}])]
    expected = (ToolCall("c1", "get_weather", '{"city": "Oslo"}'), ToolCall("call_1", "now", "{}"))
    assert result.tool_calls == expected and result.finish_reason == "tool_calls"
    assert chunks[-1].tool_calls == expected and chunks[-1].text == ""
    assert result.to_message().to_dict()["tool_calls"][0]["function"]["arguments"] == '{"city": "Oslo"}'
    request = ScriptBackend.SEEN[0]
    assert request.tool_choice == "required" and [t.name for t in request.tools] == ["get_weather", "now"]
    with pytest.raises(TypeError):
        request.tools[0].parameters["properties"] = {}  # type: ignore[index]


@synchronously
async def test_a_schema_answer_is_parsed_and_a_cut_one_keeps_its_text(host: PluginHost) -> None:
    ScriptBackend.SCRIPT = [Chunk('{"name": "Oslo", '), Chunk('"population": 7}', finish_reason="stop")]
    async with await create_adapter(backend="script", host=host) as adapter:
        result = await adapter.complete("A city", response_format=City)
        chunks = [chunk async for chunk in adapter.stream("A city", response_format=City)]
        assert result.parsed == City(name="Oslo", population=7)
        assert chunks[-1].parsed == City(name="Oslo", population=7)
        assert json.loads(json.dumps(result.to_dict()))["parsed"] == {"name": "Oslo", "population": 7}
        ScriptBackend.SCRIPT = [Chunk('{"name": "Os', finish_reason="length")]
        with pytest.raises(StructuredOutputError, match="cut off by max_tokens") as whole:
            await adapter.complete("A city", response_format=City)
        seen: list[str] = []
        with pytest.raises(StructuredOutputError) as streamed:
            async for chunk in adapter.stream("A city", response_format=City):
                seen.append(chunk.text)
    assert whole.value.output == streamed.value.output == '{"name": "Os' == "".join(seen)
    assert whole.value.finish_reason == "length" and "max_tokens" in whole.value.fix


@synchronously
async def test_capabilities_are_what_the_backend_declares(host: PluginHost) -> None:
    async with await create_adapter(backend="script", host=host) as adapter:
        caps = adapter.get_capabilities()
    assert caps["supports_functions"] is caps["supports_vision"] is caps["response_format"] is True
    async with await create_adapter(backend="plain", host=host) as adapter:
        assert adapter.get_capabilities()["supports_functions"] is False


def test_a_request_is_immutable_down_to_its_schema() -> None:
    fmt = ResponseFormat.from_value({"type": "object", "properties": {"a": {"type": "string"}}})
    request = GenerationRequest("m", (Message("user", "x"),), None, "script", response_format=fmt)
    assert request.response_format is not None and request.response_format.schema is not None
    with pytest.raises(TypeError):
        request.response_format.schema["properties"]["a"] = {}  # type: ignore[index]
    assert dataclasses.replace(request, reasoning=False).reasoning is False
