"""The one attempt loop every request takes, whole or streamed: the only place that retries.

``attempt(pool, op, deadline)`` runs ``op(member)`` (one attempt: a whole answer, or a stream up to
its first chunk) on the pool's best endpoint and decides from the ``Failed`` flags what comes next:

* ``stale`` (a reused connection the server had closed, nothing answered): resend at once, not
  counted as an attempt nor against the endpoint;
* ``loading`` (llama-server's ``503 Loading model``): wait for the load, polling, telling the call's
  deadline why it waits (the adapter's first-token error quotes it) and saying so once in the log;
  not counted. A poll never waits past the deadline: then ``TimeoutError`` (the adapter words it);
* ``retryable``: the next endpoint not yet tried at once; once every endpoint failed this round, the
  back-off (exponential with jitter, or the server's ``Retry-After``) before the next round; at most
  ``max(retries, endpoints)`` attempts, and none when the wait would outlast the call's deadline;
* ``endpoint_fault``: counted against the endpoint (ejection after several in a row). An attempt the
  adapter cancels at the call's deadline before the endpoint answered counts as one too.

Anything else (a typed error) ends the request at once. A stream is retried only inside ``op``,
before its first chunk: once ``attempt`` returned, nothing is ever sent again. ``deadline`` is the
call's (``None`` for a backend used without the adapter: no limit but the endpoint's own).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ultra_llm.errors import GenerationError, ModelNotFoundError
from ultra_llm.plugin import Deadline

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


async def attempt(
    pool: EndpointPool,
    op: Callable[[Member], Awaitable[T]],
    deadline: Deadline | None,
    *,
    model: str | None = None,
    conversation: str | None = None,
) -> tuple[Member, T]:
    """``op``'s result and the member it came from, which stays begun: the caller ``succeed``s or ``release``s it.

    ``model`` (with several endpoints): the choice goes to a runner that has it, and one runner's
    ``ModelNotFoundError`` sends the request to another that has it (maps read again first); it is
    the answer only once no runner has the model. ``conversation``: kept on one runner (``pick``).
    """
    loop = asyncio.get_running_loop()
    total = math.inf if deadline is None else deadline.total
    ep = pool.members[0].endpoint
    limit = max(ep.retries, len(pool.members))
    tried: list[Member] = []
    absent: list[Member] = []
    attempts = rounds = polls = 0
    if model is not None:
        await pool.know_models()
    while True:
        member = pool.pick([*tried, *absent], model=model, conversation=conversation)
        if member is None:  # every endpoint failed this round
            tried, member = [], pool.pick(absent, model=model, conversation=conversation) or pool.pick(absent)
        assert member is not None  # ``absent`` never holds every member: the last "not found" is raised
        pool.begin(member)
        try:
            result = await op(member)
            if model is not None:
                pool.answered(member, model)
            return member, result
        except ModelNotFoundError:
            pool.release(member, None)
            if model is None or not pool.several:
                raise
            pool.lacks(member, model)
            absent.append(member)
            pool.stale()
            await pool.know_models()
            after = pool.pick(absent, model=model)
            if after is None or after.rank(model) == 3:
                raise  # no runner has it: this is the answer
            log.info("%s has no %s; sent to another runner", member.endpoint.display_url, model)
        except Failed as failed:
            pool.release(member, failed.error if failed.endpoint_fault else None)
            if failed.stale:
                log.debug("%s had closed a kept-alive connection; resent at once", member.endpoint.display_url)
                continue
            if failed.loading:
                polls += 1
                await _wait_for_load(member, failed, polls, deadline)
                continue
            attempts += 1
            tried.append(member)
            now = loop.time()
            if not failed.retryable or attempts >= limit or now >= total:
                raise failed.error from failed.__cause__
            if pool.pick([*tried, *absent], model=model) is not None:
                continue  # another endpoint has not been tried yet: at once
            rounds += 1
            wait = failed.retry_after
            if wait is None:
                wait = backoff(rounds, ep.retry_wait_initial, ep.retry_wait_max)
            elif wait > ep.retry_after_max:
                raise failed.error from failed.__cause__  # a wait beyond the honoured limit: fail now, clearly
            if wait >= total - now:
                raise failed.error from failed.__cause__  # no attempt could start in time after it
            await asyncio.sleep(wait)
        except asyncio.CancelledError:
            pool.release(member, _no_answer(member) if deadline is not None and deadline.remaining() == 0 else None)
            raise
        except BaseException:
            pool.release(member, None)
            raise


def _no_answer(member: Member) -> GenerationError:
    """What an endpoint is counted for when the call's deadline passed before it answered."""
    return GenerationError(f"{member.endpoint.display_url} gave no answer before the call's deadline.")


def loading_reason(member: Member) -> str:
    """Why a call waits on ``member`` while it loads its model (the deadline's reason, quoted by the
    first-token error): kept until the server answers, even across the polls' resends."""
    return f"{member.endpoint.display_url} was still loading the model"


async def _wait_for_load(member: Member, failed: Failed, polls: int, deadline: Deadline | None) -> None:
    """Pause before polling a loading server again, telling the deadline why; ``TimeoutError`` once
    the deadline leaves no time to poll again (the adapter's first-token error then quotes why)."""
    ep = member.endpoint
    why = loading_reason(member)
    left = math.inf if deadline is None else deadline.remaining()
    if deadline is not None:
        deadline.waiting_for(why)
    if polls == 1:
        log.warning("%s; waiting for it (up to %.1f s)", why, left)
    wait = backoff(polls, ep.retry_wait_initial, LOADING_POLL_MAX)
    await asyncio.sleep(min(wait, left))
    if wait >= left:
        raise TimeoutError from failed
