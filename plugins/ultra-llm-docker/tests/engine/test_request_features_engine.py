"""Tools, JSON-schema answers, images and reasoning control against the REAL engine: llama.cpp's
``llama-server`` b9878 (``--jinja``, as Docker Model Runner starts a text model) serving the tiny
random-weight model, through the docker-api backend and the Adapter.

What the engine does, found here (sources: llama.cpp b9878, the pinned sdist the engine is built from):

* ``response_format`` with a JSON Schema becomes a grammar, so even random weights answer JSON that
  follows it, but only if every string in the schema is bounded: with a plain ``"type": "string"``
  the model never closes the string (``{ "name" : "k of of of ...`` up to ``max_tokens``, finish
  ``length``). ``Town`` bounds ``name`` with ``max_length`` (the grammar's ``char{0,12}``).
* ``tool_choice: "required"`` does NOT make the random model call a tool, whatever the template:
  with the Qwen 2.5, Hermes 2/3, Llama 3.1/3.2, Functionary 3.1/3.2, Mistral Nemo, Granite,
  DeepSeek V3.1 and gpt-oss templates from ``models/templates`` it answered free text to
  ``max_tokens`` with no ``tool_calls``. The reason is in the grammar b9878 builds: "required" only
  drops the ``optional`` around the calls, and the content before them stays free text up to the
  template's call marker (``common/chat-auto-parser-generator.cpp:356-362``:
  ``p.optional(p.content(p.until(trigger_marker))) + tool_calls``; in the server log ``root ::=
  "<|im_start|>assistant\\n" space until-169? tool-calls``). Random weights never happen to write
  ``<tool_call>\\n``, so the call is never reached. Prefill that marker as the start of the
  assistant's answer (llama-server continues a final assistant message, ``tools/server/
  server-common.cpp:1048-1055``) and the grammar takes over: the engine then emits real, parseable
  calls, whole and streamed, several in a row (parallel calls) until ``max_tokens`` cuts the last.
* an image sent to this text-only model (no ``--mmproj``) is ``500 image input is not supported -
  hint: ... mmproj`` (``tools/server/server-common.cpp:986-989``): ``UnsupportedOperationError``.
* ``chat_template_kwargs.enable_thinking`` and ``thinking_budget_tokens`` are accepted (the tiny
  template has no thinking tags, so the budget is ignored, ``server-common.cpp:1117-1130``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from pydantic import BaseModel, Field
from ultra_llm_docker.errors import RunnerRequestTooLargeError
from ultra_llm_docker.testing.engine.build_llama_server import templates_dir
from ultra_llm_docker.testing.engine.fixtures import DMRRunner, RealEngine, require_engine
from ultra_llm_docker.testing.engine.launcher import EngineProcess, start_engine
from ultra_llm_docker.testing.engine.tiny_model import write_tiny_model

from ultra_llm import create_adapter
from ultra_llm._adapter import Adapter
from ultra_llm._types import ImagePart, Message, TextPart
from ultra_llm.errors import UnsupportedOperationError

pytest.importorskip("ultra_llm_docker_api")

T = TypeVar("T")

TEMPLATE = str(templates_dir() / "Qwen-Qwen2.5-7B-Instruct.jinja")
"""A real tool-calling template from llama.cpp (calls as ``<tool_call>\\n{...}\\n</tool_call>``)."""
CALL_MARKER = "<tool_call>\n"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 8}},
            "required": ["city"],
        },
    },
}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(32)


class Town(BaseModel):
    name: str = Field(max_length=12)
    population: int


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def adapter_at(url: str, path: str | None = None) -> Adapter:
    settings: dict[str, Any] = {"url": url}
    if path:
        settings["path"] = path
    return await create_adapter("ai/tiny", backend="docker-api", check=False, settings=settings)


async def complete(url: str, prompt: Any, *, path: str | None = None, **options: Any) -> Any:
    async with await adapter_at(url, path) as adapter:
        return await adapter.complete(prompt, **options)


async def stream(url: str, prompt: Any, *, path: str | None = None, **options: Any) -> list[Any]:
    async with await adapter_at(url, path) as adapter:
        return [chunk async for chunk in adapter.stream(prompt, **options)]


# -- JSON-schema answers ---------------------------------------------------------------------------


def test_a_schema_answer_is_valid_json_whole_and_streamed(dmr_runner: DMRRunner) -> None:
    options = {"response_format": Town, "temperature": 0, "max_tokens": 300}
    result = run(complete(dmr_runner.url, "A town?", **options))
    chunks = run(stream(dmr_runner.url, "A town?", **options))

    assert isinstance(result.parsed, Town)
    assert result.parsed == Town.model_validate_json(result.text)  # the raw text is the JSON parsed
    assert result.finish_reason == "stop"
    last = chunks[-1]
    assert isinstance(last.parsed, Town)
    streamed_text = "".join(c.text for c in chunks if c.kind == "text")
    assert last.parsed == Town.model_validate_json(streamed_text)


def test_a_schema_the_grammar_cannot_take_is_unsupported(real_engine: RealEngine) -> None:
    """``400 ... JSON schema conversion failed: Pattern must start with '^' and end with '$'``
    (``common/json-schema-to-grammar.cpp:350, 1012-1015``, wrapped by ``common/chat.cpp:2782``)."""
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "a+"}}}
    with pytest.raises(UnsupportedOperationError) as caught:
        run(complete(real_engine.base_url, "code?", path="/v1", response_format=schema, max_tokens=8))
    assert "JSON schema conversion failed" in caught.value.message
    assert "Pattern must start with '^'" in caught.value.message
    assert "anchored with ^ and $" in (caught.value.fix or "")


# -- images on a text model -----------------------------------------------------------------------


def test_an_image_on_a_text_model_is_unsupported_with_the_fix(dmr_runner: DMRRunner, real_engine: RealEngine) -> None:
    prompt = [Message("user", (TextPart("What is this?"), ImagePart.from_bytes(PNG)))]
    with pytest.raises(UnsupportedOperationError) as through_runner:
        run(complete(dmr_runner.url, prompt, max_tokens=8))
    with pytest.raises(UnsupportedOperationError) as direct:
        run(complete(real_engine.base_url, prompt, path="/v1", max_tokens=8))
    for caught in (through_runner, direct):
        assert "image input is not supported" in caught.value.message
    assert "docker model package --mmproj" in (through_runner.value.fix or "")
    assert "--mmproj FILE.gguf" in (direct.value.fix or "")


def test_an_image_over_the_runners_10_mib_is_too_large_with_the_size_fix(dmr_runner: DMRRunner) -> None:
    """The runner's 10 MiB cap (``http_handler.go:29-37``): the backend refuses the body before
    sending it. Sent, it came back as a dropped connection, not the 400: the runner (and the proxy
    reproducing it) answers before reading the whole body and closes, while the client still writes."""
    big = ImagePart.from_bytes(b"\x89PNG\r\n\x1a\n" + bytes(8 * 1024 * 1024))  # over 10 MiB as base64
    with pytest.raises(RunnerRequestTooLargeError) as caught:
        run(complete(dmr_runner.url, [Message("user", (TextPart("What is this?"), big))], max_tokens=8))
    assert "images" in (caught.value.fix or "")


# -- reasoning control --------------------------------------------------------------------------------


@pytest.mark.parametrize(("reasoning", "budget"), [(False, 0), (True, 64)])
def test_reasoning_control_fields_are_accepted(dmr_runner: DMRRunner, reasoning: bool, budget: int) -> None:
    result = run(complete(dmr_runner.url, "hello world", reasoning=reasoning, reasoning_budget=budget, max_tokens=8))
    assert result.finish_reason in ("length", "stop")
    assert result.usage is not None and result.usage.completion_tokens
    assert result.reasoning is None  # the tiny template has no thinking tags: nothing is split off


# -- tool calls with a real template ------------------------------------------------------------------


@pytest.fixture(scope="module")
def tool_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    """llama-server with the tiny model and Qwen 2.5's chat template (``--chat-template-file``)."""
    require_engine()
    directory = tmp_path_factory.mktemp("tool-engine")
    engine = start_engine(
        write_tiny_model(directory / "tiny.gguf"),
        log_dir=directory,
        parallel=1,
        extra_args=("--chat-template-file", TEMPLATE),
    )
    try:
        yield engine
    finally:
        engine.stop()


def test_tool_choice_required_alone_gets_no_call_from_random_weights(tool_engine: EngineProcess) -> None:
    """The finding in the module docstring: free text up to ``max_tokens``, no call."""
    result = run(
        complete(
            tool_engine.base_url,
            "Weather in Paris?",
            path="/v1",
            tools=[WEATHER],
            tool_choice="required",
            temperature=0,
            max_tokens=200,
        )
    )
    assert result.tool_calls == ()
    assert result.finish_reason == "length"
    assert CALL_MARKER not in result.text


def _prefilled() -> list[Message]:
    return [Message("user", "Weather in Paris?"), Message("assistant", CALL_MARKER)]


def _check_calls(calls: tuple[Any, ...]) -> None:
    assert len(calls) >= 2  # parallel calls until max_tokens cuts the last one
    assert len({call.id for call in calls}) == len(calls) and all(call.id for call in calls)
    for call in calls[:-1]:  # every call but the cut one is whole, schema-valid JSON
        assert call.name == "get_weather"
        arguments = call.parsed_arguments
        assert set(arguments) == {"city"} and isinstance(arguments["city"], str) and len(arguments["city"]) <= 8


def test_a_prefilled_call_marker_gets_real_tool_calls_whole(tool_engine: EngineProcess) -> None:
    options = {"tools": [WEATHER], "tool_choice": "required", "temperature": 0, "max_tokens": 120}
    result = run(complete(tool_engine.base_url, _prefilled(), path="/v1", **options))
    assert result.text == ""  # llama-server: content "" beside the calls (common/chat.cpp:227-229)
    _check_calls(result.tool_calls)


def test_a_prefilled_call_marker_gets_real_tool_calls_streamed(tool_engine: EngineProcess) -> None:
    options = {"tools": [WEATHER], "tool_choice": "required", "temperature": 0, "max_tokens": 120}
    chunks = run(stream(tool_engine.base_url, _prefilled(), path="/v1", **options))
    pieces = [d for chunk in chunks for d in chunk.tool_call_deltas]
    calls = chunks[-1].tool_calls
    _check_calls(calls)
    assert len(pieces) > 3 * len(calls)  # the arguments came split over many deltas
    firsts = [p for p in pieces if p.id is not None]
    assert [p.index for p in firsts] == list(range(len(calls)))  # id (and name) once per call, in order
    assert all(p.name == "get_weather" for p in firsts)
    assert all(p.name is None for p in pieces if p.id is None)
