"""The HTTP transport: one pooled httpx2 client, timeouts, retries, size caps, typed failures.

One ``Transport`` per backend instance. Its ``httpx2.AsyncClient`` is created on first use (so
building a backend opens nothing) and closed by ``aclose()``. Every failure leaves here as an
``ultra_llm`` error.

Timeouts (all in seconds, from ``Endpoint``): ``connect`` to open a connection; ``first token``
until a stream's first body bytes (a cold model load happens here); ``idle`` between two body
chunks of a stream; ``total`` for a whole request, retries included. httpx2's own read timeout is
off; the first-token, idle and total limits are event-loop deadlines around each network wait.

Retries (stamina: exponential backoff with jitter) on connection failures and on 408, 429 and
5xx answers, honouring ``Retry-After`` up to ``retry_after_max``; only before a response's
status is accepted, so never after a stream has started.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx2
import stamina

from ultra_llm.errors import (
    ConfigurationError,
    GenerationError,
    GenerationTimeoutError,
    ResponseTooLargeError,
    StreamInterruptedError,
    UltraLLMError,
)

from .error_map import BACKEND, RETRY_STATUSES, connection_error, error_from_body
from .parsing import parse_retry_after

if TYPE_CHECKING:
    from .settings import Endpoint

__all__ = ["ERROR_BODY_LIMIT", "EndpointFailure", "Reply", "Transport"]

# stamina logs each scheduled retry at WARNING on its own logger; with no logging configured,
# Python's last-resort handler would print that line to stderr under the CLI's one-line errors.
# A NullHandler stops only that fallback: an application's own handlers still receive the records.
if not logging.getLogger("stamina").handlers:
    logging.getLogger("stamina").addHandler(logging.NullHandler())

ERROR_BODY_LIMIT = 64 * 1024
"""Bytes of an error body kept (the rest is discarded unread)."""

_USER_AGENT = "ultra-llm-docker-api/0.1"
_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
_SSE_HEADERS = {"Content-Type": "application/json", "Accept": "text/event-stream"}


@dataclass(frozen=True)
class Reply:
    """A whole response: status and body (at most the size cap)."""

    status: int
    body: bytes


class _Retryable(Exception):
    """An attempt failed in a way worth retrying; ``error`` is what the caller sees if none is left."""

    def __init__(self, error: UltraLLMError, retry_after: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after


class EndpointFailure(Exception):
    """With ``failover=True``: this endpoint failed before answering (connection, 408/429/5xx, timeout).

    Another endpoint may serve the request; ``error`` is what the caller sees if none can.
    """

    def __init__(self, error: UltraLLMError) -> None:
        super().__init__(error.message)
        self.error = error


class Transport:
    """HTTP to one endpoint. ``request`` reads whole bodies; ``open`` + ``iter_body`` stream them."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._client: httpx2.AsyncClient | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def client(self) -> httpx2.AsyncClient:
        """The pooled client, created on first use."""
        if self._client is None:
            ep = self.endpoint
            limits = httpx2.Limits(
                max_connections=ep.max_connections,
                max_keepalive_connections=min(ep.max_connections, 32),
                keepalive_expiry=30.0,
            )
            headers = {"User-Agent": _USER_AGENT}
            if ep.api_key:
                headers["Authorization"] = f"Bearer {ep.api_key}"
            self._client = httpx2.AsyncClient(
                transport=httpx2.AsyncHTTPTransport(uds=ep.uds, limits=limits, retries=0),
                timeout=httpx2.Timeout(
                    connect=ep.connect_timeout,
                    read=None,
                    write=max(ep.connect_timeout, 30.0),
                    pool=ep.first_token_timeout,
                ),
                headers=headers,
                follow_redirects=False,
            )
        return self._client

    @property
    def started(self) -> bool:
        """True once the client exists (a request was made)."""
        return self._client is not None

    async def aclose(self) -> None:
        """Close the pool; the transport may be used again afterwards (a new pool is made)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    # -- requests -----------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        model: str | None = None,
        timeout: float | None = None,
        deadline: float | None = None,
        retry: bool = True,
        tolerate: frozenset[int] = frozenset(),
        failover: bool = False,
    ) -> Reply:
        """Send and read the whole answer (capped). A status >= 400 not in ``tolerate`` raises its typed error.

        Done by ``deadline`` (event-loop time: a request's own), else within ``timeout`` seconds, else
        the core's total timeout. ``failover=True`` (several endpoints): one attempt, and a failure
        another endpoint could avoid raises ``EndpointFailure`` instead of being retried here.
        """
        if deadline is None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + (timeout if timeout is not None else self.endpoint.total_timeout)
        headers = _JSON_HEADERS
        reply = await self._with_retries(
            lambda: self._attempt(method, url, body, headers, model, deadline, True, tolerate),
            deadline,
            retry and not failover,
            failover,
        )
        assert isinstance(reply, Reply)
        return reply

    async def open(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None,
        model: str | None,
        deadline: float,
        accept: str = "text/event-stream",
        retry: bool = True,
        failover: bool = False,
    ) -> httpx2.Response:
        """Send and return the open response once its status is 2xx (the caller must read or close it).

        ``deadline`` (event-loop time) bounds connecting, retrying and waiting for the status line.
        ``failover`` as for ``request``.
        """
        headers = _SSE_HEADERS if accept == "text/event-stream" else {**_JSON_HEADERS, "Accept": accept}
        response = await self._with_retries(
            lambda: self._attempt(method, url, body, headers, model, deadline, False, frozenset()),
            deadline,
            retry and not failover,
            failover,
        )
        assert isinstance(response, httpx2.Response)
        return response

    async def iter_body(
        self,
        response: httpx2.Response,
        *,
        first_deadline: float,
        total_deadline: float,
        cap: int | None = -1,
        what: str = "the stream",
    ) -> AsyncGenerator[bytes, None]:
        """Yield the body's chunks as they arrive, under the first-byte, idle and total deadlines.

        ``cap`` bounds the bytes received (``-1``: the endpoint's ``max_response_bytes``; ``None``:
        no bound). The response is closed when the iterator ends or is closed early.
        """
        loop = asyncio.get_running_loop()
        idle = self.endpoint.idle_timeout
        limit = self.endpoint.max_response_bytes if cap == -1 else cap
        received = 0
        deadline = min(first_deadline, total_deadline)
        first = True
        body = response.aiter_bytes()
        try:
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        part = await anext(body)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    raise self._timeout(first, deadline >= total_deadline, what) from None
                except httpx2.TransportError as exc:
                    raise StreamInterruptedError(
                        f"The connection dropped in the middle of {what} after {received} bytes "
                        f"({exc or type(exc).__name__}).",
                        backend=BACKEND,
                    ) from exc
                received += len(part)
                if limit is not None and received > limit:
                    raise ResponseTooLargeError(
                        f"{what.capitalize()} exceeded the {limit}-byte cap (ULTRA_LLM_DOCKER_API_MAX_RESPONSE_BYTES).",
                        backend=BACKEND,
                    )
                yield part
                if first:
                    first = False
                deadline = min(loop.time() + idle, total_deadline)
        finally:
            await body.aclose()
            await response.aclose()

    # -- internals ----------------------------------------------------------------------------

    def _timeout(self, first: bool, total: bool, what: str) -> GenerationTimeoutError:
        ep = self.endpoint
        if total:
            return GenerationTimeoutError(
                f"{what.capitalize()} took longer than the {ep.total_timeout:g} s total timeout.",
                timeout=ep.total_timeout,
                fix="Raise ULTRA_LLM_TIMEOUT (or Ultra's LOCAL_MODEL_TIMEOUT, in ms), or ask for less (max_tokens).",
                backend=BACKEND,
            )
        if first:
            return GenerationTimeoutError(
                f"No answer within the {ep.first_token_timeout:g} s first-token timeout from {ep.display_url}.",
                timeout=ep.first_token_timeout,
                fix="A cold model load takes tens of seconds: raise ULTRA_LLM_FIRST_TOKEN_TIMEOUT, "
                "or use a smaller model.",
                backend=BACKEND,
            )
        return GenerationTimeoutError(
            f"{what.capitalize()} stalled: nothing arrived for {ep.idle_timeout:g} s.",
            timeout=ep.idle_timeout,
            fix="Raise ULTRA_LLM_DOCKER_API_IDLE_TIMEOUT, or check the runner with `docker model logs`.",
            backend=BACKEND,
        )

    async def _with_retries(
        self,
        call: Callable[[], Awaitable[Reply | httpx2.Response]],
        deadline: float,
        retry: bool,
        failover: bool = False,
    ) -> Reply | httpx2.Response:
        """Run ``call`` (one attempt) under stamina's retry policy, within ``deadline``.

        The first attempt runs outside the retry machinery (the common case pays nothing for it);
        its failure is replayed as stamina's first attempt, so stamina alone decides every backoff.
        With ``failover`` there is one attempt and its endpoint-side failure is an ``EndpointFailure``.
        """
        ep = self.endpoint
        attempts = ep.retries if retry else 1
        try:
            return await call()
        except GenerationTimeoutError as exc:
            if failover:
                raise EndpointFailure(exc) from exc
            raise
        except _Retryable as exc:
            if failover:
                raise EndpointFailure(exc.error) from exc.__cause__
            if attempts == 1:
                raise exc.error from exc.__cause__
            replay: _Retryable | None = exc
        loop = asyncio.get_running_loop()

        def backoff(exc: Exception) -> bool | float:
            if not isinstance(exc, _Retryable):
                return False
            remaining = deadline - loop.time()
            wait = exc.retry_after
            if wait is None:
                return remaining > 0
            if wait > ep.retry_after_max or wait >= remaining:
                return False  # waiting that long cannot help within the limits: fail now, clearly
            return wait

        try:
            async for attempt in stamina.retry_context(
                on=backoff,
                attempts=attempts,
                timeout=max(0.001, deadline - loop.time()),
                wait_initial=ep.retry_wait_initial,
                wait_max=ep.retry_wait_max,
                wait_jitter=ep.retry_wait_initial,
            ):
                with attempt:
                    if replay is not None:
                        failure, replay = replay, None
                        raise failure
                    result: Reply | httpx2.Response = await call()
                    return result
        except _Retryable as exc:
            raise exc.error from exc.__cause__
        raise AssertionError("unreachable: stamina ended without a result or an exception")

    async def _attempt(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        model: str | None,
        deadline: float,
        whole: bool,
        tolerate: frozenset[int],
    ) -> Reply | httpx2.Response:
        ep = self.endpoint
        client = self.client
        try:
            request = client.build_request(method, url, content=body, headers=headers)
        except (httpx2.InvalidURL, httpx2.UnsupportedProtocol) as exc:
            raise ConfigurationError(
                f"MODEL_RUNNER_URL gives an unusable URL {url!r}: {exc}.", backend=BACKEND
            ) from exc
        try:
            async with asyncio.timeout_at(deadline):
                response = await client.send(request, stream=True)
                try:
                    status = response.status_code
                    if status >= 400 and status not in tolerate:
                        text = await _read_prefix(response, ERROR_BODY_LIMIT)
                        error = error_from_body(status, text, model=model, url=url, runner_layout=ep.runner_layout)
                        if status in RETRY_STATUSES:
                            raise _Retryable(error, parse_retry_after(response.headers.get("retry-after")))
                        raise error
                    if whole:
                        return Reply(status, await _read_capped(response, ep.max_response_bytes, url))
                except BaseException:
                    await response.aclose()
                    raise
                return response
        except TimeoutError:
            raise self._timeout(not whole, whole, f"the request to {url}") from None
        except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
            raise _Retryable(connection_error(ep.display_url, exc, runner_layout=ep.runner_layout)) from exc
        except httpx2.PoolTimeout as exc:
            raise GenerationTimeoutError(
                f"No free connection to {ep.display_url} within {ep.first_token_timeout:g} s "
                f"({ep.max_connections} in use).",
                timeout=ep.first_token_timeout,
                fix="Send fewer requests at once (each stream holds a connection while it runs), or spread "
                "them over several runners (comma-separated MODEL_RUNNER_URL).",
                backend=BACKEND,
            ) from exc
        except (httpx2.RemoteProtocolError, httpx2.ReadError, httpx2.WriteError) as exc:
            raise _Retryable(
                StreamInterruptedError(
                    f"The connection to {ep.display_url} dropped before the answer was complete "
                    f"({exc or type(exc).__name__}).",
                    backend=BACKEND,
                )
            ) from exc
        except httpx2.HTTPError as exc:
            raise GenerationError(
                f"HTTP failure talking to {ep.display_url}: {type(exc).__name__}: {exc}", backend=BACKEND
            ) from exc


async def _read_capped(response: httpx2.Response, cap: int, url: str) -> bytes:
    """The whole body; ``ResponseTooLargeError`` as soon as it passes ``cap`` bytes (or says it will)."""
    length = response.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > cap:
        raise ResponseTooLargeError(
            f"The response from {url} is {int(length)} bytes, over the {cap}-byte cap "
            "(ULTRA_LLM_DOCKER_API_MAX_RESPONSE_BYTES).",
            backend=BACKEND,
        )
    parts: list[bytes] = []
    size = 0
    async for part in response.aiter_bytes():
        size += len(part)
        if size > cap:
            raise ResponseTooLargeError(
                f"The response from {url} exceeded the {cap}-byte cap (ULTRA_LLM_DOCKER_API_MAX_RESPONSE_BYTES).",
                backend=BACKEND,
            )
        parts.append(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


async def _read_prefix(response: httpx2.Response, limit: int) -> bytes:
    """At most ``limit`` bytes of the body (an error body need not be read whole)."""
    parts: list[bytes] = []
    size = 0
    try:
        async for part in response.aiter_bytes():
            parts.append(part)
            size += len(part)
            if size >= limit:
                break
    except httpx2.HTTPError:
        pass
    return b"".join(parts)[:limit]
