"""CallClock: one timer per stream, firing only while the consumer waits for a chunk; driven as the
adapter's stream loop drives it (``enter``, the wait, ``leave``; ``expired`` on a cancellation)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from ultra_llm._deadline import CallClock, Deadline


async def next_item(clock: CallClock, iterator: AsyncIterator[int]) -> int:
    """The adapter's loop body: the next item, or ``TimeoutError`` when the clock cancelled the wait."""
    try:
        clock.enter()
        return await iterator.__anext__()
    except asyncio.CancelledError:
        if clock.expired():
            raise TimeoutError from None
        raise
    finally:
        clock.leave()


async def ticking(delays: list[float]) -> AsyncIterator[int]:
    for index, delay in enumerate(delays):
        await asyncio.sleep(delay)
        yield index


def test_items_before_the_deadline_pass_through() -> None:
    async def run() -> list[int]:
        deadline = CallClock(Deadline(asyncio.get_running_loop().time() + 5))
        stream = ticking([0, 0, 0])
        try:
            return [await next_item(deadline, stream) for _ in range(3)]
        finally:
            deadline.close()

    assert asyncio.run(run()) == [0, 1, 2]


def test_a_wait_past_the_deadline_raises_timeout_and_leaves_the_task_usable() -> None:
    async def run() -> tuple[float, bool]:
        loop = asyncio.get_running_loop()
        deadline = CallClock(Deadline(loop.time() + 0.1))
        stream = ticking([0, 10])
        await next_item(deadline, stream)
        started = time.perf_counter()
        with pytest.raises(TimeoutError):
            await next_item(deadline, stream)
        elapsed = time.perf_counter() - started
        await asyncio.sleep(0)  # the task was uncancelled: awaiting still works
        current = asyncio.current_task()
        return elapsed, current is not None and not current.cancelling()

    elapsed, clean = asyncio.run(run())
    assert 0.05 < elapsed < 2 and clean


def test_a_deadline_passed_while_busy_fails_the_next_wait_at_once() -> None:
    async def run() -> None:
        deadline = CallClock(Deadline(asyncio.get_running_loop().time() + 0.05))
        stream = ticking([0, 0])
        await next_item(deadline, stream)
        time.sleep(0.1)  # the consumer is busy (blocking) past the deadline
        await asyncio.sleep(0)
        with pytest.raises(TimeoutError):
            await next_item(deadline, stream)

    asyncio.run(run())


def test_an_outside_cancellation_is_not_mistaken_for_the_deadline() -> None:
    async def run() -> None:
        deadline = CallClock(Deadline(asyncio.get_running_loop().time() + 10))
        task = asyncio.create_task(next_item(deadline, ticking([10])))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        deadline.close()

    asyncio.run(run())
