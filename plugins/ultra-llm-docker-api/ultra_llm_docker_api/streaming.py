"""One streamed chat completion from one endpoint: the open response to ``Chunk`` values.

``chunks`` reads server-sent events (httpx2's ``EventSource``, through the transport's deadlines
and cap) to ``[DONE]``; a server that ignored ``stream`` and answered whole gives its answer as
chunks. The first event that names a model is checked against the one asked for (``model_check``)
before any chunk is given. Before the first body byte a failure is ``Failed`` (the attempt loop may
send the request again); after it, a typed error.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator
from typing import cast

import httpx2

from ultra_llm.errors import GenerationError, StreamInterruptedError, UltraLLMError
from ultra_llm.plugin import Chunk

from .error_map import BACKEND, error_from_body
from .model_check import check_answering_model
from .parsing import (
    DONE,
    MalformedResponse,
    StreamError,
    answering_model,
    chunks_from_event,
    completion_from_body,
    load_json,
)
from .pool import Member
from .tool_calls import as_deltas

__all__ = ["chunks", "malformed"]


def malformed(exc: MalformedResponse | httpx2.SSEError, url: str) -> GenerationError:
    """The error for an answer that is not the shape the protocol promises."""
    return GenerationError(
        f"The server at {url} sent a malformed answer: {exc}",
        output=str(exc),
        fix="Check that MODEL_RUNNER_URL and ULTRA_LLM_DOCKER_API_PATH point at an OpenAI-compatible API.",
        backend=BACKEND,
    )


async def chunks(member: Member, response: httpx2.Response, *, model: str, url: str) -> AsyncGenerator[Chunk, None]:
    """The chunks of ``response`` (closed when the generator ends or is closed)."""
    transport = member.transport
    if not response.headers.get("content-type", "").startswith("text/event-stream"):
        async for chunk in _whole(member, response, model=model, url=url):
            yield chunk
        return
    events = transport.events(response)
    checked = done = finished = False
    stream = cast(AsyncGenerator[httpx2.ServerSentEvent, None], aiter(events))
    try:
        try:
            async for event in stream:
                if event.data == DONE.decode():
                    done = True
                    break
                try:
                    parsed = load_json(event.data, "a stream event")
                    if not checked and (named := answering_model(parsed)) is not None:
                        await check_answering_model(member, model, named)
                        checked = True
                    parts = chunks_from_event(parsed)
                except MalformedResponse as exc:
                    raise malformed(exc, url) from None
                except StreamError as exc:
                    body = json.dumps(exc.body).encode()
                    raise error_from_body(0, body, model=model, url=url, kind=transport.kind) from None
                for chunk in parts:
                    finished = finished or chunk.finish_reason is not None
                    yield chunk
            if done:
                # Read the body's end (the terminating chunk follows [DONE] at once) so the
                # connection goes back to the pool instead of being closed.
                with contextlib.suppress(UltraLLMError, httpx2.SSEError):
                    async for _ in stream:
                        pass
        except httpx2.SSEError as exc:  # an event over the size bound
            raise malformed(exc, url) from None
    finally:
        await stream.aclose()
        await events.response.aclose()  # closes the connection unless the body was read to its end
    if not done and not finished:
        raise StreamInterruptedError(
            f"The stream from {url} ended before it was complete (no finish reason, no [DONE]).",
            backend=BACKEND,
        )


async def _whole(member: Member, response: httpx2.Response, *, model: str, url: str) -> AsyncGenerator[Chunk, None]:
    """A server that ignored ``stream``: its whole answer as chunks."""
    parts = member.transport.iter_body(response, what="the answer")
    body = b"".join([part async for part in parts])
    try:
        completion = completion_from_body(load_json(body, "the completion"))
    except MalformedResponse as exc:
        raise malformed(exc, url) from None
    await check_answering_model(member, model, completion.model)
    if completion.reasoning:
        yield Chunk(completion.reasoning, kind="reasoning")
    if completion.text:
        yield Chunk(completion.text)
    if completion.tool_calls:  # as pieces, like a stream's: the adapter assembles them
        yield Chunk("", tool_call_deltas=tuple(as_deltas(completion.tool_calls)))
    yield Chunk("", finish_reason=completion.finish_reason, usage=completion.usage)
