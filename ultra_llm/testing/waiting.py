"""Bounded waits for a condition: poll until it holds, never sleep a guessed time and hope."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["until", "until_async"]


def until(condition: Callable[[], bool], within: float = 10.0, every: float = 0.02) -> bool:
    """True as soon as ``condition()`` holds; False if it still does not after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(every)
    return True


async def until_async(condition: Callable[[], bool], within: float = 10.0, every: float = 0.02) -> bool:
    """``until`` inside an event loop: the loop keeps running other tasks between the polls."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(every)
    return True
