"""Several endpoints behind one backend: least-outstanding-requests choice, ejection, health checks.

``EndpointPool`` holds one ``Member`` (endpoint, transport, counters) per URL of
``MODEL_RUNNER_URL``. With one URL it only counts: the transport retries as it always has. With
several:

* **choice**: the member with the fewest requests in flight among those not ejected (ties taken
  in turn); when every member is ejected, the one whose cooldown ends first.
* **failover**: ``call`` runs one attempt per member (transport ``failover=True``); a failure the
  endpoint caused before answering (``EndpointFailure``: connection refused, 408/429/5xx, timeout
  before the first byte) moves the request to another member. A stream fails over only until its
  first chunk is delivered (the backend drives that loop with ``begin``/``succeed``/``fail``).
* **ejection**: ``eject_failures`` consecutive failures take a member out for ``eject_cooldown``
  seconds; afterwards a health check or a request tries it again, and one success reinstates it.
* **health checks**: the runner's ``GET /`` (``GET <api>/models`` elsewhere), every
  ``health_interval`` seconds, only while the backend is in use: the task starts with a request,
  ends by itself after ``3 x health_interval`` without one, and ``aclose`` cancels it. Nothing
  runs at import or when the backend is built.

Ejections, cooldowns and idleness are measured on ``clock`` (``time.monotonic`` unless one is
given; tests pass a fake one); ``wall_clock`` (``time.time``) only dates ``ejected_until`` for display.
Deadlines stay on the event loop's ``loop.time()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ultra_llm.docker.errors import ModelRunnerNotEnabledError
from ultra_llm.errors import (
    BackendUnavailableError,
    GenerationError,
    GenerationTimeoutError,
    StreamInterruptedError,
    UltraLLMError,
)

from .settings import Endpoint
from .transport import EndpointFailure, Transport

__all__ = ["EndpointPool", "Member", "is_endpoint_failure"]

T = TypeVar("T")

_ENDPOINT_ERRORS = (ModelRunnerNotEnabledError, BackendUnavailableError, GenerationTimeoutError, StreamInterruptedError)


def is_endpoint_failure(error: BaseException) -> bool:
    """True for failures the endpoint caused (unreachable, timed out, dropped, 5xx), not the request."""
    if isinstance(error, EndpointFailure):
        return True
    if isinstance(error, _ENDPOINT_ERRORS):
        return True
    return type(error) is GenerationError and "server error" in error.message


@dataclass(eq=False)
class Member:
    """One endpoint of the pool, its transport and what has happened to it."""

    endpoint: Endpoint
    transport: Transport
    in_flight: int = 0
    successes: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    ejections: int = 0
    ejected_until: float | None = None
    """The pool's ``clock()`` at which the ejection ends; ``None`` when not ejected."""
    last_error: str | None = None
    checks: int = 0
    last_ok: bool | None = None
    """Whether the last request or health check succeeded (``None``: nothing yet)."""

    def ejected(self, now: float) -> bool:
        return self.ejected_until is not None and now < self.ejected_until

    def state(self, now: float, wall: float) -> dict[str, Any]:
        """What ``endpoint_states`` shows for this member (JSON-ready)."""
        ejected = self.ejected(now)
        until = self.ejected_until
        return {
            "url": self.endpoint.display_url,
            "healthy": not ejected and self.last_ok is not False,
            "ejected": ejected,
            "ejected_until": (
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall + (until - now)))
                if ejected and until is not None
                else None
            ),
            "ejected_for_s": round(until - now, 3) if ejected and until is not None else None,
            "in_flight": self.in_flight,
            "successes": self.successes,
            "failures": self.failures,
            "consecutive_failures": self.consecutive_failures,
            "ejections": self.ejections,
            "health_checks": self.checks,
            "last_error": self.last_error,
        }


class EndpointPool:
    """The members, the choice among them, their counters and the health-check task."""

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        *,
        eject_failures: int = 2,
        eject_cooldown: float = 10.0,
        health_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        """Seconds, monotonic: ejection, cooldown, last use (injectable: tests pass a fake one)."""
        self.wall_clock = wall_clock
        """Seconds since the epoch: only to show when an ejection ends."""
        self.members = [Member(ep, Transport(ep)) for ep in endpoints]
        self.eject_failures = eject_failures
        self.eject_cooldown = eject_cooldown
        self.health_interval = health_interval
        self._turn = 0
        self._last_use = 0.0
        self._health: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def several(self) -> bool:
        """True with more than one endpoint (failover, ejection and health checks apply)."""
        return len(self.members) > 1

    # -- choice and bookkeeping -----------------------------------------------------------------

    def pick(self, exclude: Sequence[Member] = ()) -> Member | None:
        """The member to send to next (least outstanding requests), or ``None`` if all are excluded."""
        now = self.clock()
        left = [m for m in self.members if m not in exclude]
        if not left:
            return None
        ready = [m for m in left if not m.ejected(now)]
        if not ready:
            return min(left, key=lambda m: m.ejected_until or 0.0)
        fewest = min(m.in_flight for m in ready)
        tied = [m for m in ready if m.in_flight == fewest]
        chosen = tied[self._turn % len(tied)]
        self._turn += 1
        return chosen

    def begin(self, member: Member) -> None:
        """A request starts on ``member`` (keeps the health checks running while in use)."""
        member.in_flight += 1
        self._last_use = self.clock()
        if self.several and self.health_interval > 0 and not self._closed:
            self._ensure_health()

    def end(self, member: Member) -> None:
        member.in_flight -= 1

    def succeed(self, member: Member) -> None:
        member.successes += 1
        member.last_ok = True
        member.consecutive_failures = 0
        member.ejected_until = None

    def fail(self, member: Member, error: BaseException) -> None:
        """Count a failure the endpoint caused; eject the member after ``eject_failures`` in a row."""
        shown = error.error if isinstance(error, EndpointFailure) else error
        member.failures += 1
        member.last_ok = False
        member.consecutive_failures += 1
        member.last_error = shown.message if isinstance(shown, UltraLLMError) else str(shown)
        if self.several and member.consecutive_failures >= self.eject_failures:
            self._eject(member)

    def _eject(self, member: Member) -> None:
        member.ejected_until = self.clock() + self.eject_cooldown
        member.ejections += 1

    # -- one request with failover ------------------------------------------------------------------

    async def call(self, op: Callable[[Member, bool], Awaitable[T]], *, attempts: int, deadline: float) -> T:
        """``op(member, failover)`` on the best member; with several, on the next one after an endpoint failure.

        ``attempts`` bounds the tries (at least one per member); ``deadline`` (event-loop time)
        stops new tries. Once every member failed this request, the next round waits a backoff.
        """
        if not self.several:
            member = self.members[0]
            self.begin(member)
            try:
                result = await op(member, False)
            except UltraLLMError as exc:
                if is_endpoint_failure(exc):
                    self.fail(member, exc)
                raise
            finally:
                self.end(member)
            self.succeed(member)
            return result
        last: EndpointFailure | None = None
        async for member in self.attempts(attempts, deadline):
            self.begin(member)
            try:
                result = await op(member, True)
            except EndpointFailure as exc:
                self.fail(member, exc)
                last = exc
                continue
            finally:
                self.end(member)
            self.succeed(member)
            return result
        assert last is not None
        raise last.error from last.__cause__

    def attempts(self, attempts: int, deadline: float) -> Attempts:
        """``async for member in pool.attempts(n, deadline)``: the members to try, in turn, for one request."""
        return Attempts(self, attempts, deadline)

    async def backoff(self, rounds: int, deadline: float) -> None:
        """Wait before another round over members that all failed (exponential, jittered, bounded)."""
        ep = self.members[0].endpoint
        wait = min(ep.retry_wait_max, ep.retry_wait_initial * 2 ** (rounds - 1)) + random.uniform(
            0, ep.retry_wait_initial
        )
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining > 0:
            await asyncio.sleep(min(wait, remaining))

    # -- health -------------------------------------------------------------------------------------

    async def check(self, member: Member) -> UltraLLMError | None:
        """One health check of ``member`` (the runner's ``GET /``, else ``GET <api>/models``); the error if any."""
        ep = member.endpoint
        url = ep.management("/") if ep.runner_layout else ep.api("/models")
        member.checks += 1
        try:
            await member.transport.request("GET", url, timeout=ep.check_timeout, retry=False)
        except UltraLLMError as exc:
            member.last_ok = False
            member.last_error = exc.message
            if self.several and not member.ejected(self.clock()):
                self._eject(member)
            return exc
        member.last_ok = True
        if not member.ejected(self.clock()):
            member.consecutive_failures = 0
            member.ejected_until = None
        return None

    async def check_all(self, *, skip_ejected: bool = False) -> list[UltraLLMError | None]:
        """Check every member at once (``skip_ejected``: those still in their cooldown are left alone)."""
        now = self.clock()
        chosen = [m for m in self.members if not (skip_ejected and m.ejected(now))]
        results = await asyncio.gather(*(self.check(m) for m in chosen))
        return list(results)

    def _ensure_health(self) -> None:
        task = self._health
        loop = asyncio.get_running_loop()
        if task is not None and not task.done() and task.get_loop() is loop:
            return
        self._health = loop.create_task(self._run_health(), name="ultra-llm-docker-api-health")

    async def _run_health(self) -> None:
        idle_after = 3 * self.health_interval
        try:
            while True:
                await asyncio.sleep(self.health_interval)
                in_flight = sum(m.in_flight for m in self.members)
                if not in_flight and self.clock() - self._last_use > idle_after:
                    return  # not in use: stop; the next request starts the checks again
                await self.check_all(skip_ejected=True)
        finally:
            if self._health is asyncio.current_task():
                self._health = None

    def states(self) -> list[dict[str, Any]]:
        """Every member's state, in ``MODEL_RUNNER_URL`` order."""
        now, wall = self.clock(), self.wall_clock()
        return [m.state(now, wall) for m in self.members]

    @property
    def health_running(self) -> bool:
        """True while the health-check task exists."""
        return self._health is not None and not self._health.done()

    async def aclose(self) -> None:
        """Stop the health checks and close every member's connection pool.

        Requests still work afterwards (new connection pools are made) but start no health checks.
        """
        self._closed = True
        task, self._health = self._health, None
        if task is not None and not task.done():
            loop = task.get_loop()
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if loop is running:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            elif not loop.is_closed():
                loop.call_soon_threadsafe(task.cancel)  # a task of another (running) loop
        for member in self.members:
            await member.transport.aclose()


class Attempts:
    """The members one request tries, in turn: the best one it has not tried yet; once it tried them
    all, another round after a backoff. At most ``max(attempts, len(members))`` tries, and none
    after the first once ``deadline`` (event-loop time) has passed.

    A class, not an async generator, so a stream left unclosed at loop shutdown has no inner
    generator for the loop to finalize out of order.
    """

    def __init__(self, pool: EndpointPool, attempts: int, deadline: float) -> None:
        self._pool = pool
        self._limit = max(attempts, len(pool.members))
        self._deadline = deadline
        self._tried: list[Member] = []
        self._count = 0
        self._rounds = 0

    def __aiter__(self) -> Attempts:
        return self

    async def __anext__(self) -> Member:
        if self._count >= self._limit or (self._count and asyncio.get_running_loop().time() >= self._deadline):
            raise StopAsyncIteration
        self._count += 1
        member = self._pool.pick(self._tried)
        if member is None:
            self._tried, self._rounds = [], self._rounds + 1
            await self._pool.backoff(self._rounds, self._deadline)
            member = self._pool.pick()
        assert member is not None
        self._tried.append(member)
        return member
