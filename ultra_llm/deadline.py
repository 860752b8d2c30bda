"""A deadline over a whole stream, at the cost of one timer per stream rather than one per chunk.

``asyncio.timeout_at`` around every ``__anext__`` schedules and cancels a timer for each chunk;
``StreamDeadline`` schedules one, which cancels the consuming task only while it is waiting for
the next chunk. When the deadline passes while the consumer is busy elsewhere, the timer marks
it fired and the next wait fails at once instead. Per chunk it costs a flag test and a
``try`` and a look-up of the consuming task.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

__all__ = ["StreamDeadline"]

T = TypeVar("T")


class StreamDeadline:
    """``await deadline.next(iterator)`` is ``iterator.__anext__()`` raising ``TimeoutError`` once
    the loop's clock passes ``when``. Call ``close()`` when the stream ends."""

    def __init__(self, when: float) -> None:
        self.when = when
        self._handle: asyncio.TimerHandle | None = None
        self._waiting: asyncio.Task[object] | None = None
        self._fired = False

    async def next(self, iterator: AsyncIterator[T]) -> T:
        """The iterator's next item, or ``TimeoutError`` when the deadline passes first."""
        if self._fired:
            raise TimeoutError
        if self._handle is None:  # the first chunk: start the one timer
            loop = asyncio.get_running_loop()
            if loop.time() >= self.when:
                raise TimeoutError
            self._handle = loop.call_at(self.when, self._fire)
        self._waiting = asyncio.current_task()  # per chunk: a sync caller may await each in a new task
        try:
            return await iterator.__anext__()
        except asyncio.CancelledError:
            task = self._waiting
            if self._fired and task is not None:
                uncancel = getattr(task, "uncancel", None)  # Python 3.11+
                if uncancel is not None:
                    uncancel()
                raise TimeoutError from None
            raise
        finally:
            self._waiting = None

    def _fire(self) -> None:
        self._fired = True
        if self._waiting is not None:
            self._waiting.cancel()

    def close(self) -> None:
        """Cancel the timer (idempotent)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
