"""End to end: the docker-api backend through the runner proxy to real llama.cpp, and directly at /v1."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest
from ultra_llm_docker.testing.engine.fixtures import DMRRunner, RealEngine, require_engine
from ultra_llm_docker.testing.engine.launcher import EngineProcess, start_engine
from ultra_llm_docker.testing.engine.tiny_model import write_tiny_model

from ultra_llm._types import Chunk, EmbeddingRequest, GenerationRequest, Progress, to_messages
from ultra_llm.errors import ContextLengthExceededError, ModelNotFoundError, UnsupportedOperationError
from ultra_llm.testing.conformance import BackendConformance

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def req(backend: Any, prompt: str = "hello world", model: str = "tiny", **options: Any) -> GenerationRequest:
    from ultra_llm._options import validate_options

    instance, as_dict = validate_options(type(backend), options)
    return GenerationRequest(backend.canonical_model(model), to_messages(prompt), instance, backend.name, as_dict)


def finish_reasons(chunks: list[Chunk]) -> list[str]:
    """Every finish reason a stream gave. llama-server sends it in one chunk and the usage in a later
    one (empty ``choices``), so the last ``Chunk`` need not carry it."""
    return [c.finish_reason for c in chunks if c.finish_reason]


def test_models_whole_stream_options(dmr_runner: DMRRunner, make_backend: Callable[..., Any]) -> None:
    backend = make_backend(dmr_runner.url)

    async def case() -> tuple[Any, ...]:
        try:
            available = await backend.check_availability()
            models = await backend.list_models()
            first = await backend.generate(req(backend, temperature=0, max_tokens=8))
            second = await backend.generate(req(backend, temperature=0, max_tokens=8))
            chunks = [c async for c in backend.stream(req(backend, temperature=0, max_tokens=8))]
            return available, models, first, second, chunks
        finally:
            await backend.aclose()

    available, models, first, second, chunks = run(case())
    assert available.available and "running" in available.detail
    tiny = next(m for m in models if m.name == "ai/tiny:latest")
    assert tiny.display_name == "tiny" and tiny.details["format"] == "gguf"
    assert first.text == second.text, "temperature 0 must be deterministic"
    assert first.model == "ai/tiny:latest" and first.backend == "docker-api"
    assert first.usage is not None and first.usage.completion_tokens == 8
    assert first.finish_reason == "length"
    assert all(isinstance(c, Chunk) for c in chunks)
    assert finish_reasons(chunks) == ["length"]
    assert [c.usage.completion_tokens for c in chunks if c.usage] == [8]
    streamed = "".join(c.text for c in chunks)
    assert streamed == first.text  # the tiny model's answers are valid UTF-8: no byte is held back


def test_embeddings_pull_remove(dmr_runner: DMRRunner, make_backend: Callable[..., Any]) -> None:
    backend = make_backend(dmr_runner.url)
    updates: list[Progress] = []

    async def case() -> tuple[Any, list[str], list[str]]:
        try:
            vectors = await backend.embed(EmbeddingRequest("ai/tiny:latest", ("hello", "world", "hello"), "docker-api"))
            await backend.pull("ai/smollm2:latest", updates.append)
            after_pull = [m.name for m in await backend.list_models()]
            await backend.remove("ai/smollm2:latest")
            after_remove = [m.name for m in await backend.list_models()]
            return vectors, after_pull, after_remove
        finally:
            await backend.aclose()

    result, after_pull, after_remove = run(case())
    assert len(result.vectors) == 3 and len(result.vectors[0]) == 64
    # The same text embeds the same (up to float noise of batched evaluation); a different one does not.
    assert result.vectors[0] == pytest.approx(result.vectors[2], rel=1e-4, abs=1e-5)
    assert result.vectors[0] != pytest.approx(result.vectors[1], rel=1e-2)
    assert result.usage is not None and result.usage.prompt_tokens
    assert "ai/smollm2:latest" in after_pull and "ai/smollm2:latest" not in after_remove
    assert updates[-1].status == "success"
    progress = [u for u in updates if u.status == "progress"]
    assert progress and all(u.total == progress[0].total for u in progress)
    completed = [u.completed or 0 for u in progress]
    assert completed == sorted(completed) and completed[-1] == progress[0].total


def test_typed_failures_from_the_real_stack(dmr_runner: DMRRunner, make_backend: Callable[..., Any]) -> None:
    backend = make_backend(dmr_runner.url)

    async def case() -> list[Exception]:
        errors: list[Exception] = []
        for call in (
            lambda: backend.generate(req(backend, model="ai/not-pulled")),
            lambda: backend.generate(req(backend, prompt="hello world " * 1500, max_tokens=4)),
            lambda: backend.pull("ai/broken"),
            lambda: backend.pull("ai/nowhere-to-be-found"),
            lambda: backend.remove("ai/never-was"),
        ):
            try:
                await call()
            except Exception as exc:  # collected and checked below
                errors.append(exc)
        await backend.aclose()
        return errors

    missing, context, broken, unknown, never = run(case())
    assert isinstance(missing, ModelNotFoundError) and "`docker model pull ai/not-pulled:latest`" in missing.fix
    assert isinstance(context, ContextLengthExceededError)
    assert context.available == 2048 and context.requested is not None and context.requested > 2048
    assert type(broken).__name__ == "GenerationError" and "unexpected EOF" in str(broken)
    assert isinstance(unknown, ModelNotFoundError) and "registry" in unknown.message
    assert isinstance(never, ModelNotFoundError)


def test_retry_through_the_proxy_then_real_answer(dmr_runner: DMRRunner, make_backend: Callable[..., Any]) -> None:
    dmr_runner.proxy.inject(503, "service unavailable", times=2)
    backend = make_backend(dmr_runner.url)

    async def case() -> list[Chunk]:
        try:
            return [c async for c in backend.stream(req(backend, temperature=0, max_tokens=4))]
        finally:
            await backend.aclose()

    before = len(dmr_runner.proxy.requests)
    chunks = run(case())
    assert finish_reasons(chunks) == ["length"]
    assert len(dmr_runner.proxy.requests) - before == 3


def test_openai_layout_directly_against_the_engine(real_engine: RealEngine, make_backend: Callable[..., Any]) -> None:
    backend = make_backend(real_engine.url)  # http://127.0.0.1:PORT/v1

    async def case() -> tuple[Any, ...]:
        try:
            models = await backend.list_models()
            whole = await backend.generate(req(backend, model="ai/tiny", temperature=0, max_tokens=6, seed=1))
            chunks = [c async for c in backend.stream(req(backend, model="ai/tiny", temperature=0, max_tokens=6))]
            vectors = await backend.embed(EmbeddingRequest("ai/tiny", ("x",), "docker-api"))
            with pytest.raises(UnsupportedOperationError):
                await backend.pull("ai/tiny")
            return models, whole, chunks, vectors
        finally:
            await backend.aclose()

    assert not backend.endpoint.runner_layout
    models, whole, chunks, vectors = run(case())
    assert [m.name for m in models] == ["ai/tiny"]  # names pass unchanged outside the runner
    assert whole.usage.completion_tokens == 6
    assert "".join(c.text for c in chunks) == whole.text
    assert len(vectors.vectors[0]) == 64


def test_engine_selected_by_path(dmr_runner: DMRRunner, make_backend: Callable[..., Any]) -> None:
    backend = make_backend(dmr_runner.url, engine="llama.cpp")
    result = run(_generate_and_close(backend, req(backend, temperature=0, max_tokens=3)))
    assert result.usage.completion_tokens == 3
    assert ("POST", "/engines/llama.cpp/v1/chat/completions") in dmr_runner.proxy.requests


async def _generate_and_close(backend: Any, request: GenerationRequest) -> Any:
    try:
        return await backend.generate(request)
    finally:
        await backend.aclose()


def test_through_create_adapter_with_ultras_variables(dmr_runner: DMRRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    from ultra_llm import create_adapter

    monkeypatch.setenv("USE_MODEL_RUNNER", "true")
    monkeypatch.setenv("MODEL_RUNNER_TYPE", "api")
    monkeypatch.setenv("MODEL_RUNNER_URL", dmr_runner.url)
    monkeypatch.setenv("ULTRA_LLM_FALLBACK", "none")

    async def case() -> tuple[Any, ...]:
        adapter = await create_adapter("tiny")
        async with adapter:
            names = await adapter.get_available_models()
            text = await adapter.generate("hello world", temperature=0, max_tokens=8)
            pieces = [p async for p in adapter.stream_generate("hello world", temperature=0, max_tokens=8)]
            embedded = await adapter.embed(["a", "b"])
            return adapter.name, adapter.model, names, text, pieces, embedded

    name, model, names, text, pieces, embedded = run(case())
    assert (name, model) == ("docker-api", "ai/tiny:latest")
    assert "ai/tiny:latest" in names
    assert text and "".join(pieces) == text
    assert "" not in pieces  # the seed's stream_generate gives text only
    assert len(embedded.vectors) == 2


def _cli(args: list[str], runner: DMRRunner) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ULTRA_LLM_", "MODEL_RUNNER_", "USE_MODEL"))}
    env.update(USE_MODEL_RUNNER="true", MODEL_RUNNER_TYPE="api", MODEL_RUNNER_URL=runner.url, ULTRA_LLM_FALLBACK="none")
    return subprocess.run(
        [sys.executable, "-c", "from ultra_llm._cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_cli_models_generate_stream_pull(dmr_runner: DMRRunner) -> None:
    models = _cli(["models"], dmr_runner)
    assert models.returncode == 0, models.stderr
    assert "tiny" in models.stdout
    whole = _cli(["generate", "-m", "tiny", "-o", "temperature=0", "-o", "max_tokens=8", "hello world"], dmr_runner)
    assert whole.returncode == 0, whole.stderr
    streamed = _cli(
        ["generate", "--stream", "-m", "tiny", "-o", "temperature=0", "-o", "max_tokens=8", "hello world"], dmr_runner
    )
    assert streamed.returncode == 0, streamed.stderr
    assert streamed.stdout.strip() == whole.stdout.strip()
    pulled = _cli(["pull", "ai/smollm2"], dmr_runner)
    assert pulled.returncode == 0, pulled.stderr
    removed = _cli(["rm", "ai/smollm2"], dmr_runner)
    assert removed.returncode == 0, removed.stderr
    missing = _cli(["generate", "-m", "ai/absent", "hi"], dmr_runner)
    assert missing.returncode != 0
    lines = [line for line in missing.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "docker model pull ai/absent" in lines[0], missing.stderr
    embedded = _cli(["embed", "-m", "tiny", "hello"], dmr_runner)
    assert embedded.returncode == 0, embedded.stderr
    assert json.loads(embedded.stdout)


class TestConformanceThroughTheRunner(BackendConformance):
    """The core's conformance suite, against real llama.cpp behind the runner proxy."""

    backend: ClassVar[str] = "docker-api"
    model: ClassVar[str] = "ai/tiny"
    prompt: ClassVar[str] = "hello world"
    options: ClassVar[dict[str, Any]] = {"temperature": 0, "max_tokens": 8}
    # temperature 0, and the tiny model's answers are valid UTF-8, so streamed text equals whole text
    deterministic: ClassVar[bool] = True
    # The grammar closes a string only when it is bounded
    # (plugins/ultra-llm-docker/tests/engine/test_request_features_engine.py).
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"greeting": {"type": "string", "maxLength": 12}},
        "required": ["greeting"],
    }
    feature_options: ClassVar[dict[str, Any]] = {"max_tokens": 400}
    unchecked_features: ClassVar[Mapping[str, str]] = {
        "tools": "random weights never write the template's call marker, so tool_choice=required alone makes "
        "no call (plugins/ultra-llm-docker/tests/engine/test_request_features_engine.py shows why, and calls "
        "once the marker is prefilled)",
        "images": "the test model has no multimodal projector: llama-server refuses images, and that typed "
        "refusal is tested in plugins/ultra-llm-docker/tests/engine/test_request_features_engine.py",
    }

    @pytest.fixture
    def backend_settings(self, dmr_runner: DMRRunner) -> dict[str, Any] | None:
        return {"url": dmr_runner.url}


class TestConformanceDirectlyAtTheEngine(TestConformanceThroughTheRunner):
    """The same checks against plain ``llama-server`` in the OpenAI layout (``/v1``), as a user points
    the backend at a llama.cpp server of their own (no Docker Model Runner in front)."""

    @pytest.fixture
    def backend_settings(self, real_engine: RealEngine) -> dict[str, Any] | None:
        return {"url": real_engine.url}


@pytest.fixture(scope="module")
def chat_only_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    """A second llama-server started without ``--embeddings``: it answers ``/v1/embeddings`` with
    ``501 {"error": {"type": "not_supported_error", ...}}`` (tools/server/server-context.cpp)."""
    require_engine()
    directory = tmp_path_factory.mktemp("chat-only-engine")
    engine = start_engine(write_tiny_model(directory / "tiny.gguf"), log_dir=directory, embedding=False)
    try:
        yield engine
    finally:
        engine.stop()


def test_embeddings_on_a_chat_only_server_show_the_engine_shape(chat_only_engine: EngineProcess) -> None:
    import httpx2

    response = httpx2.post(f"{chat_only_engine.url}/embeddings", json={"model": "ai/tiny", "input": "x"}, timeout=30)
    error = response.json()["error"]
    assert (response.status_code, error["code"], error["type"]) == (501, 501, "not_supported_error")
    assert "--embeddings" in error["message"]


def test_embeddings_on_a_chat_only_server_are_unsupported(
    chat_only_engine: EngineProcess, make_backend: Callable[..., Any]
) -> None:
    backend = make_backend(chat_only_engine.url)

    async def case() -> None:
        try:
            await backend.embed(EmbeddingRequest("ai/tiny", ("x",), "docker-api"))
        finally:
            await backend.aclose()

    with pytest.raises(UnsupportedOperationError) as caught:
        run(case())
    assert "Start it with `--embeddings`" in str(caught.value).splitlines()[0]
