"""The one attempt loop every request takes, whole or streamed: the only place that retries.

``attempt(pool, op, deadline)`` runs ``op(member)`` (one attempt: a whole answer, or a stream up to
its first chunk) on the pool's best endpoint and decides from the ``Failed`` flags what comes next:

* ``stale`` (a reused connection the server had closed, nothing answered): resend at once, not
  counted as an attempt nor against the endpoint;
* ``loading`` (llama-server's ``503 Loading model``): wait for the load within the request's
  first-token deadline, polling, saying so once in the log; not counted;
* ``retryable``: the next endpoint not yet tried at once; once every endpoint failed this round, the
  back-off (exponential with jitter, or the server's ``Retry-After``) before the next round; at most
  ``max(retries, endpoints)`` attempts, and none when the wait would outlast the total deadline;
* ``endpoint_fault``: counted against the endpoint (ejection after several in a row).

Anything else (a typed error) ends the request at once. A stream is retried only inside ``op``,
before its first chunk: once ``attempt`` returned, nothing is ever sent again.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ultra_llm.errors import GenerationTimeoutError
from ultra_llm.types import Deadline

from .error_map import BACKEND
from .faults import Failed
from .pool import EndpointPool, Member

__all__ = ["LOADING_POLL_MAX", "attempt", "backoff"]

T = TypeVar("T")

log = logging.getLogger("ultra_llm.docker_api")

LOADING_POLL_MAX = 1.0
"""The longest pause, in seconds, between two polls of a server that is loading its model."""


def backoff(round_: int, initial: float, ceiling: float) -> float:
    """Seconds to wait before round ``round_`` (1, 2, ...): ``initial`` doubling up to ``ceiling``, plus jitter."""
    return min(ceiling, initial * 2.0 ** (round_ - 1)) + random.uniform(0, initial)


async def attempt(pool: EndpointPool, op: Callable[[Member], Awaitable[T]], deadline: Deadline) -> tuple[Member, T]:
    """``op``'s result and the member it came from, which stays begun: the caller ``succeed``s or ``release``s it."""
    loop = asyncio.get_running_loop()
    ep = pool.members[0].endpoint
    limit = max(ep.retries, len(pool.members))
    tried: list[Member] = []
    attempts = rounds = polls = 0
    while True:
        member = pool.pick(tried)
        if member is None:  # every endpoint failed this round
            tried, member = [], pool.pick()
        assert member is not None
        pool.begin(member)
        try:
            return member, await op(member)
        except Failed as failed:
            pool.release(member, failed.error if failed.endpoint_fault else None)
            if failed.stale:
                log.debug("%s had closed a kept-alive connection; resent at once", member.endpoint.display_url)
                continue
            if failed.loading:
                polls += 1
                await _wait_for_load(member, failed, polls, deadline, loop.time())
                continue
            attempts += 1
            tried.append(member)
            now = loop.time()
            if not failed.retryable or attempts >= limit or now >= deadline.total:
                raise failed.error from failed.__cause__
            if pool.pick(tried) is not None:
                continue  # another endpoint has not been tried yet: at once
            rounds += 1
            wait = failed.retry_after
            if wait is None:
                wait = backoff(rounds, ep.retry_wait_initial, ep.retry_wait_max)
            elif wait > ep.retry_after_max:
                raise failed.error from failed.__cause__  # a wait beyond the honoured limit: fail now, clearly
            if wait >= deadline.total - now:
                raise failed.error from failed.__cause__  # no attempt could start in time after it
            await asyncio.sleep(wait)
        except BaseException:
            pool.release(member, None)
            raise


async def _wait_for_load(member: Member, failed: Failed, polls: int, deadline: Deadline, now: float) -> None:
    """Pause before polling a loading server again; a timeout error when the load outlasts the first-token deadline."""
    ep = member.endpoint
    left = deadline.first_token - now
    if polls == 1 and left > 0:
        log.warning("%s is loading the model; waiting up to %.1f s for it (first-token timeout)", ep.display_url, left)
    wait = backoff(polls, ep.retry_wait_initial, LOADING_POLL_MAX)
    await asyncio.sleep(max(0.0, min(wait, left)))
    if wait >= left:
        raise GenerationTimeoutError.first_token(
            f"{ep.display_url} was still loading the model: no answer",
            first_token_timeout=ep.first_token_timeout,
            total_timeout=ep.total_timeout,
            backend=BACKEND,
        ) from failed
