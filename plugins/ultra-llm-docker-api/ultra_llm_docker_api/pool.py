"""Several endpoints behind one backend: least-outstanding-requests choice, ejection, health checks.

``EndpointPool`` holds one ``Member`` (endpoint, transport, counters) per URL of
``MODEL_RUNNER_URL``. With one URL it only counts. With several:

* **choice**: the member with the fewest requests in flight among those not ejected (ties taken
  in turn); when every member is ejected, the one whose cooldown ends first. The attempt loop
  (``request_path``) asks for the next member after a failure, and reports each outcome.
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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ultra_llm.errors import UltraLLMError

from .faults import Failed
from .settings import Endpoint
from .transport import Transport, error_of

__all__ = ["EndpointPool", "Member"]


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
    served: frozenset[str] | None = None
    """The model names the server lists (``GET <api>/models``, ids and aliases), once read: cached."""

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

    def release(self, member: Member, fault: UltraLLMError | None) -> None:
        """A request on ``member`` ended; ``fault``: the failure the endpoint caused, if it did."""
        member.in_flight -= 1
        if fault is not None:
            self.fail(member, fault)

    def succeed(self, member: Member) -> None:
        """A request on ``member`` succeeded (and ended): it is healthy again."""
        member.in_flight -= 1
        member.successes += 1
        member.last_ok = True
        member.consecutive_failures = 0
        member.ejected_until = None

    def fail(self, member: Member, error: UltraLLMError) -> None:
        """Count a failure the endpoint caused; eject the member after ``eject_failures`` in a row."""
        member.failures += 1
        member.last_ok = False
        member.consecutive_failures += 1
        member.last_error = error.message
        if self.several and member.consecutive_failures >= self.eject_failures:
            self._eject(member)

    def _eject(self, member: Member) -> None:
        member.ejected_until = self.clock() + self.eject_cooldown
        member.ejections += 1

    # -- health -------------------------------------------------------------------------------------

    async def check(self, member: Member) -> UltraLLMError | None:
        """One health check of ``member`` (the runner's ``GET /``, else ``GET <api>/models``); the error if any."""
        ep = member.endpoint
        url = ep.management("/") if ep.runner_layout else ep.api("/models")
        member.checks += 1
        try:
            await member.transport.probe(url)
        except (Failed, UltraLLMError) as exc:
            error = error_of(exc)
            member.last_ok = False
            member.last_error = error.message
            if self.several and not member.ejected(self.clock()):
                self._eject(member)
            return error
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
