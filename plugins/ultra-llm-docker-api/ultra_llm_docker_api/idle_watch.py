"""The idle limit between two chunks of a body, on one timer per body.

``asyncio.timeout`` around every read schedules and cancels a timer per chunk. ``IdleWatch`` keeps one:
each wait only notes when it began and which task waits; when the timer comes due it looks whether
the current wait has really lasted the limit, and either moves itself on or cancels that task, which
``read`` turns into ``TimeoutError`` (the task uncancelled). Per chunk it costs a clock read and a
look-up of the current task.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

__all__ = ["IdleWatch"]

T = TypeVar("T")


class IdleWatch:
    """``await watch.read(iterator)``: the next item, or ``TimeoutError`` when it takes ``idle``
    seconds or more. Call ``close()`` when the body ends."""

    __slots__ = ("_fired", "_handle", "_loop", "_started", "_waiting", "idle")

    def __init__(self, idle: float) -> None:
        self.idle = idle
        self._loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None
        self._started = 0.0
        self._waiting: asyncio.Task[object] | None = None
        self._fired = False

    async def read(self, iterator: AsyncIterator[T]) -> T:
        """``iterator``'s next item within ``idle`` seconds of asking for it."""
        self._started = self._loop.time()
        if self._handle is None:
            self._handle = self._loop.call_at(self._started + self.idle, self._due)
        self._waiting = asyncio.current_task()
        try:
            return await anext(iterator)
        except asyncio.CancelledError:
            if self._fired:
                self._fired = False
                uncancel = getattr(self._waiting, "uncancel", None)  # Python 3.11+
                if uncancel is not None:
                    uncancel()
                raise TimeoutError from None
            raise
        finally:
            self._waiting = None

    def _due(self) -> None:
        """The timer came due: cancel the wait if it has lasted the limit, else move on to its end."""
        self._handle = None
        if self._waiting is None:  # between waits: the next one arms the timer again
            return
        end = self._started + self.idle
        if self._loop.time() < end:
            self._handle = self._loop.call_at(end, self._due)
            return
        self._fired = True
        self._waiting.cancel()

    def close(self) -> None:
        """Cancel the timer (idempotent)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
