"""Fault-catalogue rows no other test proves: hostile plugins and middleware, pulls failing mid-way,
non-UTF-8 in an HTTP stream, 429/503 storms, very large CLI answers. See docs/fault-catalogue.md."""

from __future__ import annotations

import asyncio
import contextlib
import json
import stat
import sys
import time
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest
from ultra_llm_docker.errors import ModelRunnerNotEnabledError
from ultra_llm_docker.testing.double.fixtures import DockerDouble

from tests.reliability.reliability_support import child_pids
from ultra_llm import Chunk, EmbeddingResult, ModelInfo, Result, create_adapter_sync
from ultra_llm.config import load_config
from ultra_llm.errors import (
    GenerationError,
    GenerationTimeoutError,
    PluginError,
    ResponseTooLargeError,
    StreamInterruptedError,
    UltraLLMError,
)
from ultra_llm.host import PluginHost
from ultra_llm.middleware import Middleware
from ultra_llm.plugin import Availability, Backend, GenerationRequest, hookimpl
from ultra_llm.sync import SyncAdapter
from ultra_llm.testing.scripted_server import ScriptedServer, SeenRequest, chunked, send_json, send_text, sse_head
from ultra_llm.types import EmbeddingRequest, Progress, to_messages

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def adapter_for(host: PluginHost, model: str = "mock/echo", **overrides: Any) -> SyncAdapter:
    return create_adapter_sync(model, host=host, **overrides)


# -- hostile third-party plugins ------------------------------------------------------------------


class Hanging(Backend):
    """A third-party backend that never answers: every call awaits forever."""

    name: ClassVar[str] = "hanging"
    forever: ClassVar[float] = 3600.0

    async def check_availability(self) -> Availability:
        return Availability(True)

    async def list_models(self) -> list[ModelInfo]:
        await asyncio.sleep(self.forever)
        return []

    async def generate(self, request: GenerationRequest) -> Result:
        await asyncio.sleep(self.forever)
        raise AssertionError("unreachable")

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        yield Chunk("first ")
        await asyncio.sleep(self.forever)

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        await asyncio.sleep(self.forever)
        raise AssertionError("unreachable")


class HangingPlugin:
    @hookimpl
    def ultra_llm_register_backends(self, register):  # type: ignore[no-untyped-def]
        register("hanging", Hanging)


def test_a_hanging_third_party_backend_hits_the_hosts_deadline() -> None:
    host = PluginHost()
    host.register(HangingPlugin(), name="hanging-plugin")
    with adapter_for(host, backend="hanging", timeout=0.3) as adapter:
        started = time.monotonic()
        with pytest.raises(GenerationTimeoutError) as whole:
            adapter.generate("x")
        got: list[str] = []
        with pytest.raises(GenerationTimeoutError):
            for chunk in adapter.stream("x"):
                got.append(chunk.text)
        with pytest.raises(GenerationTimeoutError):
            adapter.embed("x")
        elapsed = time.monotonic() - started
    assert whole.value.timeout == 0.3 and whole.value.backend == "hanging"
    assert got == ["first "], "chunks before the hang are delivered"
    assert elapsed < 3.0, f"three 0.3 s deadlines took {elapsed:.2f} s"


def test_a_hanging_third_party_model_listing_hits_the_hosts_deadline() -> None:
    host = PluginHost()
    host.register(HangingPlugin(), name="hanging-plugin")
    with adapter_for(host, backend="hanging", timeout=0.3) as adapter:
        started = time.monotonic()
        with pytest.raises(GenerationTimeoutError):
            adapter.list_models()
    assert time.monotonic() - started < 2.0


def test_a_plugin_raising_in_register_models_is_recorded_and_skipped() -> None:
    class RaisingModels:
        @hookimpl
        def ultra_llm_register_models(self, backend, register):  # type: ignore[no-untyped-def]
            register("mock/extra-before-the-bug")
            raise RuntimeError("models hook bug")

    class GoodModels:
        @hookimpl
        def ultra_llm_register_models(self, backend, register):  # type: ignore[no-untyped-def]
            register("mock/contributed")

    host = PluginHost()
    host.register(RaisingModels(), name="raising-models")
    host.register(GoodModels(), name="good-models")
    with adapter_for(host) as adapter:
        names = adapter.list_models()
    listed = [m.name for m in names]
    assert "mock/contributed" in listed and "mock/echo" in listed
    assert "mock/extra-before-the-bug" not in listed, "a failing hook's partial entries are dropped"
    assert "models hook bug" in (host.records["raising-models"].error or "")


def test_a_raising_register_models_hook_is_fatal_in_strict_mode() -> None:
    class RaisingModels:
        @hookimpl
        def ultra_llm_register_models(self, backend, register):  # type: ignore[no-untyped-def]
            raise KeyError("strict")

    host = PluginHost(environ={"ULTRA_LLM_STRICT_PLUGINS": "1"})
    host.register(RaisingModels(), name="raising-models")
    with adapter_for(host) as adapter, pytest.raises(PluginError) as caught:
        adapter.list_models()
    assert caught.value.plugin == "raising-models"


@pytest.mark.parametrize("returned", [42, "not middleware", {"generate": None}])
def test_a_middleware_hook_returning_the_wrong_type_fails_its_plugin(returned: object) -> None:
    class WrongType:
        @hookimpl(tryfirst=True)
        def ultra_llm_middleware(self):  # type: ignore[no-untyped-def]
            return returned

    host = PluginHost()
    host.register(WrongType(), name="wrong-type")
    with adapter_for(host) as adapter:
        assert adapter.generate("x") == "x"
    record = host.records["wrong-type"]
    assert record.status == "failed" and "none of the methods" in (record.error or "")


def test_a_middleware_stream_giving_no_iterator_is_a_plugin_error() -> None:
    class NoIterator(Middleware):
        def stream(self, request, call_next):  # type: ignore[no-untyped-def]
            return [Chunk("a list, not an async iterator")]

    class Plugin:
        @hookimpl(tryfirst=True)
        def ultra_llm_middleware(self):  # type: ignore[no-untyped-def]
            return NoIterator()

    host = PluginHost()
    host.register(Plugin(), name="no-iterator")
    with adapter_for(host) as adapter:
        with pytest.raises(PluginError, match="AttributeError"):
            list(adapter.stream("x"))
        assert adapter.generate("whole still works") == "whole still works"


def test_middleware_raising_mid_stream_is_a_plugin_error_and_closes_the_backend(
    mock_stream_closes: list[bool],
) -> None:
    class RaisesMidStream(Middleware):
        async def stream(self, request, call_next):  # type: ignore[no-untyped-def]
            async with contextlib.aclosing(call_next(request)) as chunks:
                async for chunk in chunks:
                    yield chunk
                    raise ValueError("middleware bug mid-stream")

    class Plugin:
        @hookimpl
        def ultra_llm_middleware(self):  # type: ignore[no-untyped-def]
            return RaisesMidStream()

    host = PluginHost()
    host.register(Plugin(), name="raises-mid-stream")
    got: list[str] = []
    with adapter_for(host) as adapter, pytest.raises(PluginError, match="middleware bug mid-stream") as caught:
        for chunk in adapter.stream("one two three"):
            got.append(chunk.text)
    assert got == ["one "] and mock_stream_closes == [True]
    assert caught.value.plugin == "raises-mid-stream"


def test_middleware_raising_before_streaming_and_in_embed() -> None:
    class RaisesAtCallTime(Middleware):
        def stream(self, request, call_next):  # type: ignore[no-untyped-def]
            raise OSError("before the stream")

        async def embed(self, request, call_next):  # type: ignore[no-untyped-def]
            await call_next(request)
            raise LookupError("embed middleware bug")

    class Plugin:
        @hookimpl
        def ultra_llm_middleware(self):  # type: ignore[no-untyped-def]
            return RaisesAtCallTime()

    host = PluginHost()
    host.register(Plugin(), name="raises-at-call-time")
    with adapter_for(host) as adapter:
        with pytest.raises(PluginError, match="before the stream") as at_call:
            list(adapter.stream("x"))
        with pytest.raises(PluginError, match="embed middleware bug") as in_embed:
            adapter.embed("x")
        assert adapter.generate("the rest works") == "the rest works"
    assert at_call.value.plugin == in_embed.value.plugin == "raises-at-call-time"


# -- docker-cli: a pull failing mid-way -----------------------------------------------------------

_PULL_WRAPPER = """#!{python} -S
import os, sys
args = sys.argv[1:]
if args[:2] == ["model", "pull"]:
    out = sys.stdout
    out.write("Downloaded 10.00MB of 256.35MB\\n")
    out.write("Downloaded 20.00MB of 256.35MB\\n")
    out.flush()
    if {mode!r} == "kill":
        import signal
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stderr.write("Failed to pull model: unexpected EOF while reading layer sha256:abc\\n")
    sys.exit(1)
os.execv({double!r}, [{double!r}, *args])
"""


def install_pull_breaker(double: DockerDouble, mode: str) -> Path:
    """A ``docker`` first on PATH that fails ``model pull`` after two progress lines, else runs the double."""
    path = double.bin_dir.parent / "pull-breaker"
    path.mkdir()
    script = path / "docker"
    script.write_text(_PULL_WRAPPER.format(python=sys.executable, mode=mode, double=double.docker))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


@pytest.mark.parametrize(("mode", "error"), [("exit", GenerationError), ("kill", StreamInterruptedError)])
def test_cli_pull_failing_mid_way(
    docker_double: DockerDouble, monkeypatch: pytest.MonkeyPatch, mode: str, error: type[UltraLLMError]
) -> None:
    from ultra_llm_docker_cli.backend import DockerCLIBackend

    monkeypatch.setenv("ULTRA_LLM_DOCKER_BIN", str(install_pull_breaker(docker_double, mode)))
    backend = DockerCLIBackend(load_config())
    seen: list[Progress] = []
    before = child_pids()
    with pytest.raises(error) as caught:
        run(backend.pull("ai/gemma3", seen.append))
    assert [p.completed for p in seen] == [10_000_000, 20_000_000], "progress before the failure is reported"
    assert "ai/gemma3:latest" not in backend._present
    assert "gemma3" not in json.dumps(docker_double.models)
    if mode == "exit":
        assert "unexpected EOF" in str(caught.value)
    else:
        assert "signal 9" in caught.value.message
    assert child_pids() == before


# -- docker-api: pull failing mid-way, non-UTF-8 stream, 429/503 storms ---------------------------


def api_backend(url: str, **settings: Any) -> Any:
    pytest.importorskip("httpx2")
    from ultra_llm_docker_api.backend import DockerAPIBackend
    from ultra_llm_docker_api.settings import DockerAPISettings

    settings.setdefault("retry_wait_initial", 0.01)
    return DockerAPIBackend(load_config(), settings=DockerAPISettings.load(url=url, **settings))


def ndjson_head() -> bytes:
    return sse_head("application/json")


def record(kind: str, current: int = 0, message: str = "") -> bytes:
    body = {"type": kind, "message": message, "total": 1000, "layer": {"id": "l1", "size": 1000, "current": current}}
    return chunked(json.dumps(body).encode() + b"\n")


async def pull(backend: Any, model: str, seen: list[Progress]) -> None:
    try:
        await backend.pull(model, seen.append)
    finally:
        await backend.aclose()


def test_api_pull_error_record_mid_way(docker_double: DockerDouble) -> None:
    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(ndjson_head() + record("progress", 100) + record("progress", 400))
        writer.write(record("error", message="Error: write /models/blobs: no space left on device") + b"0\r\n\r\n")
        await writer.drain()

    seen: list[Progress] = []
    with ScriptedServer(handler) as server, pytest.raises(GenerationError) as caught:
        run(pull(api_backend(server.url), "ai/gemma3:latest", seen))
    assert [p.completed for p in seen] == [100, 400]
    assert "no space left on device" in caught.value.message
    assert len(server.requests) == 1 and server.requests[0].path == "/models/create"


def test_api_pull_connection_dropped_mid_way() -> None:
    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(ndjson_head() + record("progress", 100))
        await writer.drain()
        writer.transport.abort()

    seen: list[Progress] = []
    with ScriptedServer(handler) as server, pytest.raises(StreamInterruptedError):
        run(pull(api_backend(server.url), "ai/gemma3:latest", seen))
    assert [p.completed for p in seen] == [100]
    assert len(server.requests) == 1, "a pull that had started is not silently retried"


def test_api_pull_ending_without_success_is_interrupted() -> None:
    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(ndjson_head() + record("progress", 100) + b"0\r\n\r\n")
        await writer.drain()

    with ScriptedServer(handler) as server, pytest.raises(StreamInterruptedError, match="without the runner"):
        run(pull(api_backend(server.url), "ai/gemma3:latest", []))


def sse_event(content: str) -> bytes:
    payload = {"object": "chat.completion.chunk", "choices": [{"delta": {"content": content}, "finish_reason": None}]}
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def completion(text: str) -> dict[str, Any]:
    message = {"role": "assistant", "content": text}
    return {"object": "chat.completion", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}


def api_request() -> GenerationRequest:
    return GenerationRequest("ai/tiny:latest", to_messages("hello"), None, "docker-api", {})


async def collect(backend: Any, chunks: list[Chunk]) -> None:
    try:
        async for chunk in backend.stream(api_request()):
            chunks.append(chunk)
    finally:
        await backend.aclose()


async def whole_on(backend: Any) -> Result:
    """One whole generation on ``backend``, left open."""
    result: Result = await backend.generate(api_request())
    return result


async def whole(backend: Any) -> Result:
    try:
        result: Result = await backend.generate(api_request())
        return result
    finally:
        await backend.aclose()


@pytest.mark.parametrize(
    "bad",
    [
        b'data: {"choices": [{"delta": {"content": "\xff\xfe"}}]}\n\n',
        b"data: \xc3\x28\n\n",
        b"\xff\xfe\xfd: junk\n\n",
    ],
)
def test_api_non_utf8_bytes_in_a_stream_are_typed(bad: bytes) -> None:
    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(sse_head() + chunked(sse_event("ok")) + chunked(bad) + chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        await writer.drain()

    chunks: list[Chunk] = []
    with ScriptedServer(handler) as server:
        try:
            run(collect(api_backend(server.url), chunks))
        except UltraLLMError as exc:
            assert isinstance(exc, GenerationError)
    assert chunks[0].text == "ok"
    assert not server.errors


def test_api_non_utf8_whole_body_is_typed() -> None:
    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        body = b'{"choices": [{"message": {"content": "\xff\xfe"}}]}'
        await send_text(writer, 200, body, content_type="application/json")

    with ScriptedServer(handler) as server, pytest.raises(GenerationError, match="malformed"):
        run(whole(api_backend(server.url)))


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [(429, "too many requests\n", GenerationError), (503, "service unavailable\n", ModelRunnerNotEnabledError)],
)
def test_api_storm_is_bounded_by_the_retry_budget(status: int, body: str, error: type[UltraLLMError]) -> None:
    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        await send_text(writer, status, body, retry_after="0")

    with ScriptedServer(handler) as server:
        started = time.monotonic()
        with pytest.raises(error) as caught:
            run(whole(api_backend(server.url, retries=4)))
        with pytest.raises(error):
            run(collect(api_backend(server.url, retries=4), []))
        elapsed = time.monotonic() - started
    assert len(server.requests) == 8, "each call makes exactly `retries` attempts"
    assert str(status) in caught.value.message
    assert elapsed < 5.0


def test_api_concurrent_calls_through_a_503_storm_all_end_typed() -> None:
    storm = 25

    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        if len(server.requests) <= storm:
            await send_text(writer, 503, "service unavailable\n", retry_after="0")
            return
        await send_json(writer, 200, completion("ok"))

    async def many(backend: Any) -> list[BaseException | Result]:
        try:
            calls = [whole_on(backend) for _ in range(20)]
            return list(await asyncio.gather(*calls, return_exceptions=True))
        finally:
            await backend.aclose()

    with ScriptedServer(handler) as server:
        outcomes = run(many(api_backend(server.url, retries=3)))
    answered = [o for o in outcomes if isinstance(o, Result)]
    failed = [o for o in outcomes if not isinstance(o, Result)]
    assert all(isinstance(f, ModelRunnerNotEnabledError) for f in failed), failed
    assert all(r.text == "ok" for r in answered) and answered, "the storm ends and calls succeed again"
    assert len(server.requests) <= 20 * 3


# -- docker-cli: answers far larger than expected -------------------------------------------------


def test_cli_large_answer_arrives_whole_in_bounded_chunks(docker_double: DockerDouble) -> None:
    from ultra_llm_docker_cli.backend import DockerCLIBackend
    from ultra_llm_docker_cli.settings import DockerCLISettings

    answer = ("lorem ipsum dolor " * 60_000).strip()  # about 1 MiB
    docker_double.set(answer=answer)
    backend = DockerCLIBackend(load_config(), settings=DockerCLISettings.load())
    request = GenerationRequest("smollm2", to_messages("hi"), None, "docker-cli")

    async def stream() -> list[Chunk]:
        return [chunk async for chunk in backend.stream(request)]

    chunks = run(stream())
    assert "".join(c.text for c in chunks) == answer
    assert max(len(c.text.encode()) for c in chunks) <= 4096


def test_cli_answer_over_a_size_cap_is_refused(docker_double: DockerDouble) -> None:
    from ultra_llm_docker_cli.backend import DockerCLIBackend
    from ultra_llm_docker_cli.settings import DockerCLISettings

    docker_double.set(answer="x " * 300_000)
    settings = DockerCLISettings.load(max_response_bytes=65536)
    backend = DockerCLIBackend(load_config(), settings=settings)
    request = GenerationRequest("smollm2", to_messages("hi"), None, "docker-cli")
    with pytest.raises(ResponseTooLargeError):
        run(backend.generate(request))
