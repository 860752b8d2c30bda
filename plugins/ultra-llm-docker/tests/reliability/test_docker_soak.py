"""Soak and leak tests of the Docker backends: many whole and streamed calls per backend, with early
closes, cancellations and timeouts mixed in; afterwards no new child process, no zombie, descriptors
and memory flat. The mix and the checks are the kernel suite's (tests/reliability/test_soak.py in the
repository, on the mock); the snapshots come from the ``processes`` fixture.

Bounded by default (a few seconds per backend). The long run is one command:

    ULTRA_LLM_SOAK_CALLS=5000 python -m pytest -m soak plugins/ultra-llm-docker/tests/reliability/test_docker_soak.py -s

``ULTRA_LLM_SOAK_CALLS`` is the number of calls for the API backend; the docker-cli backend (one
process per call) runs a tenth of it, at least 100. Tolerances: descriptors exactly flat between the
half-way point and the end (+2 for lazily opened ones); RSS growth over the second half at most 16 MiB.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from ultra_llm_docker.testing.double.fixtures import DockerDouble

from ultra_llm import create_adapter
from ultra_llm.adapter import Adapter
from ultra_llm.errors import GenerationTimeoutError, UltraLLMError
from ultra_llm.host import PluginHost
from ultra_llm.testing.scripted_server import ScriptedServer, SeenRequest, chunked, send_json, sse_head
from ultra_llm.testing.waiting import until

pytestmark = pytest.mark.soak

CALLS = int(os.environ.get("ULTRA_LLM_SOAK_CALLS", "600"))
FD_SLACK = 2
RSS_SLACK = 16 * 1024 * 1024
HEAP_SLACK = 2 * 1024 * 1024


async def one_call(adapter: Adapter, index: int, *, timeout_model: str | None, slow: Adapter | None) -> str:
    """Call ``index`` of the mix: whole, streamed, closed early, cancelled, or (on ``slow``) timed out."""
    try:
        return await _one_call(adapter, index, timeout_model=timeout_model, slow=slow)
    except GenerationTimeoutError:
        return "timeout"


async def _one_call(adapter: Adapter, index: int, *, timeout_model: str | None, slow: Adapter | None) -> str:
    kind = index % 5
    prompt = f"soak call {index} alpha beta gamma"
    if kind == 0:
        await adapter.generate(prompt)
    elif kind == 1:
        async with contextlib.aclosing(adapter.stream_generate(prompt)) as texts:
            async for _ in texts:
                pass
    elif kind == 2:
        async with contextlib.aclosing(adapter.stream_generate(prompt)) as texts:
            async for _ in texts:
                break
    elif kind == 3:
        task = asyncio.ensure_future(adapter.generate(prompt))
        await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            assert task.cancelled()
        except GenerationTimeoutError:
            pass  # a deadline shorter than the first step (the timeout soaks) fired before the cancel
    else:
        try:
            await (slow or adapter).generate(prompt, **({"model": timeout_model} if timeout_model else {}))
        except GenerationTimeoutError:
            return "timeout"
        except UltraLLMError:
            return "error"
    return "ok"


async def soak(
    adapter: Adapter, calls: int, *, timeout_model: str | None = None, slow: Adapter | None = None
) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    for index in range(calls):
        outcome = await one_call(adapter, index, timeout_model=timeout_model, slow=slow)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def measured(
    make: Callable[[], Awaitable[Adapter]],
    calls: int,
    *,
    snapshot: Callable[[], Any],
    heap: bool = False,
    timeout_model: str | None = None,
    make_slow: Callable[[], Awaitable[Adapter]] | None = None,
    settle: Callable[[], None] = lambda: None,
) -> tuple[Any, Any, Any, dict[str, int], int]:
    """Warm up, then two halves; snapshots before, half-way and after; outcomes; heap growth (bytes).

    ``settle`` runs before each snapshot: an in-process test server waits there until its own
    handlers have finished, so their sockets are not counted as the client's."""

    async def run(count: int) -> dict[str, int]:
        adapter = await make()
        slow = await make_slow() if make_slow is not None else None
        try:
            return await soak(adapter, count, timeout_model=timeout_model, slow=slow)
        finally:
            await adapter.aclose()
            if slow is not None:
                await slow.aclose()

    asyncio.run(run(10))
    settle()
    gc.collect()
    before = snapshot()
    outcomes = asyncio.run(run(calls // 2))
    settle()
    gc.collect()
    middle = snapshot()
    if heap:
        tracemalloc.start()
    heap_start = tracemalloc.get_traced_memory()[0] if heap else 0
    more = asyncio.run(run(calls - calls // 2))
    gc.collect()
    heap_growth = tracemalloc.get_traced_memory()[0] - heap_start if heap else 0
    if heap:
        tracemalloc.stop()
    settle()
    after = snapshot()
    for key, value in more.items():
        outcomes[key] = outcomes.get(key, 0) + value
    return before, middle, after, outcomes, heap_growth


def check(name: str, before: Any, middle: Any, after: Any, heap: int) -> None:
    print(
        f"\n[soak {name}] children {len(before.children)}->{len(after.children)}, zombies {len(after.zombies)}, "
        f"fds {before.fds}->{middle.fds}->{after.fds}, rss {before.rss / 2**20:.1f}->{middle.rss / 2**20:.1f}"
        f"->{after.rss / 2**20:.1f} MiB, heap growth {heap / 1024:.0f} KiB"
    )
    assert set(after.children) <= set(before.children), "a child process outlived the calls"
    assert after.zombies == (), "an exited child was never reaped"
    assert after.fds <= middle.fds + FD_SLACK
    assert after.rss - middle.rss <= RSS_SLACK
    assert heap <= HEAP_SLACK


def test_soak_docker_cli(docker_double: DockerDouble, processes: Any) -> None:
    calls = max(100, CALLS // 10)
    host = PluginHost()

    async def make() -> Adapter:
        return await create_adapter("smollm2", host=host, backend="docker-cli")

    async def make_slow() -> Adapter:
        return await create_adapter("smollm2", host=host, backend="docker-cli", first_token_timeout=0.001)

    before, middle, after, outcomes, heap = measured(make, calls, snapshot=processes.snapshot, make_slow=make_slow)
    check("docker-cli", before, middle, after, heap)
    assert outcomes.get("timeout", 0) == sum(1 for i in range(calls) if i % 5 == 4), outcomes
    assert outcomes.get("ok", 0) == calls - outcomes["timeout"], outcomes


def test_soak_docker_api(processes: Any) -> None:
    pytest.importorskip("httpx2")
    answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}

    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        if req.method == "GET":
            await send_json(writer, 200, [])
        elif req.headers.get("accept") == "text/event-stream":
            event = b'data: {"choices": [{"delta": {"content": "ok "}, "finish_reason": null}]}\n\n'
            writer.write(sse_head() + chunked(event) + chunked(event) + chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n")
            await writer.drain()
        elif b"slow-model" in req.body:
            await asyncio.sleep(1.0)
        else:
            await send_json(writer, 200, answer)

    host = PluginHost()
    with ScriptedServer(handler) as server, pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODEL_RUNNER_URL", server.url)
        patch.setenv("ULTRA_LLM_DOCKER_API_RETRIES", "1")

        async def make() -> Adapter:  # the default deadlines: a loaded machine times out none of these
            return await create_adapter("ai/tiny", host=host, backend="docker-api")

        async def make_slow() -> Adapter:  # the adapter owns the deadline; the slow model outlasts it
            return await create_adapter("ai/tiny", host=host, backend="docker-api", timeout=0.05)

        def settle() -> None:  # the slow handler sleeps on after its client timed out
            assert until(lambda: server.open_connections == 0), "the scripted server's handlers never finished"

        before, middle, after, outcomes, heap = measured(
            make, CALLS, snapshot=processes.snapshot, timeout_model="ai/slow-model", make_slow=make_slow, settle=settle
        )
    check("docker-api", before, middle, after, heap)
    assert outcomes.get("timeout", 0) == sum(1 for i in range(CALLS) if i % 5 == 4), outcomes
