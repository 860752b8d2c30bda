"""Pure ASGI middlewares of the standalone app: a request body cap and a Host header check.

Pure ASGI (no ``BaseHTTPMiddleware``) so streamed responses and disconnects pass straight through.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimitMiddleware", "HostCheckMiddleware"]


async def _send_error(send: Send, status: int, error: str, message: str, fix: str) -> None:
    body = json.dumps({"error": error, "message": message, "fix": fix, "backend": None, "status": status}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


class _BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Answer 413 to a request whose body exceeds ``max_bytes``: at once when ``Content-Length`` says
    so, else as soon as the streamed (chunked) body crosses the cap, without reading the rest."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, send: Send) -> None:
        await _send_error(
            send,
            413,
            "RequestTooLarge",
            f"The request body is larger than {self.max_bytes} bytes.",
            "Send a smaller body, or raise ULTRA_LLM_WEB_MAX_BODY_BYTES (ultra-llm serve --max-body-bytes).",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_large = int(value) > self.max_bytes
                except ValueError:
                    too_large = False
                if too_large:
                    await self._reject(send)
                    return
        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                if not started:
                    started = True
                    await self._reject(send)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _BodyTooLarge:
            if not started:
                started = True
                await self._reject(send)


def _host_name(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):
        return value[: value.find("]") + 1] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class HostCheckMiddleware:
    """Refuse (400) requests whose ``Host`` header is not one of ``allowed``: a page on another site
    cannot reach a loopback server through DNS rebinding."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(_host_name(host) for host in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"host"), "")
            if _host_name(host) not in self.allowed:
                await _send_error(
                    send,
                    400,
                    "HostNotAllowed",
                    f"Host header {host!r} is not allowed on this server.",
                    "Open the console at http://127.0.0.1:<port>/, or list the name in ULTRA_LLM_WEB_ALLOWED_HOSTS, "
                    "or set ULTRA_LLM_WEB_TOKEN.",
                )
                return
        await self.app(scope, receive, send)
