"""What a real llama.cpp ``llama-server`` showed (issue 16), replayed by scripted loopback servers.

Each case is the server's own behaviour, read from llama.cpp's ``tools/server`` sources and seen
against the built binary (../shared/reference/real-engine.md): one model answering any name, ``503
Loading model`` while it loads, a keep-alive connection closed after every streamed answer, ``501
not_supported_error``, its ``Server: llama.cpp`` header, and fix texts that fit the server answering.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
from ultra_llm_docker.errors import ModelRunnerNotEnabledError
from ultra_llm_docker.testing.engine.launcher import free_port

from ultra_llm._types import Chunk, EmbeddingRequest, GenerationRequest, to_messages
from ultra_llm.errors import (
    BackendUnavailableError,
    ContextLengthExceededError,
    GenerationTimeoutError,
    ModelNotFoundError,
    UltraLLMError,
    UnsupportedOperationError,
)
from ultra_llm.testing.adapters import adapter_over
from ultra_llm.testing.scripted_server import ScriptedServer, SeenRequest, chunked, send_json, sse_head

T = TypeVar("T")

LOADED = "tiny-q8.gguf"
LLAMA = {"server": "llama.cpp"}
LOADING = {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def completion(model: str = LOADED, text: str = "hi") -> dict[str, Any]:
    return {
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


def event(content: str | None, finish: str | None = None, model: str = LOADED) -> bytes:
    delta = {} if content is None else {"content": content}
    choice = {"delta": delta, "finish_reason": finish}
    payload = {"object": "chat.completion.chunk", "model": model, "choices": [choice]}
    return chunked(b"data: " + json.dumps(payload).encode() + b"\n\n")


def whole_stream(model: str = LOADED) -> bytes:
    """A complete streamed answer: a role-only first event, text, the finish, [DONE], the body's end."""
    done = chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n"
    return event(None, model=model) + event("hi", model=model) + event(None, "stop", model=model) + done


def request(model: str = "ai/tiny") -> GenerationRequest:
    return GenerationRequest(model, to_messages("hello"), None, "docker-api", {})


async def streamed(backend: Any, req: GenerationRequest | None = None, into: list[Chunk] | None = None) -> str:
    got = into if into is not None else []
    try:
        async for chunk in backend.stream(req or request()):
            got.append(chunk)
    finally:
        await backend.aclose()
    return "".join(c.text for c in got)


async def whole(backend: Any, req: GenerationRequest | None = None) -> Any:
    try:
        return await backend.generate(req or request())
    finally:
        await backend.aclose()


def models_list(*names: str) -> dict[str, Any]:
    return {"object": "list", "data": [{"id": names[0], "aliases": list(names), "owned_by": "llamacpp"}]}


# -- one model answers any name -----------------------------------------------------------------------


def single_model_server(listed: tuple[str, ...] = (LOADED,)) -> ScriptedServer:
    """llama-server with one model: any ``model`` is answered by the loaded one, named in the answer."""

    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        if req.path == "/v1/models":
            await send_json(writer, 200, models_list(*listed), **LLAMA)
        elif req.json().get("stream"):
            writer.write(sse_head(server="llama.cpp") + whole_stream())
            await writer.drain()
        else:
            await send_json(writer, 200, completion(), **LLAMA)

    return ScriptedServer(handler)


def test_another_model_answering_in_the_v1_layout_is_model_not_found(make_backend: Callable[..., Any]) -> None:
    with single_model_server() as server:
        with pytest.raises(ModelNotFoundError) as caught:
            run(whole(make_backend(server.url + "/v1")))
        got: list[Chunk] = []
        with pytest.raises(ModelNotFoundError) as streamed_caught:
            run(streamed(make_backend(server.url + "/v1"), into=got))
    assert got == [], "no chunk of the wrong model's answer is given"
    for error in (caught.value, streamed_caught.value):
        assert error.model == "ai/tiny"
        assert f"answered with '{LOADED}'" in error.message and LOADED in error.message
        assert "docker model" not in error.fix and "llama-server" in error.fix, error.fix
    assert [r.path for r in server.requests].count("/v1/models") == 2, "one list per backend (each is new here)"


def test_the_models_list_is_read_once_and_only_when_names_differ(make_backend: Callable[..., Any]) -> None:
    with single_model_server(listed=(LOADED, "ai/tiny")) as server:
        backend = make_backend(server.url + "/v1")

        async def case() -> list[str]:
            try:
                texts = [(await backend.generate(request(LOADED))).text]  # the answering name: no list needed
                for _ in range(2):
                    texts.append((await backend.generate(request("ai/tiny"))).text)  # an alias it lists
                    texts.append("".join([c.text async for c in backend.stream(request("ai/tiny"))]))
                return texts
            finally:
                await backend.aclose()

        assert run(case()) == ["hi"] * 5
    paths = [r.path for r in server.requests]
    assert paths.count("/v1/models") == 1 and paths.count("/v1/chat/completions") == 5


def test_the_runners_layout_routes_by_name_and_is_not_checked(make_backend: Callable[..., Any]) -> None:
    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        await send_json(writer, 200, completion(model="model.gguf"))  # DMR passes the engine's name through

    with ScriptedServer(handler) as server:
        assert run(whole(make_backend(server.url))).text == "hi"
    assert [r.path for r in server.requests] == ["/engines/v1/chat/completions"]


# -- 503 Loading model ----------------------------------------------------------------------------------


def loading_server(loading_for: int) -> ScriptedServer:
    """llama-server loading its model: every route answers 503 Loading model for ``loading_for`` requests."""

    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        if len(server.requests) <= loading_for:
            await send_json(writer, 503, LOADING, **LLAMA)
        elif req.json().get("stream"):
            writer.write(sse_head(server="llama.cpp") + whole_stream(model="ai/tiny"))
            await writer.drain()
        else:
            await send_json(writer, 200, completion(model="ai/tiny"), **LLAMA)

    server = ScriptedServer(handler)
    return server


def test_loading_model_is_waited_out_saying_so_once(
    make_backend: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ultra_llm.docker_api")
    with loading_server(loading_for=6) as server:
        result = run(whole(make_backend(server.url + "/v1", retries=3, first_token_timeout=30)))
    assert result.text == "hi"
    assert len(server.requests) == 7, "polled through the load, beyond the 3 attempts a failure gets"
    said = [r.getMessage() for r in caplog.records if "loading the model" in r.getMessage()]
    assert len(said) == 1 and server.url in said[0], said


def test_loading_is_waited_for_in_a_stream_too(make_backend: Callable[..., Any]) -> None:
    with loading_server(loading_for=5) as server:
        assert run(streamed(make_backend(server.url + "/v1", retries=1))) == "hi"
    assert len(server.requests) == 6


def test_loading_longer_than_the_first_token_deadline_times_out_saying_why(make_backend: Callable[..., Any]) -> None:
    """docker-api polls the loading server and tells the call's deadline why it waits; the adapter's one
    first-token error quotes it, for a stream and for a whole call (whose load wait docker-api sizes by
    the first-token deadline)."""

    async def case(backend: Any, stream: bool) -> None:
        async with adapter_over(backend, "ai/tiny:latest") as adapter:
            if stream:
                [_ async for _ in adapter.stream("hello")]
            else:
                await adapter.complete("hello")

    for stream in (True, False):
        with loading_server(loading_for=10_000) as server:
            backend = make_backend(server.url + "/v1", timeout=60.0, first_token_timeout=0.4)
            started = time.monotonic()
            with pytest.raises(GenerationTimeoutError) as caught:
                run(case(backend, stream))
        assert time.monotonic() - started < 3.0, "the call's first-token deadline bounds the wait"
        assert caught.value.message == (
            "No answer from backend 'docker-api' within the 0.4 s first-token timeout "
            f"(ULTRA_LLM_FIRST_TOKEN_TIMEOUT): {server.url}/v1 was still loading the model."
        )
        assert "Docker" not in str(caught.value)
    assert len(server.requests) > 3


# -- a kept-alive connection closed after each stream ------------------------------------------------


def test_a_reused_connection_the_server_closed_is_resent_at_once(make_backend: Callable[..., Any]) -> None:
    """llama-server advertises keep-alive but closes after every streamed answer: a request sent on that
    connection meanwhile gets no byte back. It is resent at once on a new connection: no back-off, not
    counted as an attempt (one allowed here), not a failure of the endpoint."""

    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        if req.on_connection > 1:
            writer.close()  # closed under the client's feet: nothing answered
            return
        writer.write(sse_head(keep_alive=True, server="llama.cpp") + whole_stream(model="ai/tiny"))
        await writer.drain()

    with ScriptedServer(handler, keep_alive=True) as server:
        backend = make_backend(server.url + "/v1", retries=1, retry_wait_initial=5.0)

        async def case() -> list[str]:
            try:
                texts = []
                for _ in range(3):
                    texts.append("".join([c.text async for c in backend.stream(request())]))
                return texts
            finally:
                await backend.aclose()

        started = time.monotonic()
        assert run(case()) == ["hi", "hi", "hi"]
        elapsed = time.monotonic() - started
    assert elapsed < 2.5, f"a back-off was waited ({elapsed:.2f} s; it would be at least 5 s)"
    assert [(r.connection, r.on_connection) for r in server.requests] == [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1)]
    state = backend.endpoint_states()[0]
    assert state["failures"] == 0 and state["successes"] == 3, state


def test_a_fresh_connection_dropped_before_answering_is_not_resent_at_once(make_backend: Callable[..., Any]) -> None:
    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        writer.close()

    with ScriptedServer(handler) as server, pytest.raises(UltraLLMError, match="dropped before answering"):
        run(streamed(make_backend(server.url + "/v1", retries=2)))
    assert len(server.requests) == 2, "a new connection's drop is a failure: retried within the attempts"


# -- 501 and the fix texts ---------------------------------------------------------------------------


def test_501_not_supported_is_unsupported_operation_with_the_servers_message(make_backend: Callable[..., Any]) -> None:
    body = {
        "error": {
            "code": 501,
            "message": "This server does not support embeddings. Start it with `--embeddings`",
            "type": "not_supported_error",
        }
    }

    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        await send_json(writer, 501, body, **LLAMA)

    async def embed(backend: Any) -> Any:
        try:
            return await backend.embed(EmbeddingRequest("ai/tiny", ("a",), "docker-api"))
        finally:
            await backend.aclose()

    with ScriptedServer(handler) as server, pytest.raises(UnsupportedOperationError) as caught:
        run(embed(make_backend(server.url + "/v1")))
    assert str(caught.value).splitlines()[0].startswith(body["error"]["message"])  # type: ignore[index]
    assert "llama-server" in caught.value.fix and "docker" not in caught.value.fix.lower()
    assert len(server.requests) == 1, "not retried: another attempt cannot change the answer"


def context_error_server(headers: dict[str, str]) -> ScriptedServer:
    error = {
        "error": {
            "code": 400,
            "message": "request (4139 tokens) exceeds the available context size (2048 tokens), try increasing it",
            "type": "exceed_context_size_error",
        }
    }

    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        await send_json(writer, 400, error, **headers)

    return ScriptedServer(handler)


@pytest.mark.parametrize(
    ("path", "headers", "names", "avoids"),
    [
        ("", {}, "docker model configure", None),
        ("/v1", LLAMA, "llama-server", "docker"),
        ("/v1", {"server": "uvicorn"}, "server's own settings", "docker"),
    ],
)
def test_fix_texts_fit_the_server_kind(
    make_backend: Callable[..., Any], path: str, headers: dict[str, str], names: str, avoids: str | None
) -> None:
    with context_error_server(headers) as server, pytest.raises(ContextLengthExceededError) as caught:
        run(whole(make_backend(server.url + path)))
    assert (caught.value.requested, caught.value.available) == (4139, 2048)
    assert names in caught.value.fix
    assert avoids is None or avoids not in caught.value.fix.lower()


def test_unavailable_blames_docker_only_for_the_runner(make_backend: Callable[..., Any]) -> None:
    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        await send_json(writer, 503, {"error": {"code": 503, "message": "busy", "type": "unavailable_error"}}, **LLAMA)

    with ScriptedServer(handler) as server:
        with pytest.raises(BackendUnavailableError) as llama:
            run(whole(make_backend(server.url + "/v1", retries=1)))
        with pytest.raises(ModelRunnerNotEnabledError) as runner:
            run(whole(make_backend(server.url, retries=1)))
    assert type(llama.value) is BackendUnavailableError
    assert "llama-server" in llama.value.message and "docker" not in str(llama.value).lower()
    assert "12434" in runner.value.fix
    refused = make_backend(f"http://127.0.0.1:{free_port()}/v1", retries=1)
    with pytest.raises(BackendUnavailableError) as unreachable:
        run(whole(refused))
    assert "llama-server -m" in unreachable.value.fix and "docker" not in unreachable.value.fix.lower()


def test_the_options_hint_does_not_say_llama_cpp_ignores_max_completion_tokens() -> None:
    from ultra_llm_docker_api.options import OPTIONS_HINT

    assert "max_tokens" in OPTIONS_HINT and "ignores" not in OPTIONS_HINT
