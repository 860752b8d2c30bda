"""Tools, response formats, images and reasoning control on the docker-api backend, through the
Adapter (so its feature checks, tool-call assembly and JSON parsing run too), against scripted
loopback servers.

Each scripted answer reproduces what llama.cpp's ``llama-server`` b9878 (the engine Docker Model
Runner runs) sends, cited file:line in llama.cpp b9878 (the pinned source the test engine is built from):

* streamed tool calls (``tools/server/server-chat.cpp:550-576``): one ``delta.tool_calls`` entry per
  event; the first delta of a call is the call parsed so far, ``index``, ``id``, ``type``, ``name``
  and the arguments begun (``common/chat.cpp:323-327``); later ones only ``index`` and the next
  ``arguments`` text (``common/chat.cpp:312-321``), or ``id`` with the WHOLE name again when the
  parser saw a partial name grow (``common/chat.cpp:300-318``); calls one after the other, then a
  ``finish_reason: "tool_calls"`` chunk (``tools/server/server-task.cpp:486-490``);
* whole tool calls (``common/chat.cpp:239-256``): ``content: ""`` beside ``tool_calls`` whose
  ``arguments`` is a string, ``finish_reason: "tool_calls"`` (``tools/server/server-task.cpp:447-449``);
* refusals: ``500 server_error`` for ``tools param requires --jinja flag`` and ``image input is not
  supported - hint: ...`` (``tools/server/server-common.cpp:916-922, 986-989``, runtime_errors made
  500 by ``tools/server/server.cpp:51-53`` and ``format_error_response``, ``server-common.cpp:17-47``);
  ``400 invalid_request_error`` for ``JSON schema conversion failed:`` (``common/json-schema-to-
  grammar.cpp:1012-1015``, wrapped in ``Unable to generate parser ...`` by ``common/chat.cpp:2782``:
  the exact text the real engine answered, see the family's
  ``plugins/ultra-llm-docker/tests/engine/test_request_features_engine.py``);
* Docker Model Runner's own ``400 request too large`` past 10 MiB (``pkg/inference/scheduling/
  http_handler.go:29-37`` at 642c7211, plain text from ``http.Error``).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from ultra_llm_docker.errors import RunnerRequestTooLargeError
from ultra_llm_docker_api.parsing import MalformedResponse, chunks_from_event, completion_from_body

from ultra_llm import create_adapter
from ultra_llm._adapter import Adapter
from ultra_llm._types import Chunk, ImagePart, Message, TextPart, ToolCall, ToolCallDelta
from ultra_llm.errors import GenerationError, UnsupportedOperationError
from ultra_llm.testing.scripted_server import ScriptedServer, SeenRequest, chunked, send_json, send_text, sse_head

T = TypeVar("T")

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
"""The tool the kernel's tests use (tests/core/test_request_features.py), written out here."""
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


class City(BaseModel):
    name: str
    population: int


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def sse(*events: dict[str, Any]) -> bytes:
    """Events as llama-server frames them (``data: {...}\\n\\n``), then ``data: [DONE]``."""
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"


def delta(content: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": content, "finish_reason": finish}]}


def call_delta(index: int, *, id: str | None = None, name: str | None = None, arguments: str | None = None) -> dict:
    """One ``delta.tool_calls`` entry built as ``server_chat_msg_diff_to_json_oaicompat`` builds it
    (``tools/server/server-chat.cpp:563-575``): id and type only with an id, function members only when set."""
    entry: dict[str, Any] = {"index": index}
    if id:
        entry["id"], entry["type"] = id, "function"
    function = {k: v for k, v in (("name", name), ("arguments", arguments)) if v}
    if function:
        entry["function"] = function
    return delta({"tool_calls": [entry]})


def completion(message: dict[str, Any], finish: str = "stop") -> dict[str, Any]:
    return {
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }


def answering(*replies: Callable[[asyncio.StreamWriter], Any]) -> Callable[..., Any]:
    """A handler giving the n-th chat request the n-th reply (the last one again after that)."""
    count = 0

    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        reply = replies[min(count, len(replies) - 1)]
        count += 1
        await reply(writer)

    return handler


def whole(value: dict[str, Any], status: int = 200, **headers: str) -> Callable[[asyncio.StreamWriter], Any]:
    return lambda writer: send_json(writer, status, value, **headers)


def streamed(data: bytes) -> Callable[[asyncio.StreamWriter], Any]:
    async def reply(writer: asyncio.StreamWriter) -> None:
        writer.write(sse_head() + chunked(data) + b"0\r\n\r\n")
        await writer.drain()

    return reply


async def adapter_for(server: ScriptedServer, *, path: str | None = None) -> Adapter:
    """An adapter on the docker-api backend for ``server`` (the runner's layout unless ``path``)."""
    settings: dict[str, Any] = {"url": server.url, "retry_wait_initial": 0.01}
    if path:
        settings["path"] = path
    return await create_adapter("ai/tiny", backend="docker-api", check=False, settings=settings)


async def streamed_chunks(server: ScriptedServer, prompt: Any, **options: Any) -> list[Chunk]:
    async with await adapter_for(server) as adapter:
        return [chunk async for chunk in adapter.stream(prompt, **options)]


async def completed(server: ScriptedServer, prompt: Any, *, path: str | None = None, **options: Any) -> Any:
    async with await adapter_for(server, path=path) as adapter:
        return await adapter.complete(prompt, **options)


# -- tool calls, streamed ---------------------------------------------------------------------------


def test_streamed_tool_calls_split_across_deltas_are_assembled_at_the_end() -> None:
    events = sse(
        delta({"role": "assistant", "content": None}),
        call_delta(0, id="call_a1", name="get_weather", arguments='{"ci'),
        call_delta(0, arguments='ty": "'),
        call_delta(0, arguments="Par"),
        call_delta(0, arguments='is"}'),
        call_delta(1, id="call_b2", name="get_time"),
        call_delta(1, arguments="{"),
        call_delta(1, arguments="}"),
        delta({}, "tool_calls"),
        {"object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 9}},
    )
    with ScriptedServer(answering(streamed(events))) as server:
        chunks = run(streamed_chunks(server, "weather and time?", tools=[WEATHER, TIME], tool_choice="required"))
        sent = server.requests[0].json()

    assert sent["tools"] == [WEATHER, TIME]
    assert sent["tool_choice"] == "required"
    assert sent["stream"] is True
    pieces = [d for chunk in chunks for d in chunk.tool_call_deltas]
    assert pieces[:2] == [
        ToolCallDelta(0, "call_a1", "get_weather", '{"ci'),
        ToolCallDelta(0, None, None, 'ty": "'),
    ]
    assert len(pieces) == 7
    assert [c.finish_reason for c in chunks if c.finish_reason] == ["tool_calls"]
    last = chunks[-1]
    assert last.tool_calls == (
        ToolCall("call_a1", "get_weather", '{"city": "Paris"}'),
        ToolCall("call_b2", "get_time", "{}"),
    )
    assert last.tool_calls[0].parsed_arguments == {"city": "Paris"}
    assert all(not c.tool_calls for c in chunks[:-1])  # assembled calls only on the adapter's own last chunk


def test_interleaved_calls_and_a_name_that_grows_are_assembled_by_index() -> None:
    """OpenAI's API may interleave calls by index; llama-server repeats a grown name whole with its id
    (``common/chat.cpp:300-318``): the last name wins, the arguments are joined per index."""
    events = sse(
        call_delta(0, id="c0", name="get_w"),
        call_delta(1, id="c1", name="get_time", arguments="{"),
        call_delta(0, id="c0", name="get_weather", arguments='{"city":'),
        call_delta(1, arguments="}"),
        call_delta(0, arguments='"Oslo"}'),
        delta({}, "tool_calls"),
    )
    with ScriptedServer(answering(streamed(events))) as server:
        chunks = run(streamed_chunks(server, "go", tools=[WEATHER, TIME]))

    assert chunks[-1].tool_calls == (
        ToolCall("c0", "get_weather", '{"city":"Oslo"}'),
        ToolCall("c1", "get_time", "{}"),
    )


@pytest.mark.parametrize(
    ("tool_calls", "problem"),
    [
        ({"index": 0}, "not an array"),
        ([{"id": "x", "function": {"name": "f"}}], "has no index"),
        ([{"index": "0", "function": {"name": "f"}}], "has no index"),
        ([{"index": 0, "function": "f"}], "function is not an object"),
        ([{"index": 0, "function": {"arguments": 3}}], "neither a string nor an object"),
    ],
)
def test_malformed_streamed_tool_calls_are_a_typed_error(tool_calls: Any, problem: str) -> None:
    events = sse(delta({"tool_calls": tool_calls}), delta({}, "tool_calls"))
    with ScriptedServer(answering(streamed(events))) as server, pytest.raises(GenerationError) as caught:
        run(streamed_chunks(server, "go", tools=[WEATHER]))
    assert "malformed answer" in caught.value.message
    assert problem in caught.value.message


# -- tool calls, whole, and the conversation back ---------------------------------------------------


def test_whole_tool_calls_and_the_tool_answer_sent_back() -> None:
    """llama-server's whole answer: ``content: ""`` beside the calls (``common/chat.cpp:227-229``)."""
    first = completion(
        {
            "content": "",
            "tool_calls": [
                {"type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}, "id": "t1"}
            ],
        },
        "tool_calls",
    )
    second = completion({"content": "Sunny in Rome."})
    with ScriptedServer(answering(whole(first), whole(second))) as server:

        async def case() -> tuple[Any, Any]:
            async with await adapter_for(server) as adapter:
                result = await adapter.complete("Weather in Rome?", tools=[WEATHER])
                call = result.tool_calls[0]
                history = [
                    Message("user", "Weather in Rome?"),
                    result.to_message(),
                    Message("tool", json.dumps({"sky": "clear"}), tool_call_id=call.id),
                ]
                return result, await adapter.complete(history, tools=[WEATHER])

        result, answer = run(case())
        bodies = [r.json() for r in server.requests]

    assert result.tool_calls == (ToolCall("t1", "get_weather", '{"city":"Rome"}'),)
    assert result.text == "" and result.finish_reason == "tool_calls"
    assert answer.text == "Sunny in Rome."
    assert bodies[1]["messages"] == [
        {"role": "user", "content": "Weather in Rome?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}
            ],
        },
        {"role": "tool", "content": '{"sky": "clear"}', "tool_call_id": "t1"},
    ]


def test_whole_tool_calls_with_null_content_no_id_and_object_arguments() -> None:
    """Other OpenAI servers: ``content: null``; an id may be missing (``common/chat.cpp:250-252``
    sends none when unset); Ollama-style object arguments are kept as JSON text."""
    body = completion(
        {
            "content": None,
            "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}],
        },
        "tool_calls",
    )
    with ScriptedServer(answering(whole(body))) as server:
        result = run(completed(server, "go", tools=[WEATHER]))
    assert result.tool_calls == (ToolCall("call_0", "get_weather", '{"city": "Oslo"}'),)
    assert result.tool_calls[0].parsed_arguments == {"city": "Oslo"}


@pytest.mark.parametrize(
    "tool_calls",
    [{"function": {"name": "f"}}, [{"function": {"arguments": "{}"}}], ["f"], [{"id": 3, "function": {"name": "f"}}]],
)
def test_malformed_whole_tool_calls_are_a_typed_error(tool_calls: Any) -> None:
    body = completion({"content": None, "tool_calls": tool_calls}, "tool_calls")
    with ScriptedServer(answering(whole(body))) as server, pytest.raises(GenerationError) as caught:
        run(completed(server, "go", tools=[WEATHER]))
    assert "malformed answer" in caught.value.message


# -- response formats --------------------------------------------------------------------------------


def test_response_format_is_sent_as_a_json_schema_and_parsed_whole_and_streamed() -> None:
    answer = '{"name": "Lyon", "population": 522000}'
    pieces = sse(delta({"content": answer[:9]}), delta({"content": answer[9:]}), delta({}, "stop"))
    with ScriptedServer(answering(whole(completion({"content": answer})), streamed(pieces))) as server:
        result = run(completed(server, "A French city?", response_format=City))
        chunks = run(streamed_chunks(server, "A French city?", response_format=City))
        bodies = [r.json() for r in server.requests]

    expected = {
        "type": "json_schema",
        "json_schema": {"name": "City", "schema": City.model_json_schema(), "strict": True},
    }
    assert bodies[0]["response_format"] == expected == bodies[1]["response_format"]
    assert result.parsed == City(name="Lyon", population=522000)
    assert chunks[-1].parsed == City(name="Lyon", population=522000)


# -- images --------------------------------------------------------------------------------------------


def test_an_image_goes_inline_as_a_data_url() -> None:
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    with ScriptedServer(answering(whole(completion({"content": "A black square."})))) as server:
        result = run(completed(server, [Message("user", (TextPart("What is this?"), ImagePart.from_bytes(PNG)))]))
        sent = server.requests[0].json()
    assert result.text == "A black square."
    assert sent["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": url}}],
        }
    ]


def test_an_image_over_the_runners_10_mib_is_refused_before_it_is_sent() -> None:
    """In the runner's layout the backend knows the cap (``http_handler.go:29-37`` at 642c7211)."""
    big = ImagePart.from_bytes(b"\x89PNG\r\n\x1a\n" + bytes(8 * 1024 * 1024))  # 8 MiB: over 10 MiB as base64
    with ScriptedServer(answering(whole(completion({"content": "no"})))) as server:
        with pytest.raises(RunnerRequestTooLargeError) as caught:
            run(completed(server, [Message("user", (TextPart("What is this?"), big))]))
        assert server.requests == []
    assert "with 1 image inline" in caught.value.message
    assert "images" in (caught.value.fix or "")


def test_the_runners_own_too_large_answer_keeps_the_size_fix() -> None:
    """Elsewhere (the runner's ``/v1`` alias, a gateway) the runner's plain-text ``400 request too
    large`` (``http_handler.go:29-37``, through Go's ``http.Error``) is the same error, not retried."""
    big = ImagePart.from_bytes(b"\x89PNG\r\n\x1a\n" + bytes(8 * 1024 * 1024))
    reply = lambda writer: send_text(writer, 400, "request too large\n")  # noqa: E731
    with ScriptedServer(answering(reply)) as server, pytest.raises(RunnerRequestTooLargeError) as caught:
        run(completed(server, [Message("user", (TextPart("What is this?"), big))], path="/v1"))
    assert len(server.requests) == 1
    assert len(server.requests[0].body) > 10 * 1024 * 1024
    assert "images" in (caught.value.fix or "")


# -- reasoning control ---------------------------------------------------------------------------------


def test_reasoning_control_fields_in_the_body_and_reasoning_kept_apart() -> None:
    """``chat_template_kwargs.enable_thinking`` and ``thinking_budget_tokens``, as llama-server reads
    them (``tools/server/server-common.cpp:1071-1086, 1117-1130``)."""
    answer = completion({"content": "42", "reasoning_content": "Let me count."})
    with ScriptedServer(answering(whole(answer))) as server:
        off = run(completed(server, "6*7?", reasoning=False, reasoning_budget=0))
        on = run(completed(server, "6*7?", reasoning=True, reasoning_budget=256))
        default = run(completed(server, "6*7?"))
        bodies = [r.json() for r in server.requests]

    assert bodies[0]["chat_template_kwargs"] == {"enable_thinking": False}
    assert bodies[0]["thinking_budget_tokens"] == 0
    assert bodies[1]["chat_template_kwargs"] == {"enable_thinking": True}
    assert bodies[1]["thinking_budget_tokens"] == 256
    assert "chat_template_kwargs" not in bodies[2] and "thinking_budget_tokens" not in bodies[2]
    assert (
        (off.text, off.reasoning)
        == ("42", "Let me count.")
        == (on.text, on.reasoning)
        == (default.text, default.reasoning)
    )


# -- the engine refusing a feature ---------------------------------------------------------------------

NEEDS_JINJA = {"error": {"code": 500, "message": "tools param requires --jinja flag", "type": "server_error"}}
NO_MMPROJ = {
    "error": {
        "code": 500,
        "message": "image input is not supported - hint: if this is unexpected, you may need to provide the mmproj",
        "type": "server_error",
    }
}
BAD_SCHEMA = {
    "error": {
        "code": 400,
        "message": "Unable to generate parser for this template. Automatic parser generation failed: "
        "JSON schema conversion failed:\nPattern must start with '^' and end with '$'",
        "type": "invalid_request_error",
    }
}


def _image_prompt() -> list[Message]:
    return [Message("user", (TextPart("What is this?"), ImagePart.from_bytes(PNG)))]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("refusal", "call", "says", "dmr_fix", "llama_fix"),
    [
        (NEEDS_JINJA, {"prompt": "go", "tools": [WEATHER]}, "cannot call tools", "text model for tools", "--jinja"),
        (NO_MMPROJ, {"prompt": _image_prompt()}, "cannot read image input", "--mmproj", "--mmproj FILE.gguf"),
        (
            BAD_SCHEMA,
            {"prompt": "go", "response_format": {"type": "string", "pattern": "a+"}},
            "cannot enforce this JSON Schema",
            "anchored with ^ and $",
            "anchored with ^ and $",
        ),
    ],
)
def test_a_refused_feature_is_unsupported_with_the_servers_reason_and_the_fix(
    stream: bool, refusal: dict[str, Any], call: dict[str, Any], says: str, dmr_fix: str, llama_fix: str
) -> None:
    status = refusal["error"]["code"]
    options = {k: v for k, v in call.items() if k != "prompt"}
    for path, server_header, fix in (
        (None, None, dmr_fix),  # Docker Model Runner passes llama-server's answer on (runner.go:125)
        ("/v1", "llama.cpp", llama_fix),  # llama-server itself names itself (server-http.cpp)
    ):
        headers = {"server": server_header} if server_header else {}
        with ScriptedServer(answering(whole(refusal, status, **headers))) as server:

            async def case(server: ScriptedServer = server, path: str | None = path) -> None:
                async with await adapter_for(server, path=path) as adapter:
                    if stream:
                        [_ async for _ in adapter.stream(call["prompt"], **options)]
                    else:
                        await adapter.complete(call["prompt"], **options)

            with pytest.raises(UnsupportedOperationError) as caught:
                run(case())
            attempts = len([r for r in server.requests if r.method == "POST"])
        assert says in caught.value.message
        assert refusal["error"]["message"].split("\n")[0] in caught.value.message  # the server's reason
        assert fix in (caught.value.fix or "")
        assert attempts == 1  # a refusal is never sent again, though llama-server says 500


def test_dmr_fixes_name_the_one_model_or_the_other() -> None:
    """On the runner one model has --jinja or --mmproj, never both (``llamacpp_config.go:87-92``)."""
    with (
        ScriptedServer(answering(whole(NEEDS_JINJA, 500))) as server,
        pytest.raises(UnsupportedOperationError) as tools,
    ):
        run(completed(server, "go", tools=[WEATHER]))
    with ScriptedServer(answering(whole(NO_MMPROJ, 500))) as server, pytest.raises(UnsupportedOperationError) as image:
        run(completed(server, _image_prompt()))
    assert "never both" in (tools.value.fix or "") and "mmproj" in (tools.value.fix or "")
    assert "docker model package --mmproj" in (image.value.fix or "")


# -- any tool_calls shape: calls, pieces, or the typed malformed error --------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 3) | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["index", "id", "function", "name", "arguments", "type"]), inner, max_size=4)
    ),
    max_leaves=12,
)
_entry = st.fixed_dictionaries(
    {},
    optional={
        "index": _json,
        "id": _json,
        "type": _json,
        "function": _json | st.fixed_dictionaries({}, optional={"name": _json, "arguments": _json}),
    },
)
_tool_calls = _json | st.lists(_entry | _json, max_size=3)


@settings(max_examples=300, deadline=None)
@given(_tool_calls)
def test_any_tool_calls_shape_gives_pieces_calls_or_malformed(tool_calls: Any) -> None:
    event = {"choices": [{"delta": {"tool_calls": tool_calls}, "finish_reason": None}]}
    try:
        chunks = chunks_from_event(event)
    except MalformedResponse:
        chunks = None
    if chunks is not None:
        assert all(isinstance(d, ToolCallDelta) and d.index >= 0 for c in chunks for d in c.tool_call_deltas)
    body = {"choices": [{"message": {"content": None, "tool_calls": tool_calls}, "finish_reason": "tool_calls"}]}
    try:
        calls = completion_from_body(body).tool_calls
    except MalformedResponse:
        return
    assert all(isinstance(call, ToolCall) and call.name and call.id for call in calls)
