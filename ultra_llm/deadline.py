"""The adapter's one clock for a call: the first-token and the total deadline, one timer per call.

``asyncio.timeout_at`` around every ``__anext__`` schedules and cancels a timer for each chunk;
``StreamDeadline`` schedules one, which cancels the consuming task only while it is waiting (for
the next chunk, or for a whole call). When the deadline passes while the consumer is busy elsewhere,
the timer marks it fired and the next wait fails at once instead. A wait for the first token is
cancelled ``GRACE`` after its deadline, so a backend's own timer due at the same moment ends the call
with its typed error, which says more, instead. Per chunk it costs a flag test and
a ``try`` and a look-up of the consuming task.

The timer first runs to the first-token deadline; once the call has answered (``answered()``, or a
chunk through ``next``) it runs on to the total one. It is moved lazily: a first token that arrives
in time changes nothing until the first-token time comes, when the timer is set once more, for the
total. ``first_token_missed`` says which deadline passed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["StreamDeadline"]

T = TypeVar("T")

_NEVER = float("inf")

GRACE = 0.1
"""Seconds a backend keeping the same first-token deadline itself (its own timer, due at the same moment) has to
end the call with its own typed error, which says more (who gave no answer, a model still loading),
before the adapter cancels the wait."""


class StreamDeadline:
    """``await deadline.next(iterator)`` is ``iterator.__anext__()`` raising ``TimeoutError`` once the
    loop's clock passes the deadline: ``first`` (when given, never later than ``when``) until the
    first item arrives, ``when`` (the total) after it. ``await deadline.wait(awaitable)`` awaits a
    whole call under the same clock. Call ``close()`` when the call ends."""

    def __init__(self, when: float, first: float | None = None) -> None:
        self.when = when
        self.first = when if first is None else min(first, when)
        self._answered = first is None
        self._handle: asyncio.TimerHandle | None = None
        self._started = False
        self._waiting: asyncio.Task[object] | None = None
        self._fired = False
        self.first_token_missed = False
        """True when the deadline that passed is the first-token one (nothing had arrived)."""

    def answered(self) -> None:
        """The call produced its first token: from now on only the total deadline applies."""
        self._answered = True

    def _start(self) -> None:
        self._started = True
        loop = asyncio.get_running_loop()
        due = self.when if self._answered else self.first
        if loop.time() >= due:
            self._expire()
            raise TimeoutError
        if due != _NEVER:  # no total for this call and no first token to wait for: no timer
            self._handle = loop.call_at(due, self._fire)

    async def next(self, iterator: AsyncIterator[T]) -> T:
        """The iterator's next item, or ``TimeoutError`` when the deadline passes first."""
        if self._fired:
            raise TimeoutError
        if not self._started:  # the first chunk: start the one timer
            self._start()
        self._waiting = asyncio.current_task()  # per chunk: a sync caller may await each in a new task
        try:
            item = await iterator.__anext__()
        except asyncio.CancelledError:
            self._uncancel_if_fired()
            raise
        finally:
            self._waiting = None
        self._answered = True
        return item

    async def wait(self, func: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``await func(*args)`` (a whole call), or ``TimeoutError`` when the deadline passes first."""
        if not self._started:
            self._start()
        self._waiting = asyncio.current_task()
        try:
            return await func(*args)
        except asyncio.CancelledError:
            self._uncancel_if_fired()
            raise
        finally:
            self._waiting = None
            self.close()

    def _uncancel_if_fired(self) -> None:
        task = self._waiting
        if self._fired and task is not None:
            uncancel = getattr(task, "uncancel", None)  # Python 3.11+
            if uncancel is not None:
                uncancel()
            raise TimeoutError from None

    def _expire(self) -> None:
        self._fired = True
        self.first_token_missed = not self._answered

    def _fire(self) -> None:
        if self._answered and self.first < self.when:  # answered in time: run on to the total
            loop = asyncio.get_running_loop()
            if loop.time() < self.when:
                self.first = self.when
                self._handle = loop.call_at(self.when, self._fire) if self.when != _NEVER else None
                return
        self._expire()
        if self._waiting is None:
            return
        if self.first_token_missed:  # a backend's own timer due now too may end the call its way first
            self._handle = asyncio.get_running_loop().call_later(GRACE, self._cancel_waiting)
        else:
            self._waiting.cancel()

    def _cancel_waiting(self) -> None:
        """Cancel the task still waiting ``GRACE`` after the deadline passed."""
        self._handle = None
        if self._waiting is not None:
            self._waiting.cancel()

    def close(self) -> None:
        """Cancel the timer (idempotent)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
