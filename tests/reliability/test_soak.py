"""Soak and leak tests of the kernel on the mock: many whole and streamed calls, with early closes,
cancellations and timeouts mixed in; afterwards no new child process, no zombie, descriptors and
memory flat. (A plugin's backends are soaked the same way in its own suite.)

Bounded by default (a few seconds). The long run is one command:

    ULTRA_LLM_SOAK_CALLS=5000 python -m pytest -m soak tests/reliability/test_soak.py -s

``ULTRA_LLM_SOAK_CALLS`` is the number of calls on the mock (its timeouts run makes a twentieth of
it, at least 50). Tolerances: descriptors exactly flat between the half-way point and the end (+2 for
lazily opened ones); RSS growth over the second half at most 16 MiB; Python heap (tracemalloc) growth
at most 2 MiB.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import tracemalloc
from collections.abc import Awaitable, Callable

import pytest

from tests.reliability.reliability_support import ProcessSnapshot, snapshot
from ultra_llm import create_adapter
from ultra_llm.adapter import Adapter
from ultra_llm.errors import GenerationTimeoutError, UltraLLMError
from ultra_llm.host import PluginHost

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
    heap: bool = False,
    timeout_model: str | None = None,
    make_slow: Callable[[], Awaitable[Adapter]] | None = None,
    settle: Callable[[], None] = lambda: None,
) -> tuple[ProcessSnapshot, ProcessSnapshot, ProcessSnapshot, dict[str, int], int]:
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


def check(name: str, before: ProcessSnapshot, middle: ProcessSnapshot, after: ProcessSnapshot, heap: int) -> None:
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


def test_soak_mock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_LATENCY", "0")
    host = PluginHost()
    before, middle, after, outcomes, heap = measured(
        lambda: create_adapter("mock/echo", host=host, backend="mock"), CALLS, heap=True
    )
    check("mock", before, middle, after, heap)
    assert outcomes.get("ok", 0) >= CALLS * 0.8


def test_soak_mock_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_FAULT", "hang")
    host = PluginHost()
    calls = max(50, CALLS // 20)

    async def make() -> Adapter:
        return await create_adapter("mock/echo", host=host, backend="mock", timeout=0.01)

    before, middle, after, outcomes, heap = measured(make, calls)
    check("mock-timeouts", before, middle, after, heap)
    cancelled = sum(1 for i in range(calls) if i % 5 in (3,))
    assert outcomes.get("timeout", 0) == calls - cancelled, outcomes
