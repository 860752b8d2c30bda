"""A pull has no total (a multi-GB pull takes as long as it takes): against a loopback server in the
runner's layout streaming ``POST /models/create`` progress (NDJSON records as
``pkg/inference/models/handler.go`` writes them, the shapes ``dmr_proxy`` documents), a pull whose
progress keeps arriving outlives ``ULTRA_LLM_TIMEOUT``; one that goes silent fails after
``ULTRA_LLM_DOCKER_API_PULL_IDLE_TIMEOUT``, with docker-api's own idle error naming that setting. A
call's ``timeout=`` still sets a total."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from ultra_llm.errors import GenerationTimeoutError
from ultra_llm.testing.adapters import adapter_over
from ultra_llm.testing.scripted_server import ScriptedServer, SeenRequest, chunked, sse_head

STEP = 0.25


def progress(current: int) -> bytes:
    record = {"type": "progress", "total": 400, "layer": {"id": "a", "size": 400, "current": current}}
    return json.dumps(record).encode() + b"\n"


def pulling(steps: int, then_silent: bool = False) -> Callable[[SeenRequest, asyncio.StreamWriter], Any]:
    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        assert req.path == "/models/create"
        writer.write(sse_head("application/json"))
        for step in range(1, steps + 1):
            writer.write(chunked(progress(step * 100)))
            await writer.drain()
            await asyncio.sleep(STEP)
        if then_silent:
            await asyncio.sleep(30)
        writer.write(chunked(json.dumps({"type": "success", "message": "Model pulled successfully"}).encode() + b"\n"))
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    return handler


def pull(backend: Any, **call: Any) -> list[str]:
    seen: list[str] = []

    async def run() -> None:
        async with adapter_over(backend, "ai/tiny") as adapter:
            await adapter.pull("ai/tiny", lambda event: seen.append(event.message), **call)

    asyncio.run(run())
    return seen


def test_a_pull_whose_progress_keeps_arriving_outlives_the_generation_timeout(
    make_backend: Callable[..., Any],
) -> None:
    with ScriptedServer(pulling(4)) as server:
        started = time.monotonic()
        seen = pull(make_backend(server.url, timeout=0.5))
    assert time.monotonic() - started >= 4 * STEP > 0.5
    assert seen[-1] == "Model pulled successfully" and len(seen) == 5


def test_a_silent_pull_fails_on_the_pull_idle_setting(make_backend: Callable[..., Any]) -> None:
    with ScriptedServer(pulling(1, then_silent=True)) as server:
        started = time.monotonic()
        with pytest.raises(GenerationTimeoutError) as caught:
            pull(make_backend(server.url, timeout=60.0, pull_idle_timeout=0.6))
    assert time.monotonic() - started < 5
    assert caught.value.message == (
        "The pull stalled: nothing arrived for 0.6 s (ULTRA_LLM_DOCKER_API_PULL_IDLE_TIMEOUT)."
    )
    assert "ULTRA_LLM_DOCKER_API_PULL_IDLE_TIMEOUT" in (caught.value.fix or "")


def test_a_calls_timeout_sets_a_total_on_a_pull(make_backend: Callable[..., Any]) -> None:
    with ScriptedServer(pulling(20)) as server, pytest.raises(GenerationTimeoutError) as caught:
        pull(make_backend(server.url), timeout=0.6)
    assert caught.value.message == "Pulling on backend 'docker-api' took longer than 0.6 s."
