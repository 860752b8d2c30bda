"""A canned OpenAI-compatible engine: answers chat completions at once, for any model, in llama-server's shapes.

For tests and benchmarks of what sits in front of an engine (``DMRProxy``'s scheduling, clients) that
need neither the real ``llama-server`` nor its generation time. Loopback only, on its own event loop
in a thread (``ultra_llm.testing.scripted_server.ScriptedServer``, kept-alive connections).

- ``POST /v1/chat/completions``: the ``reply`` text, cut at ``max_tokens`` (or ``max_completion_tokens``)
  words, whole or streamed (``"stream": true``), after ``delay`` seconds (settable at any time).
- ``GET /health`` -> ``{"status":"ok"}``; ``GET /v1/models`` -> the alias in the OpenAI list shape.
- Anything else: 404 ``{"error": {"message": "File Not Found", ...}}``; a body that is not JSON: 500
  ``server_error``; ``messages`` not an array: 400 ``invalid_request_error``.

The shapes are llama.cpp's ``tools/server/server-task.cpp`` (read at 00efb3e1, the same in the b9878
build the real-engine tests run, whose raw answers these were checked against):
``server_task_result_cmpl_final::to_json_oaicompat_chat`` (``choices[{finish_reason, index,
message{role, content}}]``, ``created``, ``model``, ``system_fingerprint``, ``object``
``chat.completion``, ``usage{completion_tokens, prompt_tokens, total_tokens}``, ``id``, ``timings``;
``finish_reason`` ``length`` unless the answer ended); streamed, the partial results'
``to_json_oaicompat_chat`` (a first ``delta{role: assistant, content: null}``, then ``delta{content}``
per token, ``object`` ``chat.completion.chunk``) and ``to_json_oaicompat_chat_stream`` (a last chunk
with ``finish_reason`` and ``delta{}``, then, with ``stream_options.include_usage``, one with
``choices: []`` and ``usage``; ``timings`` on the last one), each as ``data: <json>`` and a blank line,
ending with ``data: [DONE]``. The ``model`` answered is the engine's alias whatever the request named,
as llama-server does; b9878 adds ``usage.prompt_tokens_details.cached_tokens``, reproduced as 0.
Token counts are words, not a tokenizer's.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import string
import time
from typing import Any

from ultra_llm.testing.scripted_server import ScriptedServer, SeenRequest

__all__ = ["CannedEngine"]

_FINGERPRINT = "b9878-b9878"
_ID_ALPHABET = string.ascii_letters + string.digits


class CannedEngine:
    """A llama-server look-alike answering every chat completion with ``reply``.

    ``model`` is the alias it reports; ``delay`` the seconds each request waits before its answer
    (a generation's length, for scheduling tests). ``requests`` lists the JSON bodies of the chat
    completions it answered; ``active`` and ``max_active`` count those in flight, now and at most.
    """

    def __init__(self, *, model: str = "ai/tiny", reply: str = "Hello from the canned engine.", delay: float = 0.0):
        self.model = model
        self.reply = reply
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        self.active = 0
        self.max_active = 0
        self._server = ScriptedServer(self._handle, keep_alive=True)

    @property
    def base_url(self) -> str:
        """The engine root, ``http://127.0.0.1:PORT`` (what ``DMRProxy`` takes)."""
        return self._server.url

    @property
    def url(self) -> str:
        """The OpenAI base, ``http://127.0.0.1:PORT/v1``."""
        return self._server.url + "/v1"

    def start(self) -> CannedEngine:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> CannedEngine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- HTTP -------------------------------------------------------------------------------

    async def _handle(self, request: SeenRequest, writer: asyncio.StreamWriter) -> None:
        keep = request.headers.get("connection", "").lower() != "close"
        path = request.path.split("?", 1)[0]
        if request.method == "GET" and path == "/health":
            await self._json(writer, 200, {"status": "ok"}, keep)
        elif request.method == "GET" and path in ("/v1/models", "/models"):
            entry = {"id": self.model, "object": "model", "created": int(time.time()), "owned_by": "llamacpp"}
            await self._json(writer, 200, {"object": "list", "data": [entry]}, keep)
        elif request.method == "POST" and path in ("/v1/chat/completions", "/chat/completions"):
            await self._chat(request, writer, keep)
        else:
            error = {"message": "File Not Found", "type": "not_found_error", "code": 404}
            await self._json(writer, 404, {"error": error}, keep)
        if not keep:
            writer.close()

    @staticmethod
    async def _json(writer: asyncio.StreamWriter, status: int, value: Any, keep: bool) -> None:
        body = json.dumps(value, separators=(",", ":")).encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}[status]
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nConnection: {'keep-alive' if keep else 'close'}\r\n"
            f"Content-Type: application/json; charset=utf-8\r\nServer: llama.cpp\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()

    async def _chat(self, request: SeenRequest, writer: asyncio.StreamWriter, keep: bool) -> None:
        try:
            body = json.loads(request.body)
            if not isinstance(body, dict):
                raise ValueError("the body is not a JSON object")
        except ValueError as exc:
            await self._json(writer, 500, {"error": {"code": 500, "message": str(exc), "type": "server_error"}}, keep)
            return
        messages = body.get("messages")
        if not isinstance(messages, list):
            error = {"code": 400, "message": "Expected 'messages' to be an array", "type": "invalid_request_error"}
            await self._json(writer, 400, {"error": error}, keep)
            return
        self.requests.append(body)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if self.delay > 0:
                await asyncio.sleep(self.delay)
            await self._answer(body, messages, writer, keep)
        finally:
            self.active -= 1

    async def _answer(
        self, body: dict[str, Any], messages: list[Any], writer: asyncio.StreamWriter, keep: bool
    ) -> None:
        tokens = re.findall(r"\s*\S+", self.reply)
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        if isinstance(limit, int) and not isinstance(limit, bool) and 0 <= limit < len(tokens):
            tokens, finish = tokens[:limit], "length"
        else:
            finish = "stop"
        prompt = sum(len(str(m.get("content", "")).split()) + 4 for m in messages if isinstance(m, dict))
        usage = {
            "completion_tokens": len(tokens),
            "prompt_tokens": prompt,
            "total_tokens": len(tokens) + prompt,
            "prompt_tokens_details": {"cached_tokens": 0},
        }
        timings = {
            "cache_n": 0,
            "prompt_n": prompt,
            "prompt_ms": 0.1,
            "prompt_per_token_ms": 0.1 / max(prompt, 1),
            "prompt_per_second": max(prompt, 1) / 0.0001,
            "predicted_n": len(tokens),
            "predicted_ms": 0.1,
            "predicted_per_token_ms": 0.1 / max(len(tokens), 1),
            "predicted_per_second": max(len(tokens), 1) / 0.0001,
        }
        created = int(time.time())
        ident = "chatcmpl-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(32))
        if not body.get("stream"):
            message = {"role": "assistant", "content": "".join(tokens)}
            answer = {
                "choices": [{"finish_reason": finish, "index": 0, "message": message}],
                "created": created,
                "model": self.model,
                "system_fingerprint": _FINGERPRINT,
                "object": "chat.completion",
                "usage": usage,
                "id": ident,
                "timings": timings,
            }
            await self._json(writer, 200, answer, keep)
            return
        writer.write(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Accel-Buffering: no\r\nServer: llama.cpp\r\n"
            + f"Connection: {'keep-alive' if keep else 'close'}\r\nContent-Type: text/event-stream\r\n\r\n".encode()
        )

        def chunk(choices: list[Any], **extra: Any) -> dict[str, Any]:
            return {
                "choices": choices,
                "created": created,
                "id": ident,
                "model": self.model,
                "system_fingerprint": _FINGERPRINT,
                "object": "chat.completion.chunk",
                **extra,
            }

        events = [chunk([{"finish_reason": None, "index": 0, "delta": {"role": "assistant", "content": None}}])]
        events += [chunk([{"finish_reason": None, "index": 0, "delta": {"content": t}}]) for t in tokens]
        events.append(chunk([{"finish_reason": finish, "index": 0, "delta": {}}]))
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            events.append(chunk([], usage=usage))
        events[-1]["timings"] = timings
        for event in events:
            await self._send(writer, b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n")
        await self._send(writer, b"data: [DONE]\n\n")
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(b"%x\r\n%s\r\n" % (len(data), data))
        await writer.drain()
