"""IdleWatch: one timer per body; a wait is cut only when it itself lasts the idle limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from ultra_llm_docker_api.idle_watch import IdleWatch


async def ticking(delays: list[float]) -> AsyncIterator[int]:
    for index, delay in enumerate(delays):
        await asyncio.sleep(delay)
        yield index


def test_items_within_the_limit_pass_however_long_the_whole_takes() -> None:
    async def run() -> list[int]:
        watch = IdleWatch(0.2)
        stream = ticking([0.1] * 6)  # 0.6 s in all, never 0.2 s between two
        try:
            return [await watch.read(stream) for _ in range(6)]
        finally:
            watch.close()

    assert asyncio.run(run()) == list(range(6))


def test_a_slow_consumer_is_not_a_stall() -> None:
    async def run() -> list[int]:
        watch = IdleWatch(0.2)
        stream = ticking([0, 0])
        first = await watch.read(stream)
        await asyncio.sleep(0.4)  # busy elsewhere past the limit: only a wait counts
        second = await watch.read(stream)
        watch.close()
        return [first, second]

    assert asyncio.run(run()) == [0, 1]


def test_a_stall_raises_timeout_in_the_limit_and_leaves_the_task_usable() -> None:
    async def run() -> tuple[float, bool]:
        watch = IdleWatch(0.2)
        stream = ticking([0, 10])
        await watch.read(stream)
        started = time.perf_counter()
        with pytest.raises(TimeoutError):
            await watch.read(stream)
        elapsed = time.perf_counter() - started
        await asyncio.sleep(0)
        task = asyncio.current_task()
        watch.close()
        return elapsed, task is not None and not task.cancelling()

    elapsed, clean = asyncio.run(run())
    assert 0.19 < elapsed < 1.5 and clean


def test_an_outside_cancellation_is_not_mistaken_for_a_stall() -> None:
    async def run() -> None:
        watch = IdleWatch(10)
        task = asyncio.create_task(watch.read(ticking([10])))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        watch.close()

    asyncio.run(run())
