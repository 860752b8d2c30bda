"""The one clock of a call: its ``Deadline`` (what backends read) and the adapter's timer (what enforces it).

The adapter alone owns the timeouts. For every call it makes one ``Deadline`` (the total, and the
first token's), stamps it on the request (``GenerationRequest.deadline``, ``EmbeddingRequest.deadline``)
and, for the calls that take no request (listing, pull, remove, the lifecycle), makes it
``current_deadline()``. A backend reads it to size its own waits and tells it two things: that the
answer has begun (``answered()``) and, while it is late, why (``waiting_for("the model is still
loading")``). It never raises a total or first-token timeout itself: when a wait it sized by the
deadline runs out it lets ``TimeoutError`` out (or the adapter's timer cancels it first), and the
adapter raises its one ``GenerationTimeoutError``, quoting what the backend was waiting for.

``CallClock`` is the adapter's timer: one per call, which cancels the consuming task only while it
waits (for the next chunk, or for a whole call). Until the call has answered it runs to the
first-token deadline, then on to the total; it is moved lazily, so a first token in time costs
nothing until the first-token time comes. Per chunk it costs a flag test and a ``try``.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import math
from typing import Any, TypeVar

__all__ = ["CONFIGURED", "CallClock", "Deadline", "call_timeout", "current_deadline"]

T = TypeVar("T")

_NEVER = math.inf

TOLERANCE = 0.001
"""Seconds a backend's ``TimeoutError`` may come before the deadline it sized its wait by (the event
loop runs a timer up to its clock's resolution early) and still be that deadline passing."""


class Deadline:
    """When one call must be done, as the running event loop's ``loop.time()`` values: ``total`` for
    all of it (a model load before answering included; ``inf``: no total), ``first_token`` (never
    later than ``total``) for the answer to begin. Made by the adapter, one per call; a backend reads
    it (``remaining()``) and reports to it (``answered()``, ``waiting_for()``)."""

    __slots__ = ("first_token", "has_answered", "total", "waiting")

    def __init__(self, total: float, first_token: float | None = None) -> None:
        self.total = total
        self.first_token = total if first_token is None else min(first_token, total)
        self.has_answered = False
        """True once the answer has begun: from then on only ``total`` applies."""
        self.waiting: str | None = None
        """Why the answer is late, as the backend last said (``waiting_for``); ``None``: not said."""

    @classmethod
    def starting(cls, now: float, total: float, first_token: float | None = None) -> Deadline:
        """The deadline of a call starting at ``now`` with these timeouts in seconds (``inf``: none)."""
        return cls(now + total, None if first_token is None else now + first_token)

    def remaining(self) -> float:
        """Seconds left until the deadline that applies now (``inf``: none), never below 0: the
        first-token one until the answer has begun, then the total."""
        due = self.total if self.has_answered else self.first_token
        return max(0.0, due - asyncio.get_running_loop().time())

    def answered(self) -> None:
        """The answer has begun (its first token, or first byte): only the total applies from now on."""
        self.has_answered = True
        self.waiting = None

    def waiting_for(self, why: str) -> None:
        """Say why the answer is late ("the model is still loading on URL"): the adapter's timeout
        error quotes it if the deadline passes before the answer begins."""
        self.waiting = why

    def __repr__(self) -> str:
        return f"Deadline(total={self.total!r}, first_token={self.first_token!r})"


_CURRENT: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("ultra_llm_deadline", default=None)


def current_deadline() -> Deadline | None:
    """The deadline of the adapter call running in this task (``None`` outside one): for backends'
    calls that take no request (listing, pull, remove, the lifecycle) to size their waits by."""
    return _CURRENT.get()


class _Configured(enum.Enum):
    TIMEOUT = "the adapter's timeout"

    def __repr__(self) -> str:
        return "CONFIGURED"


CONFIGURED = _Configured.TIMEOUT
"""The default of a call's ``timeout=``: the adapter's own total (``ULTRA_LLM_TIMEOUT``)."""


def call_timeout(value: object) -> float:
    """A call's ``timeout=`` as the total seconds it may take: a number above 0, or ``None`` for no
    total (``math.inf``); anything else is an ``InvalidOptionsError`` naming the value."""
    if value is None:
        return math.inf
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
        return float(value)
    from .errors import InvalidOptionsError

    raise InvalidOptionsError(
        f"timeout={value!r} is not a timeout: give the seconds the call may take, a number above 0.",
        fix="Pass timeout=SECONDS (--timeout SECONDS, or the request's timeout field), or timeout=None "
        "in Python for no total.",
    )


class CallClock:
    """The adapter's timer over one call's ``Deadline``, driven inline (no frame of its own per
    chunk): ``enter()`` before each wait, ``leave()`` after it, and in ``except CancelledError``
    ``expired()`` says whether the deadline cancelled it. ``first_token``: the first-token deadline
    applies until ``deadline.answered()`` (streams, and whole calls whose backend reports its answer
    beginning); otherwise only the total does. Call ``close()`` when the call ends."""

    __slots__ = ("_fired", "_handle", "_started", "_token", "_waiting", "deadline", "tracks_first_token")

    def __init__(self, deadline: Deadline, *, first_token: bool = True) -> None:
        self.deadline = deadline
        self.tracks_first_token = first_token
        self._handle: asyncio.TimerHandle | None = None
        self._started = False
        self._waiting: asyncio.Task[Any] | None = None
        self._token: contextvars.Token[Deadline | None] | None = None
        self._fired = False

    def _due(self) -> float:
        deadline = self.deadline
        if self.tracks_first_token and not deadline.has_answered:
            return deadline.first_token
        return deadline.total

    def _start(self) -> None:
        self._started = True
        loop = asyncio.get_running_loop()
        due = self._due()
        if loop.time() >= due:
            self._fired = True
            raise TimeoutError
        if due != _NEVER:  # no total and no first token to wait for: no timer
            self._handle = loop.call_at(due, self._fire)

    def enter(self, *, current: bool = False) -> None:
        """Before a wait (for a chunk, or a whole call): ``TimeoutError`` when the deadline has passed;
        else the timer armed (the first time) and the waiting task noted, for the timer to cancel.
        ``current``: the deadline is ``current_deadline()`` until ``leave()`` (a whole call)."""
        if self._fired:
            raise TimeoutError
        if not self._started:
            self._start()
        self._waiting = asyncio.current_task()
        if current:
            self._token = _CURRENT.set(self.deadline)

    def leave(self) -> None:
        """After a wait: no task is waiting (a deadline passing now fails the next ``enter``)."""
        self._waiting = None
        if self._token is not None:
            _CURRENT.reset(self._token)
            self._token = None

    def expired(self) -> bool:
        """In an ``except asyncio.CancelledError`` around a wait: True when the cancellation was this
        clock's (the deadline passed), the task then uncancelled, so the caller raises its timeout error."""
        task = self._waiting
        if not self._fired or task is None:
            return False
        uncancel = getattr(task, "uncancel", None)  # Python 3.11+; 3.10 has no cancellation count
        if uncancel is not None:
            uncancel()
        return True

    @property
    def answers(self) -> bool:
        """Whether the call has an answer to begin (a generation: a first-token deadline before its
        total, or one it tracks), as a pull or a listing has not."""
        return self.tracks_first_token or self.deadline.first_token < self.deadline.total

    def first_token_missed(self) -> bool:
        """Whether the deadline that passed (the timer's, or the one a backend's ``TimeoutError``
        came from) is the first-token one: nothing had arrived, and its time had come."""
        deadline = self.deadline
        if deadline.has_answered:
            return False
        if self.tracks_first_token:
            return True
        if not self.answers:  # a call with no answer to begin (management)
            return False
        now = asyncio.get_running_loop().time()  # a whole call the adapter does not see begin:
        return now + TOLERANCE < deadline.total  # the backend's own wait sized by the first token

    def passed(self) -> bool:
        """Whether a deadline that applies has passed (the timer fired, or its time has come): a
        backend's ``TimeoutError`` before then is not the deadline's, but the backend's own fault."""
        if self._fired:
            return True
        now = asyncio.get_running_loop().time() + TOLERANCE
        deadline = self.deadline
        return now >= deadline.total or (not deadline.has_answered and now >= deadline.first_token)

    def _fire(self) -> None:
        deadline = self.deadline
        loop = asyncio.get_running_loop()
        if deadline.has_answered and loop.time() < deadline.total:  # answered in time: run on to the total
            self._handle = loop.call_at(deadline.total, self._fire) if deadline.total != _NEVER else None
            return
        self._handle = None
        self._fired = True
        if self._waiting is not None:
            self._waiting.cancel()

    def close(self) -> None:
        """Cancel the timer (idempotent)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
