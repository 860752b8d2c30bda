"""A loopback HTTP/1.1 server for fault tests: each request is answered by a scripted async handler.

The handler gets the parsed request and the raw ``asyncio.StreamWriter``, so it can misbehave at
will: stall, drop the connection mid-body, send malformed framing. Runs on its own event loop in
a thread; ``stop`` closes every connection and joins the thread. Every connection is closed after
its one request (``Connection: close``), unless the server is built with ``keep_alive=True``: then
it reads further requests on a connection until the handler closes it or the client goes away
(``SeenRequest.connection`` and ``.on_connection`` say which connection, and which request on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Handler", "ScriptedServer", "SeenRequest", "chunked", "send_json", "send_text", "sse_head"]


@dataclass
class SeenRequest:
    """A request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    connection: int = 0
    """Which connection (1, 2, ... in the order they were accepted) carried the request."""
    on_connection: int = 1
    """Which request on that connection it was (1 for the first)."""

    def json(self) -> Any:
        return json.loads(self.body)


Handler = Callable[[SeenRequest, asyncio.StreamWriter], Awaitable[None]]


async def send_text(
    writer: asyncio.StreamWriter, status: int, text: str | bytes, *, keep_alive: bool = False, **headers: str
) -> None:
    """A whole response with ``Content-Length`` (``text/plain`` unless a ``content_type`` is given);
    further ``headers`` as ``retry_after="1"`` (underscores become dashes)."""
    body = text.encode() if isinstance(text, str) else text
    content_type = headers.pop("content_type", "text/plain; charset=utf-8")
    extra = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    writer.write(
        f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n{extra}\r\n".encode()
        + body
    )
    await writer.drain()


async def send_json(
    writer: asyncio.StreamWriter, status: int, value: Any, *, keep_alive: bool = False, **headers: str
) -> None:
    """A whole JSON response."""
    text = json.dumps(value)
    await send_text(writer, status, text, content_type="application/json", keep_alive=keep_alive, **headers)


def sse_head(content_type: str = "text/event-stream", *, keep_alive: bool = False, server: str | None = None) -> bytes:
    """The head of a chunked streaming response (``server``: a ``Server`` header to send)."""
    extra = f"Server: {server}\r\n" if server else ""
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n{extra}\r\n"
    ).encode()


def chunked(data: bytes) -> bytes:
    """``data`` as one HTTP chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)


@dataclass
class ScriptedServer:
    """Serve ``handler`` on 127.0.0.1; ``requests`` lists what arrived, ``errors`` handler failures."""

    handler: Handler
    keep_alive: bool = False
    requests: list[SeenRequest] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    disconnects: int = 0
    connections: int = 0
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def open_connections(self) -> int:
        """Connections whose handler has not finished yet (each holds a socket of this process)."""
        return len(self._writers)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> ScriptedServer:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop

            async def serve() -> None:
                self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
                self.port = self._server.sockets[0].getsockname()[1]

            loop.run_until_complete(serve())
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            if tasks:  # closed connections end their handlers (a kept-alive one waits for a request)
                await asyncio.wait(tasks, timeout=0.2)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._server.wait_closed()
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        thread.join(10)
        self._loop = self._thread = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        self.connections += 1
        number = self.connections
        try:
            on_connection = 0
            while on_connection == 0 or (self.keep_alive and not writer.is_closing()):
                on_connection += 1
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError as exc:
                    if on_connection > 1 and not exc.partial:
                        return  # the client closed a kept-alive connection between requests
                    raise
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if line:
                        key, _, value = line.partition(":")
                        headers[key.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = SeenRequest(method, path, headers, body, number, on_connection)
                self.requests.append(request)
                await self.handler(request, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            self.disconnects += 1
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # recorded for the test to see
            self.errors.append(exc)
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()
