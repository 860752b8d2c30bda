"""HTTP to one endpoint: one pooled httpx2 client, one attempt at a time, its own limits, size caps.

One ``Transport`` per endpoint. Its ``httpx2.AsyncClient`` is created on first use (so building a
backend opens nothing) and closed by ``aclose()``. Each method makes one attempt and never retries:
a failure another attempt could mend leaves as ``Failed`` with its flags (see ``faults``), any
other as its typed ``ultra_llm`` error; ``request_path`` owns every retry decision.

Its limits are the endpoint's own named settings: connecting (``connect_timeout``) and the idle
limit between two chunks of a body (``idle_timeout``, or ``pull_idle_timeout`` for a pull, from its
start). The call's total and first-token deadlines are the adapter's (``ultra_llm._deadline``): it
cancels a wait that outlives them, so nothing here keeps a clock of its own for them. httpx2's read,
write and pool timeouts are off.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx2

from ultra_llm.errors import (
    ConfigurationError,
    GenerationError,
    GenerationTimeoutError,
    ResponseTooLargeError,
    StreamInterruptedError,
    UltraLLMError,
    UnsupportedOperationError,
)
from ultra_llm.plugin import redact_logger, redact_urls

from .error_map import (
    BACKEND,
    RETRY_STATUSES,
    connection_error,
    error_from_body,
    is_loading,
    server_log_hint,
)
from .faults import Failed
from .idle_watch import IdleWatch
from .parsing import parse_retry_after
from .server_kind import ServerKind, kind_from_headers

if TYPE_CHECKING:
    from .settings import Endpoint

__all__ = ["ERROR_BODY_LIMIT", "MAX_EVENT_BYTES", "Reply", "Transport", "error_of"]

ERROR_BODY_LIMIT = 64 * 1024
"""Bytes of an error body kept (the rest is discarded unread)."""
MAX_EVENT_BYTES = 1024 * 1024
"""The largest server-sent event accepted (httpx2's ``EventSource`` enforces it)."""

_USER_AGENT = "ultra-llm-docker-api/0.3"
_JSON = "application/json"
_SSE = "text/event-stream"


@dataclass(frozen=True)
class Reply:
    """A whole response: status and body (at most the size cap)."""

    status: int
    body: bytes


class _ConnectionWatch:
    """httpx2's ``trace`` extension for one request: notes whether it opened a new connection."""

    __slots__ = ("fresh",)

    def __init__(self) -> None:
        self.fresh = False

    async def __call__(self, event: str, info: Mapping[str, Any]) -> None:
        if event.startswith("connection.connect_"):
            self.fresh = True


class _Body(httpx2.AsyncByteStream):
    """An async byte iterator as a response stream (for httpx2's ``EventSource``)."""

    def __init__(self, parts: AsyncGenerator[bytes, None]) -> None:
        self._parts = parts

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._parts

    async def aclose(self) -> None:
        await self._parts.aclose()


class Transport:
    """HTTP to one endpoint: ``send`` (status accepted), ``request`` (whole body), ``iter_body``/``events``."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.kind = ServerKind.DMR if endpoint.runner_layout else ServerKind.OPENAI
        """The server kind, for fix texts: from the layout, then from the first answer's headers."""
        self._client: httpx2.AsyncClient | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def client(self) -> httpx2.AsyncClient:
        """The pooled client, created on first use (httpx2's request log lines masked from then on)."""
        if self._client is None:
            redact_logger("httpx2")  # its INFO line prints each request's URL
            ep = self.endpoint
            limits = httpx2.Limits(
                max_connections=ep.max_connections,
                max_keepalive_connections=min(ep.max_connections, 32),
                keepalive_expiry=30.0,
            )
            headers = {"User-Agent": _USER_AGENT}
            if ep.authorization:
                headers["Authorization"] = ep.authorization
            self._client = httpx2.AsyncClient(
                transport=httpx2.AsyncHTTPTransport(uds=ep.uds, limits=limits, retries=0),
                timeout=httpx2.Timeout(connect=ep.connect_timeout, read=None, write=None, pool=None),
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

    # -- one attempt --------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        model: str | None = None,
        tolerate: frozenset[int] = frozenset(),
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """One attempt, the whole answer read (capped); a status >= 400 not in ``tolerate`` raises."""
        response = await self.send(
            method, url, body=body, model=model, tolerate=tolerate, accept=_JSON, headers=headers
        )
        try:
            return Reply(response.status_code, await self._read_capped(response, url))
        except (httpx2.RemoteProtocolError, httpx2.ReadError) as exc:
            raise self._dropped(exc, "before the answer was complete", retryable=True) from exc
        finally:
            await response.aclose()

    async def probe(self, url: str) -> Reply:
        """``GET url`` within the check timeout (``ULTRA_LLM_CHECK_TIMEOUT``): an availability or health check."""
        ep = self.endpoint
        try:
            async with asyncio.timeout(ep.check_timeout):
                return await self.request("GET", url)
        except TimeoutError:
            raise GenerationTimeoutError(
                f"{ep.display_url} did not answer a check within {ep.check_timeout:g} s (ULTRA_LLM_CHECK_TIMEOUT).",
                timeout=ep.check_timeout,
                fix=f"Raise ULTRA_LLM_CHECK_TIMEOUT if it is busy, or {server_log_hint(self.kind)}.",
                backend=BACKEND,
            ) from None

    async def send(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        model: str | None = None,
        accept: str = _SSE,
        tolerate: frozenset[int] = frozenset(),
        headers: Mapping[str, str] | None = None,
    ) -> httpx2.Response:
        """One attempt: the open response once its status is 2xx (or in ``tolerate``); the caller closes it.

        ``headers`` are sent besides the usual ones (the runner's ``X-Preload-Only``).
        """
        ep = self.endpoint
        client = self.client
        watch = _ConnectionWatch()
        try:
            request = client.build_request(
                method,
                url,
                content=body,
                headers={"Content-Type": _JSON, "Accept": accept, **(headers or {})},
                extensions={"trace": watch},
            )
        except (httpx2.InvalidURL, httpx2.UnsupportedProtocol) as exc:
            raise ConfigurationError(
                redact_urls(f"MODEL_RUNNER_URL gives an unusable URL {url!r}: {exc}."), backend=BACKEND
            ) from exc
        try:
            response = await client.send(request, stream=True)
            if self.kind is ServerKind.OPENAI:
                self.kind = kind_from_headers(response.headers) or ServerKind.OPENAI
            status = response.status_code
            if status < 300 or status in tolerate:
                return response
            if status < 400:
                await response.aclose()
                raise self._redirected(status, response.headers.get("location"))
            try:
                text = await _read_prefix(response, ERROR_BODY_LIMIT)
            finally:
                await response.aclose()
        except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
            error = connection_error(ep.display_url, exc, kind=self.kind)
            raise Failed(error, retryable=True, endpoint_fault=True) from exc
        except (httpx2.RemoteProtocolError, httpx2.ReadError, httpx2.WriteError) as exc:
            # No status line came back. On a reused keep-alive connection this is the server having
            # closed it meanwhile (llama-server does after every stream): the request never ran.
            raise self._dropped(exc, "before answering", retryable=True, stale=not watch.fresh) from exc
        except httpx2.HTTPError as exc:
            raise GenerationError(
                f"HTTP failure talking to {ep.display_url}: {type(exc).__name__}: {exc}", backend=BACKEND
            ) from exc
        error = error_from_body(status, text, model=model, url=url, kind=self.kind)
        if status not in RETRY_STATUSES or isinstance(error, UnsupportedOperationError):
            raise error  # a feature the engine refused (a 500 from llama-server) fails again anywhere
        loading = is_loading(status, text)
        raise Failed(
            error,
            retryable=True,
            endpoint_fault=not loading,  # loading is the server getting ready, not failing
            loading=loading,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )

    def _redirected(self, status: int, location: str | None) -> ConfigurationError:
        """A 3xx is never followed: the runner's API does not redirect, so the URL points elsewhere."""
        where = f" to {redact_urls(location)}" if location else ""
        return ConfigurationError(
            f"{self.endpoint.display_url} answered {status}, a redirect{where}: it is not the runner's API.",
            fix="Point MODEL_RUNNER_URL at the runner itself (check http vs https, the port and the path).",
            backend=BACKEND,
        )

    async def iter_body(
        self,
        response: httpx2.Response,
        *,
        pull: bool = False,
        cap: int | None = -1,
        what: str = "the stream",
    ) -> AsyncGenerator[bytes, None]:
        """Yield the body's chunks as they arrive, each within the endpoint's ``idle_timeout`` of the
        one before (the wait for the first is the call's deadline's, which the adapter keeps); for a
        ``pull``, every one, the first included, within ``pull_idle_timeout``.

        Before the first byte a drop raises ``Failed`` (nothing was delivered: the request may go
        again); afterwards its typed error, as is an idle stall. ``cap`` bounds the bytes received
        (``-1``: the endpoint's ``max_response_bytes``; ``None``: no bound). The response is closed at
        the end.
        """
        ep = self.endpoint
        watch = IdleWatch(ep.pull_idle_timeout if pull else ep.idle_timeout)
        limit = ep.max_response_bytes if cap == -1 else cap
        received = 0
        body = response.aiter_bytes()
        try:
            while True:
                try:
                    part = await (watch.read(body) if received or pull else anext(body))
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    raise self.stalled(what, pull=pull) from None
                except httpx2.TransportError as exc:
                    if not received:
                        raise self._dropped(exc, f"before the first byte of {what}", retryable=True) from exc
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
        finally:
            watch.close()
            await body.aclose()
            await response.aclose()

    def events(self, response: httpx2.Response) -> httpx2.EventSource:
        """The response's server-sent events (httpx2's decoder, each at most ``MAX_EVENT_BYTES``), read
        through ``iter_body``'s idle limit and cap. ``httpx2.SSEError``: an event over the bound."""
        body = _Body(self.iter_body(response))
        framed = httpx2.Response(
            response.status_code, headers={"content-type": _SSE}, stream=body, request=response.request
        )
        return httpx2.EventSource(framed, max_event_size=MAX_EVENT_BYTES)

    # -- errors -------------------------------------------------------------------------------

    def stalled(self, what: str, *, pull: bool = False) -> GenerationTimeoutError:
        """The error for nothing arriving on ``what`` for the endpoint's own idle limit
        (``ULTRA_LLM_DOCKER_API_IDLE_TIMEOUT``, or for a ``pull`` ``_PULL_IDLE_TIMEOUT``)."""
        idle = self.endpoint.pull_idle_timeout if pull else self.endpoint.idle_timeout
        setting = "ULTRA_LLM_DOCKER_API_PULL_IDLE_TIMEOUT" if pull else "ULTRA_LLM_DOCKER_API_IDLE_TIMEOUT"
        return GenerationTimeoutError(
            f"{what.capitalize()} stalled: nothing arrived for {idle:g} s ({setting}).",
            timeout=idle,
            fix=f"Raise {setting}, or {server_log_hint(self.kind)}.",
            backend=BACKEND,
        )

    def _dropped(self, exc: BaseException, when: str, *, retryable: bool, stale: bool = False) -> Failed:
        error = StreamInterruptedError(
            f"The connection to {self.endpoint.display_url} dropped {when} ({exc or type(exc).__name__}).",
            backend=BACKEND,
        )
        return Failed(error, retryable=retryable, endpoint_fault=not stale, stale=stale)

    async def _read_capped(self, response: httpx2.Response, url: str) -> bytes:
        """The whole body; ``ResponseTooLargeError`` as soon as it passes the cap (or says it will)."""
        cap = self.endpoint.max_response_bytes
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


def error_of(exc: Failed | UltraLLMError) -> UltraLLMError:
    """The caller-facing error of a one-attempt call (health checks, per-endpoint pulls and removals)."""
    return exc.error if isinstance(exc, Failed) else exc


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
