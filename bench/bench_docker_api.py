"""The docker-api backend against a real llama.cpp engine (issue 4's performance section).

One real engine (the tiny GGUF model under llama.cpp's ``llama-server``, as the tests run it) serves
every request; the client talks to its OpenAI layout (``/v1``) directly, so only client-side work is
in this process.

* ``docker-api-cpu-whole`` / ``docker-api-cpu-stream``: client user-space CPU time per
  request through ``DockerAPIBackend`` against raw httpx2 doing the same request (same body, same
  pooled client settings, response parsed to text) in the same run, rounds interleaved. Limit 1.2x.
  Through the full ``Adapter`` (option validation, deadline, the composed middleware chain) with no
  middleware on: limit 1.10x; with the metrics middleware on (``ULTRA_LLM_METRICS=1``): limit 1.15x.
* ``docker-api-256-streams``: 256 concurrent streams through one backend all complete with no
  error; the row shows the wall time, and the Python heap peak (tracemalloc) must stay under 64 MiB.

Needs the pinned ``llama-server``
(``python plugins/ultra-llm-docker/ultra_llm_docker/testing/engine/build_llama_server.py``); the
case is skipped (empty) without it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import resource
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .runner import Measurement, case

if TYPE_CHECKING:
    from ultra_llm_docker.testing.engine.launcher import EngineProcess

MAX_TOKENS = 16
ROUNDS = 15
PER_ROUND = 15
MESSAGES = [{"role": "user", "content": "hello world, tell me about benchmarks"}]


@contextmanager
def engine() -> Iterator[EngineProcess]:
    """A real engine for the duration of one case; always stopped."""
    from ultra_llm_docker.testing.engine.launcher import start_engine
    from ultra_llm_docker.testing.engine.tiny_model import write_tiny_model

    with tempfile.TemporaryDirectory(prefix="bench-docker-api-") as directory:
        process = start_engine(write_tiny_model(f"{directory}/tiny.gguf"), log_dir=directory, embedding=True)
        try:
            yield process
        finally:
            process.stop()


def _cpu_per_request(func: Callable[[], Awaitable[object]], loop: asyncio.AbstractEventLoop, count: int) -> float:
    """User-space CPU milliseconds per request: the client's own work. The kernel's share (the same
    socket calls for every subject) is left out: on 2 cores shared with the engine it is most of the
    noise between rounds."""
    start = resource.getrusage(resource.RUSAGE_SELF).ru_utime
    for _ in range(count):
        loop.run_until_complete(func())
    return (resource.getrusage(resource.RUSAGE_SELF).ru_utime - start) * 1000 / count


def _missing() -> str | None:
    """Why the real engine cannot run (not built), or ``None``."""
    from ultra_llm_docker.testing.engine.launcher import engine_missing

    return engine_missing()


def _openai_subjects(url: str) -> tuple[dict[str, Callable[[], Awaitable[object]]], Callable[[], Awaitable[None]]]:
    """The same two requests through the OpenAI SDK, when it is installed (a comparison, not a limit).

    LiteLLM is not measured: importing it takes seconds and fetches a model price list from the
    internet, which a benchmark here must not do.
    """
    if importlib.util.find_spec("openai") is None:
        return {}, _nothing
    import openai

    # One retry: llama-server closes the connection after each stream, and a request sent on the
    # dead pooled connection fails before any response byte (see raw_stream).
    client = openai.AsyncOpenAI(base_url=url, api_key="not-needed", max_retries=1)
    messages: Any = MESSAGES  # the SDK's TypedDict message types; the same plain dicts go on the wire

    async def openai_whole() -> str:
        response = await client.chat.completions.create(
            model="ai/tiny",
            messages=messages,
            temperature=0,
            max_tokens=MAX_TOKENS,
        )
        return response.choices[0].message.content or ""

    async def openai_stream() -> str:
        stream = await client.chat.completions.create(
            model="ai/tiny",
            messages=messages,
            temperature=0,
            max_tokens=MAX_TOKENS,
            stream=True,
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    return {"openai-whole": openai_whole, "openai-stream": openai_stream}, client.close


async def _nothing() -> None:
    return None


@case("docker-api-cpu")
def client_cpu() -> list[Measurement]:
    if missing := _missing():
        print(f"docker-api-cpu: skipped ({missing})")
        return []
    import httpx2
    from ultra_llm_docker_api.backend import DockerAPIBackend
    from ultra_llm_docker_api.options import DockerAPIOptions
    from ultra_llm_docker_api.settings import DockerAPISettings

    from ultra_llm import Adapter
    from ultra_llm.config import load_config
    from ultra_llm.host import PluginHost
    from ultra_llm.selection import Selection
    from ultra_llm.types import GenerationRequest, to_messages

    with engine() as process:
        config = load_config()
        backend = DockerAPIBackend(config, settings=DockerAPISettings.load(url=process.url, stream_usage=False))
        adapter_backend = DockerAPIBackend(config, settings=DockerAPISettings.load(url=process.url, stream_usage=False))
        adapter = Adapter(
            PluginHost(entry_points=lambda: []),
            adapter_backend,
            model="ai/tiny",
            config=config,
            selection=Selection("docker-api", "bench", "docker-api"),
        )
        metered = _metered_adapter(config, process.url)
        options = DockerAPIOptions(temperature=0, max_tokens=MAX_TOKENS)
        request = GenerationRequest(
            "ai/tiny",
            to_messages(MESSAGES[0]["content"]),
            options,
            "docker-api",
            options.model_dump(exclude_none=True),
        )
        raw = httpx2.AsyncClient(
            transport=httpx2.AsyncHTTPTransport(
                limits=httpx2.Limits(max_connections=100, max_keepalive_connections=32)
            ),
            timeout=httpx2.Timeout(connect=5.0, read=None, write=30.0, pool=120.0),
        )
        url = f"{process.url}/chat/completions"
        whole_body = {"model": "ai/tiny", "messages": MESSAGES, "temperature": 0, "max_tokens": MAX_TOKENS}
        stream_body = {**whole_body, "stream": True}

        async def raw_whole() -> str:
            response = await raw.post(url, json=whole_body)
            response.raise_for_status()
            return str(response.json()["choices"][0]["message"]["content"])

        async def raw_stream() -> str:
            # llama-server closes the connection after every streamed answer although it says
            # keep-alive; a request sent on that dead pooled connection fails before any response
            # byte and is sent again at once (what a correct minimal client does).
            try:
                return await raw_stream_once()
            except httpx2.RemoteProtocolError:
                return await raw_stream_once()

        async def raw_stream_once() -> str:
            parts: list[str] = []
            async with raw.stream("POST", url, json=stream_body) as response:
                response.raise_for_status()
                async for line in response.aiter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        for choice in json.loads(line[6:])["choices"]:
                            parts.append(choice["delta"].get("content") or "")
            return "".join(parts)

        async def backend_whole() -> str:
            return (await backend.generate(request)).text

        async def backend_stream() -> str:
            return "".join([chunk.text async for chunk in backend.stream(request)])

        adapter_whole, adapter_stream = _adapter_calls(adapter)
        metered_whole, metered_stream = _adapter_calls(metered)

        loop = asyncio.new_event_loop()
        openai_subjects, close_openai = _openai_subjects(process.url)
        try:
            subjects: dict[str, Callable[[], Awaitable[object]]] = {
                "raw-whole": raw_whole,
                "backend-whole": backend_whole,
                "adapter-whole": adapter_whole,
                "metered-whole": metered_whole,
                "raw-stream": raw_stream,
                "backend-stream": backend_stream,
                "adapter-stream": adapter_stream,
                "metered-stream": metered_stream,
                **openai_subjects,
            }
            for func in subjects.values():  # warm pools, caches, lazy imports
                _cpu_per_request(func, loop, 3)
            samples: dict[str, list[float]] = {name: [] for name in subjects}
            for _ in range(ROUNDS):
                for name, func in subjects.items():
                    samples[name].append(_cpu_per_request(func, loop, PER_ROUND))
            loop.run_until_complete(backend.aclose())
            loop.run_until_complete(adapter.aclose())
            loop.run_until_complete(metered.aclose())
            loop.run_until_complete(raw.aclose())
            loop.run_until_complete(close_openai())
        finally:
            loop.close()
    med = {name: statistics.median(values) for name, values in samples.items()}
    reported = [
        Measurement(
            f"docker-api-cpu-{kind}",
            "OpenAI SDK (for comparison)",
            med[f"openai-{kind}"],
            "raw httpx2",
            med[f"raw-{kind}"],
        )
        for kind in ("whole", "stream")
        if f"openai-{kind}" in med
    ]
    if not reported:
        print("docker-api-cpu: the OpenAI SDK is not installed, so it is not reported beside (pip install openai)")
    return [
        *reported,
        Measurement(
            "docker-api-cpu-whole",
            "backend generate (CPU/request)",
            med["backend-whole"],
            "raw httpx2",
            med["raw-whole"],
            limit=1.2,
        ),
        Measurement(
            "docker-api-cpu-stream",
            "backend stream (CPU/request)",
            med["backend-stream"],
            "raw httpx2",
            med["raw-stream"],
            limit=1.2,
        ),
        *[
            Measurement(
                f"docker-api-cpu-{kind}",
                f"via Adapter, {label}",
                med[f"{subject}-{kind}"],
                "raw httpx2",
                med[f"raw-{kind}"],
                limit=limit,
            )
            for kind in ("whole", "stream")
            for subject, label, limit in (("adapter", "no middleware", 1.10), ("metered", "metrics middleware", 1.15))
        ],
    ]


def _adapter_calls(adapter: Any) -> tuple[Callable[[], Awaitable[str]], Callable[[], Awaitable[str]]]:
    """The bench's request through ``adapter``: whole, and streamed (its text joined)."""
    prompt = MESSAGES[0]["content"]

    async def whole() -> str:
        return str(await adapter.generate(prompt, temperature=0, max_tokens=MAX_TOKENS))

    async def stream() -> str:
        return "".join([t async for t in adapter.stream_generate(prompt, temperature=0, max_tokens=MAX_TOKENS)])

    return whole, stream


def _metered_adapter(config: Any, url: str) -> Any:
    """An adapter whose chain has the installed metrics plugin's middleware (made with it on)."""
    import os

    from ultra_llm_docker_api.backend import DockerAPIBackend
    from ultra_llm_docker_api.settings import DockerAPISettings

    from ultra_llm import Adapter
    from ultra_llm.host import PluginHost
    from ultra_llm.selection import Selection

    backend = DockerAPIBackend(config, settings=DockerAPISettings.load(url=url, stream_usage=False))
    host = PluginHost(environ={"ULTRA_LLM_LOAD_PLUGINS": "metrics"})
    saved = os.environ.get("ULTRA_LLM_METRICS")
    os.environ["ULTRA_LLM_METRICS"] = "1"
    try:
        adapter = Adapter(host, backend, model="ai/tiny", config=config, selection=Selection("docker-api", "bench", ""))
    finally:
        if saved is None:
            del os.environ["ULTRA_LLM_METRICS"]
        else:
            os.environ["ULTRA_LLM_METRICS"] = saved
    if [layer.plugin for layer in adapter.chain.layers] != ["metrics"]:
        raise AssertionError(f"expected the metrics middleware alone, got {adapter.chain.layers!r}")
    return adapter


@case("docker-api-256-streams")
def concurrent_streams() -> list[Measurement]:
    if missing := _missing():
        print(f"docker-api-256-streams: skipped ({missing})")
        return []
    from ultra_llm_docker_api.backend import DockerAPIBackend
    from ultra_llm_docker_api.options import DockerAPIOptions
    from ultra_llm_docker_api.settings import DockerAPISettings

    from ultra_llm.config import load_config
    from ultra_llm.types import GenerationRequest, to_messages

    with engine() as process:
        backend = DockerAPIBackend(load_config(), settings=DockerAPISettings.load(url=process.url))
        options = DockerAPIOptions(temperature=0, max_tokens=8)

        async def one(index: int) -> str:
            request = GenerationRequest(
                "ai/tiny",
                to_messages(f"stream number {index}"),
                options,
                "docker-api",
                options.model_dump(exclude_none=True),
            )
            chunks = [chunk async for chunk in backend.stream(request)]
            # llama-server sends the usage in a chunk after the one with the finish reason
            if not any(chunk.finish_reason for chunk in chunks):
                raise AssertionError(f"stream {index} ended without a finish reason")
            return "".join(c.text for c in chunks)

        async def all_streams() -> list[Any]:
            try:
                return await asyncio.gather(*(one(i) for i in range(256)), return_exceptions=True)
            finally:
                await backend.aclose()

        tracemalloc.start()
        started = time.perf_counter()
        results = asyncio.run(all_streams())
        wall = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    errors = [r for r in results if isinstance(r, BaseException)]
    print(
        f"docker-api-256-streams: {len(results) - len(errors)}/256 complete, {len(errors)} errors, "
        f"{wall:.1f} s wall, Python heap peak {peak / 1024 / 1024:.1f} MiB"
    )
    for error in errors[:3]:
        print(f"  error: {type(error).__name__}: {error}")
    limit_mib = 64.0
    return [
        Measurement(
            "docker-api-256-streams",
            "errors (must be 0)",
            float(len(errors)),
            "streams",
            256.0,
            unit="count",
            limit=0.0,
        ),
        Measurement(
            "docker-api-256-streams", "heap peak MiB", peak / 1024 / 1024, "limit MiB", limit_mib, unit="MiB", limit=1.0
        ),
    ]
