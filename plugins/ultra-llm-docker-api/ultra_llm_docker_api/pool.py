"""Several endpoints behind one backend: the choice by model, ejection, health checks.

``EndpointPool`` holds one ``Member`` (endpoint, transport, counters) per URL of
``MODEL_RUNNER_URL``. With one URL it only counts. With several:

* **models**: each member's map (``Member.models``, ``Member.loaded``: which models the runner has,
  and has loaded) is read by the backend's ``read_map`` (``model_map``) when it is unknown, older
  than ``models_refresh`` seconds, or marked stale (after a "not found", a load this pool caused,
  or a lifecycle call). One read at a time, shared by every request waiting for it; nothing is read
  with a single URL.
* **choice**: among the members not excluded and not known to lack the model (unless every one
  is), those not ejected; among those the best placed for the model (it loaded there, then it
  there, then not known), then the fewest requests in flight (ties taken in turn); when every one
  is ejected, the one whose cooldown ends first. A conversation id goes to the member that its
  hash ranks first among those not ejected that may have the model (rendezvous hashing), so every
  process and adapter sends one conversation to the same runner while that runner stays a choice,
  and nothing is remembered. The attempt loop (``request_path``) asks for the
  next member after a failure, and reports each outcome.
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
import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ultra_llm.errors import UltraLLMError

from .faults import Failed
from .settings import Endpoint
from .transport import Transport, error_of

__all__ = ["EndpointPool", "Member", "ModelMap"]


@dataclass(frozen=True)
class ModelMap:
    """What one runner has: its models (canonical names, aliases included) and those loaded now
    (``None``: the server does not say, as a plain OpenAI-compatible server)."""

    models: frozenset[str]
    loaded: frozenset[str] | None = None


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
    models: frozenset[str] | None = None
    """The models this runner has, as last read (canonical names); ``None``: not read, or unreadable."""
    loaded: frozenset[str] | None = None
    """The models it has loaded (or is loading), as last read; ``None``: not known."""
    map_read_at: float | None = None
    """The pool's ``clock()`` when the map was last read; ``None``: to be read before the next choice."""

    def rank(self, model: str) -> int:
        """How well placed this member is for ``model``: 0 loaded, 1 there, 2 not known, 3 known absent."""
        if self.models is None:
            return 2
        if model not in self.models:
            return 3
        return 0 if self.loaded is not None and model in self.loaded else 1

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
            "models": sorted(self.models) if self.models is not None else None,
            "loaded": sorted(self.loaded) if self.loaded is not None else None,
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
        models_refresh: float = 5.0,
        read_map: Callable[[Member], Awaitable[ModelMap | None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """``read_map``: reads one member's ``ModelMap`` (``None`` when it cannot), used with several
        endpoints only; ``models_refresh``: the seconds a map is trusted before it is read again."""
        self.clock = clock
        """Seconds, monotonic: ejection, cooldown, last use (injectable: tests pass a fake one)."""
        self.wall_clock = wall_clock
        """Seconds since the epoch: only to show when an ejection ends."""
        self.members = [Member(ep, Transport(ep)) for ep in endpoints]
        self.eject_failures = eject_failures
        self.eject_cooldown = eject_cooldown
        self.health_interval = health_interval
        self.models_refresh = models_refresh
        self._read_map = read_map if len(self.members) > 1 else None
        self._reading: asyncio.Task[None] | None = None
        self._turn = 0
        self._last_use = 0.0
        self._health: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def several(self) -> bool:
        """True with more than one endpoint (failover, ejection and health checks apply)."""
        return len(self.members) > 1

    # -- choice and bookkeeping -----------------------------------------------------------------

    def pick(
        self, exclude: Sequence[Member] = (), *, model: str | None = None, conversation: str | None = None
    ) -> Member | None:
        """The member to send to next, or ``None`` if all are excluded: not ejected, then the best placed
        for ``model``, then the fewest in flight; with a ``conversation`` id, the member it hashes to."""
        now = self.clock()
        left = [m for m in self.members if m not in exclude]
        if model is not None and self.several:
            left = self._placed_for(model, left)
        if not left:
            return None
        ready = [m for m in left if not m.ejected(now)]
        if not ready:
            return min(left, key=lambda m: m.ejected_until or 0.0)
        if conversation is not None:
            return max(ready, key=lambda m: _affinity(conversation, m))
        if model is not None and len(ready) > 1:
            best = min(m.rank(model) for m in ready)
            ready = [m for m in ready if m.rank(model) == best]
        fewest = min(m.in_flight for m in ready)
        tied = [m for m in ready if m.in_flight == fewest]
        chosen = tied[self._turn % len(tied)]
        self._turn += 1
        return chosen

    def _placed_for(self, model: str, left: list[Member]) -> list[Member]:
        """``left`` without the members known to lack ``model`` while another member (excluded or
        not) may have it: a runner without the model only answers 404."""
        if any(m.rank(model) < 3 for m in self.members):
            return [m for m in left if m.rank(model) < 3]
        return left

    # -- which models each member has --------------------------------------------------------------

    def stale(self, members: Sequence[Member] | None = None) -> None:
        """Read these members' maps (every member's by default) again before the next choice."""
        for member in self.members if members is None else members:
            member.map_read_at = None

    def lacks(self, member: Member, model: str) -> None:
        """``member`` answered that it has no ``model``: not chosen for it again until a read says it has."""
        if member.models is not None:
            member.models = member.models - {model}
        member.map_read_at = None

    def answered(self, member: Member, model: str) -> None:
        """``member`` answered for ``model``: if that made it load the model, its map is read again
        (loading one may have unloaded others)."""
        if member.loaded is not None and model not in member.loaded and member.models and model in member.models:
            member.loaded = member.loaded | {model}
            member.map_read_at = None

    def _due(self) -> list[Member]:
        if self._read_map is None:
            return []
        now = self.clock()
        return [m for m in self.members if m.map_read_at is None or now - m.map_read_at >= self.models_refresh]

    async def know_models(self) -> None:
        """Read the maps that are due (none with one endpoint); one read at a time, shared."""
        if self._read_map is None or not self._due():
            return
        task = self._reading
        loop = asyncio.get_running_loop()
        if task is None or task.done() or task.get_loop() is not loop:
            task = self._reading = loop.create_task(self._read_due(), name="ultra-llm-docker-api-models")
        await asyncio.shield(task)

    async def _read_due(self) -> None:
        due = self._due()
        read = self._read_map
        assert read is not None
        maps = await asyncio.gather(*(read(m) for m in due), return_exceptions=True)
        now = self.clock()
        for member, found in zip(due, maps, strict=True):
            member.map_read_at = now
            if isinstance(found, ModelMap):
                member.models, member.loaded = found.models, found.loaded
            elif isinstance(found, BaseException) and not isinstance(found, Exception):
                raise found

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


def _affinity(conversation: str, member: Member) -> bytes:
    """How strongly ``conversation`` prefers ``member`` (rendezvous hashing on the endpoint's identity):
    the same in every process, and only the conversations of a runner that goes away move."""
    key = f"{conversation}\0{member.endpoint.identity}".encode()
    return hashlib.blake2b(key, digest_size=8).digest()
