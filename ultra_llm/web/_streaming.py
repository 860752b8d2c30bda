"""Server-sent events and client disconnects: the response that cancels its producer.

``EventStreamResponse`` sends an async iterator of SSE frames and watches the connection at the
same time: when the client goes away it cancels the sender and closes the iterator, so the
generation (and the backend's process or request) behind it is cancelled at once, whatever ASGI
server runs it. ``run_until_disconnect`` does the same for a coroutine answered in one piece.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import Any, TypeVar

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["SSE_HEADERS", "ClientDisconnected", "EventStreamResponse", "run_until_disconnect", "sse_frame"]

T = TypeVar("T")

SSE_HEADERS: Mapping[str, str] = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class ClientDisconnected(Exception):
    """The HTTP client went away before the answer was ready."""


def sse_frame(event: str, data: Mapping[str, Any]) -> bytes:
    """One SSE frame: ``event: <event>`` and one ``data:`` line of compact JSON, then a blank line.

    Text UTF-8 cannot carry (a lone surrogate) is sent ``\\u``-escaped, never cutting the stream."""
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    try:
        return f"event: {event}\ndata: {payload}\n\n".encode()
    except UnicodeEncodeError:
        payload = json.dumps(data, separators=(",", ":"))
        return f"event: {event}\ndata: {payload}\n\n".encode()


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def run_until_disconnect(receive: Receive, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable``; if the client disconnects first, cancel it and raise ``ClientDisconnected``.

    Call only after the request body was read (FastAPI reads it before the endpoint runs).
    """
    work: asyncio.Future[T] = asyncio.ensure_future(awaitable)
    watcher: asyncio.Future[None] = asyncio.ensure_future(_wait_for_disconnect(receive))
    futures: set[asyncio.Future[Any]] = {work, watcher}
    try:
        await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
        if work.done():
            return work.result()
        raise ClientDisconnected
    finally:
        for future in futures:
            if not future.done():
                future.cancel()
        for future in futures:
            with contextlib.suppress(BaseException):
                await future


class EventStreamResponse(Response):
    """A ``text/event-stream`` response over ``frames`` that cancels them when the client disconnects.

    The iterator is always closed (``aclose``) when the response ends, completed or not.
    """

    media_type = "text/event-stream"

    def __init__(self, frames: AsyncIterator[bytes], *, status_code: int = 200) -> None:
        self.frames = frames
        self.status_code = status_code
        self.background = None
        self.init_headers(SSE_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def produce() -> None:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            async for frame in self.frames:
                await send({"type": "http.response.body", "body": frame, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        producer = asyncio.ensure_future(produce())
        watcher = asyncio.ensure_future(_wait_for_disconnect(receive))
        try:
            await asyncio.wait({producer, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if producer.done():
                producer.result()
        finally:
            for task in (producer, watcher):
                if not task.done():
                    task.cancel()
            for task in (producer, watcher):
                with contextlib.suppress(BaseException):
                    await task
            aclose = getattr(self.frames, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
