"""Several endpoints behind the docker-api backend: throughput with two engines against one (issue 7).

Two real engines (the tiny GGUF model under llama.cpp's ``llama-server``, ``-t 1 -tb 1 -np 1`` each,
on loopback) are started once. The load is CPU-bound: ``CONCURRENCY`` concurrent whole generations of
``MAX_TOKENS`` tokens each, ``REQUESTS`` in all, through one ``DockerAPIBackend``. The subject is
the backend with ``MODEL_RUNNER_URL`` naming both engines, the baseline the same backend naming
only the first; rounds interleave the two. Figures are requests per second (median of ``ROUNDS``);
the issue's limit is a ratio of at least 1.7x. Each engine needs a core of its own: on a 2-core
machine the client shares them, so the figure there is below what the spread can give.

Needs the pinned ``llama-server``
(``python plugins/ultra-llm-docker/ultra_llm_docker/testing/engine/build_llama_server.py``); the
case is skipped (empty) without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .runner import Measurement, case

if TYPE_CHECKING:
    from ultra_llm_docker.testing.engine.launcher import EngineProcess

MAX_TOKENS = 48
CONCURRENCY = 4
REQUESTS = 24
ROUNDS = 3
PROMPT = "Write a long story about benchmarks, engines and loopback networks. " * 25
"""Long enough that evaluating it dominates each request (each request's prompt starts differently,
so the engine cannot reuse a cached prefix)."""


@contextlib.contextmanager
def engines(count: int) -> Iterator[list[EngineProcess]]:
    """``count`` real engines (one thread each), all stopped on exit by their own handles."""
    from ultra_llm_docker.testing.engine.launcher import start_engine
    from ultra_llm_docker.testing.engine.tiny_model import write_tiny_model

    with tempfile.TemporaryDirectory(prefix="bench-endpoints-") as directory:
        model = write_tiny_model(f"{directory}/tiny.gguf")
        started: list[EngineProcess] = []
        try:
            for _ in range(count):
                # one thread for generation and prompt evaluation (start_engine's -t 1 -tb 1) and one
                # slot: each engine answers one request at a time, so a second engine is more capacity
                # (with llama-server's default 4 slots, one engine batches the 4 concurrent requests)
                started.append(start_engine(model, log_dir=directory, parallel=1))
            yield started
        finally:
            for process in started:
                process.stop()


async def _throughput(urls: list[str], model: str) -> tuple[float, dict[str, int]]:
    from ultra_llm_docker_api.backend import DockerAPIBackend
    from ultra_llm_docker_api.settings import DockerAPISettings

    from ultra_llm import load_config
    from ultra_llm._types import to_messages
    from ultra_llm.plugin import GenerationRequest

    settings = DockerAPISettings.load(url=",".join(urls), health_interval=0)
    backend = DockerAPIBackend(load_config(), settings=settings)
    options: dict[str, Any] = {"max_tokens": MAX_TOKENS, "temperature": 0}

    def request(index: int) -> GenerationRequest:
        return GenerationRequest(model, to_messages(f"{index}. {PROMPT}"), None, "docker-api", options)

    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(REQUESTS):
        queue.put_nowait(index)

    async def worker() -> None:
        while True:
            try:
                index = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await backend.generate(request(index))

    try:
        await backend.generate(request(-1))  # warm the pool and the engines' caches
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - start
        spread = {s["url"]: s["successes"] for s in backend.endpoint_states()}
    finally:
        await backend.aclose()
    return REQUESTS / elapsed, spread


@case("docker-api-endpoints")
def two_endpoints() -> list[Measurement]:
    from ultra_llm_docker.testing.engine.launcher import engine_missing

    if missing := engine_missing():
        print(f"docker-api-endpoints: skipped ({missing})")
        return []
    with engines(2) as (first, second):
        one: list[float] = []
        two: list[float] = []
        spread: dict[str, int] = {}
        for _ in range(ROUNDS):
            one.append(asyncio.run(_throughput([first.url], first.model))[0])
            rate, spread = asyncio.run(_throughput([first.url, second.url], first.model))
            two.append(rate)
    print(
        f"docker-api-endpoints: {os.cpu_count()} CPUs; requests/s one endpoint {[round(x, 2) for x in one]}, "
        f"two {[round(x, 2) for x in two]}; last spread {spread}"
    )
    return [
        Measurement(
            "docker-api-endpoints",
            f"2 endpoints, {CONCURRENCY} concurrent",
            statistics.median(two),
            "1 endpoint",
            statistics.median(one),
            unit="/s",
            limit=1.7,
            higher_is_better=True,
        )
    ]
