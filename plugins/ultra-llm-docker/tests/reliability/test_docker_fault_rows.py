"""Fault-catalogue rows of the Docker backends no other test proves: pulls failing mid-way (docker-cli
on the docker double, docker-api on a scripted server), non-UTF-8 in an HTTP stream, 429/503 storms,
very large CLI answers. See docs/fault-catalogue.md; the kernel's rows (hostile plugins and
middleware) are in the repository's tests/reliability/test_fault_rows.py."""

from __future__ import annotations

import asyncio
import json
import stat
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from ultra_llm_docker.errors import ModelRunnerNotEnabledError
from ultra_llm_docker.testing.double.fixtures import DockerDouble

from ultra_llm import Chunk, Result
from ultra_llm._config import load_config
from ultra_llm._types import Progress, to_messages
from ultra_llm.errors import (
    GenerationError,
    OverloadedError,
    ResponseTooLargeError,
    StreamInterruptedError,
    UltraLLMError,
)
from ultra_llm.plugin import GenerationRequest
from ultra_llm.testing.scripted_server import ScriptedServer, SeenRequest, chunked, send_json, send_text, sse_head

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


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
    docker_double: DockerDouble,
    processes: Any,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    error: type[UltraLLMError],
) -> None:
    from ultra_llm_docker_cli.backend import DockerCLIBackend

    monkeypatch.setenv("ULTRA_LLM_DOCKER_BIN", str(install_pull_breaker(docker_double, mode)))
    backend = DockerCLIBackend(load_config())
    seen: list[Progress] = []
    before = processes.child_pids()
    with pytest.raises(error) as caught:
        run(backend.pull("ai/gemma3", seen.append))
    assert [p.completed for p in seen] == [10_000_000, 20_000_000], "progress before the failure is reported"
    assert "ai/gemma3:latest" not in backend._present
    assert "gemma3" not in json.dumps(docker_double.models)
    if mode == "exit":
        assert "unexpected EOF" in str(caught.value)
    else:
        assert "signal 9" in caught.value.message
    assert processes.child_pids() == before


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
    [(429, "too many requests\n", OverloadedError), (503, "service unavailable\n", ModelRunnerNotEnabledError)],
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
