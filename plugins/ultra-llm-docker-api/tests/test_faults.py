"""Fault tests against scripted loopback servers: every failure becomes one typed, clear error."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
from ultra_llm_docker.errors import ModelRunnerNotEnabledError
from ultra_llm_docker.testing.engine.launcher import free_port

from ultra_llm._types import Chunk, GenerationRequest, to_messages
from ultra_llm.errors import (
    BadRequestError,
    ContextLengthExceededError,
    GenerationError,
    GenerationTimeoutError,
    ModelNotFoundError,
    ResponseTooLargeError,
    StreamInterruptedError,
)
from ultra_llm.testing.adapters import adapter_over
from ultra_llm.testing.scripted_server import (
    ScriptedServer,
    SeenRequest,
    chunked,
    send_json,
    send_text,
    sse_head,
)
from ultra_llm.testing.waiting import until

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def completion(text: str = "hi there") -> dict[str, Any]:
    return {
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


def event(content: str | None = None, finish: str | None = None) -> bytes:
    delta = {} if content is None else {"content": content}
    payload = {"object": "chat.completion.chunk", "choices": [{"delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def request(model: str = "ai/tiny:latest") -> GenerationRequest:
    return GenerationRequest(model, to_messages("hello"), None, "docker-api", {})


async def collect(backend: Any, chunks: list[Chunk]) -> None:
    try:
        async for chunk in backend.stream(request()):
            chunks.append(chunk)
    finally:
        await backend.aclose()


async def timed(backend: Any, chunks: list[Chunk], *, streamed: bool = True, **call: Any) -> None:
    """The call through the adapter, which alone keeps the total and first-token deadlines."""
    async with adapter_over(backend, "ai/tiny:latest") as adapter:
        if not streamed:
            await adapter.complete("hello", **call)
            return
        async for chunk in adapter.stream("hello", **call):
            chunks.append(chunk)


async def whole(backend: Any) -> Any:
    try:
        return await backend.generate(request())
    finally:
        await backend.aclose()


def test_stream_dropped_midway_is_interrupted_and_not_retried(make_backend: Callable[..., Any]) -> None:
    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(sse_head() + chunked(event("one ")) + chunked(event("two ")))
        await writer.drain()
        writer.transport.abort()  # no terminating chunk, no [DONE]

    with ScriptedServer(handler) as server:
        chunks: list[Chunk] = []
        with pytest.raises(StreamInterruptedError) as caught:
            run(collect(make_backend(server.url), chunks))
    assert [c.text for c in chunks] == ["one ", "two "]
    assert len(server.requests) == 1, "a stream that had started must not be retried"
    assert "dropped" in caught.value.message


def test_stream_dropped_before_its_first_byte_is_sent_again(make_backend: Callable[..., Any]) -> None:
    """Nothing of the answer arrived, so nothing was given: the one attempt loop tries again (one URL too)."""

    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        if len(server.requests) == 1:
            writer.write(sse_head())
            await writer.drain()
            writer.transport.abort()  # the status line, then nothing
        else:
            writer.write(sse_head() + chunked(event("ok", "stop")) + chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n")
            await writer.drain()

    with ScriptedServer(handler) as server:
        chunks: list[Chunk] = []
        run(collect(make_backend(server.url, retries=2), chunks))
    assert [c.text for c in chunks] == ["ok", ""] and chunks[-1].finish_reason == "stop"
    assert len(server.requests) == 2


def test_stream_cleanly_closed_without_done_is_interrupted(make_backend: Callable[..., Any]) -> None:
    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(sse_head() + chunked(event("partial")) + b"0\r\n\r\n")
        await writer.drain()

    with ScriptedServer(handler) as server:
        chunks: list[Chunk] = []
        with pytest.raises(StreamInterruptedError, match="ended before it was complete"):
            run(collect(make_backend(server.url), chunks))
    assert [c.text for c in chunks] == ["partial"]


@pytest.mark.parametrize(
    "payload",
    [b"data: {not json}\n\n", b"data: [1, 2]\n\n", b'data: {"choices": [7]}\n\n', b'data: {"id": 1}\n\n'],
)
def test_malformed_sse_is_a_generation_error(make_backend: Callable[..., Any], payload: bytes) -> None:
    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(sse_head() + chunked(event("ok")) + chunked(payload) + chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        await writer.drain()

    with ScriptedServer(handler) as server:
        chunks: list[Chunk] = []
        with pytest.raises(GenerationError, match="malformed"):
            run(collect(make_backend(server.url), chunks))
    assert [c.text for c in chunks] == ["ok"]


@pytest.mark.parametrize(
    "body", [b"<html>oops</html>", b'{"choices": []}', b'{"choices": [{"message": {"content": 5}}]}']
)
def test_malformed_json_body_is_a_generation_error(make_backend: Callable[..., Any], body: bytes) -> None:
    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        await send_text(writer, 200, body, content_type="application/json")

    with ScriptedServer(handler) as server, pytest.raises(GenerationError, match="malformed") as caught:
        run(whole(make_backend(server.url)))
    assert type(caught.value) is GenerationError
    assert len(server.requests) == 1


def test_slow_first_byte_hits_the_first_token_timeout(make_backend: Callable[..., Any]) -> None:
    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        await send_json(writer, 200, completion())

    with ScriptedServer(handler) as server:
        backend = make_backend(server.url, first_token_timeout=0.3)
        started = time.monotonic()
        with pytest.raises(GenerationTimeoutError) as caught:
            run(timed(backend, []))
        elapsed = time.monotonic() - started
    assert caught.value.timeout == pytest.approx(0.3)
    assert caught.value.message == (
        "No answer from backend 'docker-api' within the 0.3 s first-token timeout (ULTRA_LLM_FIRST_TOKEN_TIMEOUT): "
        f"{server.url} had sent no token."
    )
    assert elapsed < 2.0
    assert len(server.requests) == 1, "a client-side timeout is not retried"


def test_the_calls_timeout_wins_over_the_configured_one(make_backend: Callable[..., Any]) -> None:
    """The adapter owns the deadlines: a call's ``timeout=0.3`` stops a stream and a whole call whose
    configuration allows 60 s, and docker-api keeps no clock of its own that would outlast it."""

    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        await send_json(writer, 200, completion())

    with ScriptedServer(handler) as server:
        for streamed in (True, False):
            backend = make_backend(server.url, timeout=60.0, first_token_timeout=60.0)
            started = time.monotonic()
            with pytest.raises(GenerationTimeoutError) as caught:
                run(timed(backend, [], streamed=streamed, timeout=0.3))
            assert time.monotonic() - started < 2.0, "the call outlived its timeout"
            assert caught.value.timeout == pytest.approx(0.3)
            assert caught.value.message == (
                "No answer from backend 'docker-api' within the 0.3 s first-token timeout (the call's timeout, which "
                f"caps ULTRA_LLM_FIRST_TOKEN_TIMEOUT): {server.url} had sent no token."
                if streamed
                else "Generation on backend 'docker-api' took longer than 0.3 s."
            )


def test_first_event_late_after_headers_hits_the_first_token_timeout(make_backend: Callable[..., Any]) -> None:
    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(sse_head())
        await writer.drain()
        await asyncio.sleep(5)

    with ScriptedServer(handler) as server, pytest.raises(GenerationTimeoutError, match="first-token"):
        run(timed(make_backend(server.url, first_token_timeout=0.3), []))


def test_idle_gap_mid_stream_is_a_stall(make_backend: Callable[..., Any]) -> None:
    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(sse_head() + chunked(event("first")))
        await writer.drain()
        await asyncio.sleep(5)

    with ScriptedServer(handler) as server:
        chunks: list[Chunk] = []
        with pytest.raises(GenerationTimeoutError, match="stalled") as caught:
            run(collect(make_backend(server.url, idle_timeout=0.3), chunks))
    assert caught.value.timeout == pytest.approx(0.3)
    assert "(ULTRA_LLM_DOCKER_API_IDLE_TIMEOUT)" in caught.value.message
    assert [c.text for c in chunks] == ["first"]


def test_total_timeout_bounds_a_trickling_stream(make_backend: Callable[..., Any]) -> None:
    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(sse_head())
        for _ in range(100):
            writer.write(chunked(event("x")))
            await writer.drain()
            await asyncio.sleep(0.05)

    with ScriptedServer(handler) as server:
        started = time.monotonic()
        with pytest.raises(GenerationTimeoutError) as caught:
            run(timed(make_backend(server.url, timeout=0.5, idle_timeout=1.0), []))
    assert caught.value.message == "Generation on backend 'docker-api' took longer than 0.5 s."
    assert time.monotonic() - started < 2.0


def test_500_then_success_is_retried(make_backend: Callable[..., Any]) -> None:
    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        if len(server.requests) == 1:
            await send_text(writer, 500, "unable to load runner: out of memory\n")
        else:
            await send_json(writer, 200, completion("recovered"))

    with ScriptedServer(handler) as server:
        result = run(whole(make_backend(server.url)))
    assert result.text == "recovered"
    assert len(server.requests) == 2
    assert server.requests[0].body == server.requests[1].body


def test_persistent_500_ends_in_a_server_error_with_the_body(make_backend: Callable[..., Any]) -> None:
    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        await send_text(writer, 500, "unable to load runner: out of memory\n")

    with ScriptedServer(handler) as server, pytest.raises(GenerationError) as caught:
        run(whole(make_backend(server.url, retries=3)))
    assert len(server.requests) == 3
    assert "could not load the model" in caught.value.message
    assert "out of memory" in caught.value.output


def test_429_retry_after_is_honoured(make_backend: Callable[..., Any]) -> None:
    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        if len(server.requests) == 1:
            await send_text(writer, 429, "too many requests\n", retry_after="1")
        else:
            writer.write(sse_head() + chunked(event("ok", "stop")) + chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n")
            await writer.drain()

    with ScriptedServer(handler) as server:
        started = time.monotonic()
        chunks: list[Chunk] = []
        run(collect(make_backend(server.url), chunks))
        elapsed = time.monotonic() - started
    assert [c.text for c in chunks] == ["ok", ""] and chunks[-1].finish_reason == "stop"
    assert len(server.requests) == 2
    assert 0.9 <= elapsed < 3.0, f"Retry-After: 1 was not honoured ({elapsed:.2f} s)"


def test_retry_after_beyond_the_limit_fails_at_once(make_backend: Callable[..., Any]) -> None:
    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        await send_text(writer, 503, "service unavailable\n", retry_after="120")

    with ScriptedServer(handler) as server:
        started = time.monotonic()
        with pytest.raises(ModelRunnerNotEnabledError) as caught:
            run(whole(make_backend(server.url)))  # 120 s is beyond the 60 s honoured
    assert time.monotonic() - started < 1.0
    assert len(server.requests) == 1
    assert "12434" in caught.value.fix


def test_response_far_larger_than_the_cap(make_backend: Callable[..., Any]) -> None:
    big = json.dumps(completion("x" * 4_000_000)).encode()

    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        if req.headers.get("accept") == "text/event-stream":
            writer.write(sse_head())
            while True:  # an endless stream
                writer.write(chunked(event("y" * 10_000)))
                await writer.drain()
        # no Content-Length: the cap must stop the read, not the header
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
        for start in range(0, len(big), 65536):
            writer.write(big[start : start + 65536])
            await writer.drain()

    with ScriptedServer(handler) as server:
        with pytest.raises(ResponseTooLargeError, match="65536-byte cap"):
            run(whole(make_backend(server.url, max_response_bytes=65536)))
        chunks: list[Chunk] = []
        with pytest.raises(ResponseTooLargeError):
            run(collect(make_backend(server.url, max_response_bytes=65536), chunks))
    assert 0 < sum(len(c.text) for c in chunks) <= 65536


def test_declared_content_length_over_the_cap_is_refused_unread(make_backend: Callable[..., Any]) -> None:
    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 999999999\r\n\r\n{")
        await writer.drain()
        await asyncio.sleep(5)

    with ScriptedServer(handler) as server:
        started = time.monotonic()
        with pytest.raises(ResponseTooLargeError, match="999999999 bytes"):
            run(whole(make_backend(server.url, max_response_bytes=65536)))
    assert time.monotonic() - started < 2.0


def test_connection_refused_says_how_to_enable_tcp(make_backend: Callable[..., Any]) -> None:
    backend = make_backend(f"http://127.0.0.1:{free_port()}", retries=2)
    started = time.monotonic()
    with pytest.raises(ModelRunnerNotEnabledError) as caught:
        run(whole(backend))
    assert time.monotonic() - started < 3.0
    assert "Cannot reach Docker Model Runner" in caught.value.message
    assert "--tcp 12434" in caught.value.fix
    assert "\n" not in str(caught.value)


def test_availability_reports_refused_without_raising(make_backend: Callable[..., Any]) -> None:
    backend = make_backend(f"http://127.0.0.1:{free_port()}")
    availability = run(backend.check_availability())
    assert availability.available is False
    assert isinstance(availability.error, ModelRunnerNotEnabledError)


def test_error_event_inside_a_stream_is_typed(make_backend: Callable[..., Any]) -> None:
    error = {
        "error": {
            "code": 400,
            "message": "request (4139 tokens) exceeds the available context size (4096 tokens), try increasing it",
            "type": "exceed_context_size_error",
        }
    }

    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(sse_head() + chunked(b"data: " + json.dumps(error).encode() + b"\n\n") + b"0\r\n\r\n")
        await writer.drain()

    with ScriptedServer(handler) as server, pytest.raises(ContextLengthExceededError) as caught:
        run(collect(make_backend(server.url), []))
    assert (caught.value.requested, caught.value.available) == (4139, 4096)


def test_plain_text_404_and_400_from_the_runner(make_backend: Callable[..., Any]) -> None:
    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        if req.json()["model"] == "ai/tiny:latest":
            await send_text(writer, 404, "model not found\n")
        else:
            await send_text(writer, 400, "model is required\n")

    with ScriptedServer(handler) as server:
        with pytest.raises(ModelNotFoundError) as missing:
            run(whole(make_backend(server.url)))
        backend = make_backend(server.url)
        with pytest.raises(BadRequestError, match="model is required"):
            run(backend.generate(request("")))
        run(backend.aclose())
    assert "`docker model pull ai/tiny:latest`" in missing.value.fix
    assert len(server.requests) == 2, "4xx answers are not retried"


def test_stream_request_answered_whole_is_tolerated(make_backend: Callable[..., Any]) -> None:
    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        await send_json(writer, 200, completion("all at once"))

    with ScriptedServer(handler) as server:
        chunks: list[Chunk] = []
        run(collect(make_backend(server.url), chunks))
    assert "".join(c.text for c in chunks) == "all at once"
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage is not None


def test_closing_the_stream_early_closes_the_connection(make_backend: Callable[..., Any]) -> None:
    sent: list[int] = []

    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(sse_head())
        for index in range(2000):
            writer.write(chunked(event(f"{index} ")))
            await writer.drain()
            sent.append(index)
            await asyncio.sleep(0.002)

    async def case(backend: Any) -> list[str]:
        texts: list[str] = []
        stream = backend.stream(request())
        async for chunk in stream:
            texts.append(chunk.text)
            if len(texts) == 3:
                break
        await stream.aclose()
        await asyncio.sleep(0.3)
        await backend.aclose()
        return texts

    with ScriptedServer(handler) as server:
        texts = run(case(make_backend(server.url)))
        until(lambda: server.disconnects >= 1)  # bounded: the assertion below says what was missing
        disconnects = server.disconnects
    assert texts == ["0 ", "1 ", "2 "]
    assert disconnects == 1, "the server should see the client go away"
    assert len(sent) < 2000


# The runner's own refusals, as docker/model-runner pkg/inference/scheduling/http_handler.go writes
# them at 642c7211 (http.Error: text/plain, the message and a newline).


def test_412_engine_not_installed_is_typed_with_the_install_command(make_backend: Callable[..., Any]) -> None:
    from ultra_llm_docker.errors import RunnerEngineNotInstalledError

    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:  # http_handler.go:244-245
        await send_text(
            writer, 412, 'backend "vllm" is not installed; run: docker model install-runner --backend vllm\n'
        )

    with ScriptedServer(handler) as server, pytest.raises(RunnerEngineNotInstalledError) as caught:
        run(whole(make_backend(server.url)))
    assert len(server.requests) == 1  # a precondition: another attempt cannot succeed
    assert "vllm" in caught.value.message
    assert "docker model install-runner --backend vllm" in caught.value.fix


def test_412_vllm_binary_not_found_says_to_install_vllm(make_backend: Callable[..., Any]) -> None:
    from ultra_llm_docker.errors import RunnerEngineNotInstalledError

    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:  # http_handler.go:246-247
        await send_text(writer, 412, "vLLM binary not found\n")

    with ScriptedServer(handler) as server, pytest.raises(RunnerEngineNotInstalledError) as caught:
        run(whole(make_backend(server.url)))
    assert "vLLM binary not found" in caught.value.message
    assert "install-runner --backend vllm" in caught.value.fix


def test_400_request_too_large_is_typed_and_not_retried(make_backend: Callable[..., Any]) -> None:
    from ultra_llm_docker.errors import RunnerRequestTooLargeError

    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:  # http_handler.go:29-37
        await send_text(writer, 400, "request too large\n")

    chunks: list[Chunk] = []
    with ScriptedServer(handler) as server, pytest.raises(RunnerRequestTooLargeError) as caught:
        run(collect(make_backend(server.url), chunks))
    assert len(server.requests) == 1 and chunks == []
    assert "10 MiB" in caught.value.message
    assert "images" in caught.value.fix
    assert isinstance(caught.value, BadRequestError)


def test_model_runner_host_reaches_the_runner_when_model_runner_url_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # docker/model-runner cmd/cli/desktop/context.go:249,331-336 at 642c7211: host:port, http:// added
    from ultra_llm_docker_api.backend import DockerAPIBackend

    from ultra_llm._config import load_config

    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        await send_json(writer, 200, completion("via MODEL_RUNNER_HOST"))

    for name in ("MODEL_RUNNER_URL", "ULTRA_LLM_DOCKER_API_URL", "MODEL_RUNNER_TLS"):
        monkeypatch.delenv(name, raising=False)
    with ScriptedServer(handler) as server:
        monkeypatch.setenv("MODEL_RUNNER_HOST", server.url.removeprefix("http://"))
        result = run(whole(DockerAPIBackend(load_config())))
    assert result.text == "via MODEL_RUNNER_HOST"
    assert server.requests[0].path == "/engines/v1/chat/completions"
