"""The API router Ultra mounts under its own prefix: backends, doctor, models, pull, remove, generate, embeddings.

``create_router()`` returns a FastAPI ``APIRouter``. Every route answers a typed ultra-llm error
with its HTTP status (see ``ultra_llm.web._errors``) and an ``ErrorBody``; streamed routes (pull,
``generate`` with ``stream: true``) send server-sent events and, once streaming, report errors as
an ``event: error`` frame. A client that disconnects cancels the work behind its request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException
from starlette.responses import Response

from .._deadline import CONFIGURED
from .._json_depth import MAX_JSON_DEPTH, JSONDepthError
from .._options import check_caller_options
from .._structured import to_json_value
from ..errors import ConfigurationError, InvalidOptionsError, UltraLLMError
from ._errors import TextSafeJSONResponse, WebError, error_body, schema_pointer
from ._schemas import (
    BackendsResponse,
    ChunkEvent,
    DoctorResponse,
    DoneEvent,
    EmbeddingsRequest,
    EmbeddingsResponse,
    ErrorBody,
    FanOutResponse,
    GenerateRequest,
    GenerateResponse,
    ModelsResponse,
    NamedToolChoice,
    ProgressEvent,
    PullDoneEvent,
    PullRequest,
    RemoveResponse,
)
from ._service import WebService
from ._streaming import ClientDisconnected, EventStreamResponse, run_until_disconnect, sse_frame

if TYPE_CHECKING:
    from .._adapter import Adapter
    from .._batch import BatchItem
    from .._fan_out import FanOutEvent
    from .._types import Chunk, Progress

__all__ = ["ERROR_RESPONSES", "create_router"]

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "model": ErrorBody,
        "description": description,
        # JSON on the streamed routes too: an error before the first event is a plain JSON answer
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
    for status, description in {
        401: "Missing or wrong bearer token.",
        404: "Unknown model or backend.",
        413: "The request body is larger than the server's cap (ULTRA_LLM_WEB_MAX_BODY_BYTES).",
        422: "Invalid options, model name, request body or configuration.",
        500: "A plugin failed.",
        501: "The backend does not support this operation.",
        502: "The backend failed while working.",
        503: "The server (backend) is unavailable.",
        504: "The backend did not answer in time.",
    }.items()
}
_REF = "#/components/schemas/{}"
GENERATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The whole answer as JSON, or with `stream: true` server-sent events: "
        "`chunk` (ChunkEvent: text, reasoning or tool-call pieces) frames, then `done` (DoneEvent: the "
        "assembled tool calls and parsed answer) or `error` (ErrorBody).",
        "content": {
            "text/event-stream": {
                "schema": {"anyOf": [{"$ref": _REF.format(name)} for name in ("ChunkEvent", "DoneEvent", "ErrorBody")]}
            }
        },
    }
}
STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": ChunkEvent | DoneEvent | ErrorBody,
        "description": "Server-sent events: `chunk` (ChunkEvent) frames, then `done` (DoneEvent) "
        "or `error` (ErrorBody).",
    }
}
PULL_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": ProgressEvent | PullDoneEvent | ErrorBody,
        "description": "Server-sent events: `progress` (ProgressEvent) frames, then `done` (PullDoneEvent) "
        "or `error` (ErrorBody).",
    }
}
DISCONNECTED_STATUS = 499


class TypedErrorRoute(APIRoute):
    """A route that answers typed errors and request validation errors with an ``ErrorBody``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except UltraLLMError as error:
                headers = {"WWW-Authenticate": "Bearer"} if error.http_status == 401 else None
                return TextSafeJSONResponse(error_body(error), status_code=error.http_status, headers=headers)
            except RequestValidationError as error:
                detail = jsonable_encoder(error.errors())
                where = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in detail)
                body = {
                    "error": "RequestValidationError",
                    "message": f"Invalid request: {where}.",
                    "fix": f"Correct the request body; {schema_pointer(request)} describes it.",
                    "backend": None,
                    "status": 422,
                    "detail": detail,
                }
                return TextSafeJSONResponse(body, status_code=422)
            except ClientDisconnected:
                return Response(status_code=DISCONNECTED_STATUS)
            except HTTPException as error:  # FastAPI's own: a body it could not even parse (not UTF-8 ...)
                if error.status_code != 400:
                    raise
                problem = error.detail
                if isinstance(error.__cause__, RecursionError):  # too deep for the JSON decoder itself
                    problem = f"the body is JSON {JSONDepthError(MAX_JSON_DEPTH)}"
                body = {
                    "error": "RequestValidationError",
                    "message": f"Invalid request: {problem}.",
                    "fix": f"Send a JSON body encoded as UTF-8; {schema_pointer(request)} describes it.",
                    "backend": None,
                    "status": 422,
                }
                return TextSafeJSONResponse(body, status_code=422)

        return route


_BEARER = HTTPBearer(auto_error=False, description="The server's ULTRA_LLM_WEB_TOKEN.")


def _token_dependency(token: bytes) -> Callable[..., Coroutine[Any, Any, None]]:
    async def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    ) -> None:
        given = b"" if credentials is None else credentials.credentials.encode("utf-8")
        if not hmac.compare_digest(given, token):
            raise WebError(
                "Missing or wrong bearer token." if given else "This server needs a bearer token.",
                status=401,
                fix="Send `Authorization: Bearer <ULTRA_LLM_WEB_TOKEN>` (the console asks for it once).",
            )

    return require_token


def _progress_dict(event: Progress) -> dict[str, Any]:
    fraction = None
    if event.completed is not None and event.total:
        fraction = max(0.0, min(1.0, event.completed / event.total))
    elif event.status == "success":
        fraction = 1.0
    return {
        "message": event.message,
        "completed": event.completed,
        "total": event.total,
        "fraction": fraction,
        "status": event.status,
    }


class _Pull:
    """A pull running in a task, its progress in a queue: started before the response, so an error
    that comes before any progress (a backend that cannot pull, a server down) is an HTTP status."""

    def __init__(self, adapter: Adapter, model: str) -> None:
        loop = asyncio.get_running_loop()
        self.adapter = adapter
        self.model = model
        self.queue: asyncio.Queue[Progress | None] = asyncio.Queue()
        self.task = asyncio.ensure_future(adapter.pull(model, self._report))
        self.task.add_done_callback(lambda _: loop.call_soon_threadsafe(self.queue.put_nowait, None))
        self._loop = loop

    def _report(self, event: Progress) -> None:
        self._loop.call_soon_threadsafe(self.queue.put_nowait, event)

    async def first(self) -> Progress | None:
        """The first progress event, or ``None`` when the pull ended first; raises its typed error then."""
        try:
            event = await self.queue.get()
            if event is None:
                self.task.result()
        except BaseException:
            await self.cancel()
            raise
        return event

    async def frames(self, first: Progress | None) -> AsyncIterator[bytes]:
        """``progress`` frames while the pull runs, then ``done`` or ``error``; closing cancels the pull."""
        try:
            event = first
            while event is not None:
                yield sse_frame("progress", _progress_dict(event))
                event = await self.queue.get()
            try:
                self.task.result()
            except UltraLLMError as error:
                yield sse_frame("error", error_body(error))
                return
            yield sse_frame("done", {"model": self.model, "backend": self.adapter.name})
        finally:
            await self.cancel()

    async def cancel(self) -> None:
        if not self.task.done():
            self.task.cancel()
            with contextlib.suppress(BaseException):  # the pull was cancelled on purpose
                await self.task


CHUNK_EVENT_KEYS = ("text", "kind", "tool_call_deltas")
"""What every ``chunk`` frame carries of a ``Chunk``; ``logprobs`` and ``index`` when not their
defaults (its end, calls and parsed answer, go in ``done``)."""


def _usage(chunk: Chunk) -> dict[str, Any] | None:
    usage = chunk.usage
    return None if usage is None else dict(usage.__dict__)


async def _generation_frames(
    adapter: Adapter, model: str, first: Chunk | None, stream: AsyncIterator[Chunk]
) -> AsyncIterator[bytes]:
    """``chunk`` frames (the first already fetched: text, reasoning, tool-call pieces, token log
    probabilities, and which answer each belongs to), then ``done`` with the assembled tool calls and
    parsed answer (the first answer's; with several, each answer's end in ``choices``); a typed
    error mid-stream (an answer that should be JSON and is not, too) is an ``error`` frame."""
    usage: dict[str, Any] | None = None
    ends: dict[int, dict[str, Any]] = {}  # per answer (several with the n option): how it ended
    fallback = first.fallback if first is not None else None
    if fallback is not None:
        model = fallback.model
    try:
        chunk = first
        while chunk is not None:
            if chunk.text or chunk.tool_call_deltas or chunk.logprobs:
                event = chunk.to_dict()
                frame = {key: event[key] for key in CHUNK_EVENT_KEYS}
                if chunk.logprobs:  # the defaults (none, answer 0) are left out, as the schema allows
                    frame["logprobs"] = event["logprobs"]
                if chunk.index:
                    frame["index"] = chunk.index
                yield sse_frame("chunk", frame)
            end = ends.get(chunk.index)
            if end is None:
                end = ends[chunk.index] = {
                    "index": chunk.index,
                    "finish_reason": None,
                    "tool_calls": [],
                    "parsed": None,
                }
            end["finish_reason"] = chunk.finish_reason or end["finish_reason"]
            end["tool_calls"] = [call.to_json() for call in chunk.tool_calls] or end["tool_calls"]
            end["parsed"] = to_json_value(chunk.parsed) if chunk.parsed is not None else end["parsed"]
            usage = _usage(chunk) or usage
            try:
                chunk = await stream.__anext__()
            except StopAsyncIteration:
                chunk = None
        first_end = ends.get(0) or {"finish_reason": None, "tool_calls": [], "parsed": None}
        done = {
            "model": model,
            "backend": adapter.name,
            "finish_reason": first_end["finish_reason"],
            "usage": usage,
            "fallback": None if fallback is None else fallback.to_dict(),
        }
        choices = [ends[index] for index in sorted(ends)] if len(ends) > 1 else []
        yield sse_frame(
            "done", {**done, "tool_calls": first_end["tool_calls"], "parsed": first_end["parsed"], "choices": choices}
        )
    except UltraLLMError as error:
        yield sse_frame("error", error_body(error))
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def _call_options(body: GenerateRequest) -> dict[str, Any]:
    """The adapter call's options: the backend's ``options``, the model, system message and
    conversation id, and the request features (tools, tool choice, response format, reasoning
    control) given as fields."""
    check_caller_options(body.options, "`options`")  # refuses the reserved keys, the features among them
    options = dict(body.options)
    if body.model:
        options["model"] = body.model
    if body.system_message:
        options["system_message"] = body.system_message
    if body.tools is not None:
        options["tools"] = [tool.model_dump() for tool in body.tools]
    tool_choice = body.tool_choice
    features = {
        "tool_choice": tool_choice.model_dump() if isinstance(tool_choice, NamedToolChoice) else tool_choice,
        "response_format": body.response_format,
        "reasoning": body.reasoning,
        "reasoning_budget": body.reasoning_budget,
        "conversation": body.conversation,
        "fallback_models": body.fallback_models,
    }
    options.update({key: value for key, value in features.items() if value is not None})
    return options


def create_router(
    *,
    service: WebService | None = None,
    token: str | None = None,
    manage_lifespan: bool = True,
) -> APIRouter:
    """The API as an ``APIRouter``; mount it with ``app.include_router(router, prefix="/api/llm")``.

    ``service`` holds the adapters (default: a new ``WebService`` over the process-wide plugin host
    and the environment's configuration). ``token``, when given, makes every route require
    ``Authorization: Bearer <token>`` (compared in constant time); leave it out when the mounting
    app authenticates requests itself. With ``manage_lifespan`` the router closes the service's
    adapters when the app shuts down (FastAPI merges an included router's lifespan into the app's).
    """
    state = service or WebService()

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await state.aclose()

    dependencies = [Depends(_token_dependency(token.encode("utf-8")))] if token else []
    router = APIRouter(
        route_class=TypedErrorRoute,
        default_response_class=TextSafeJSONResponse,
        dependencies=dependencies,
        responses=ERROR_RESPONSES,
        lifespan=lifespan if manage_lifespan else None,
        tags=["ultra-llm"],
    )

    @router.get("/backends", response_model=BackendsResponse, summary="Backends: selected, available, why")
    async def backends(request: Request) -> dict[str, Any]:
        """Every registered backend: which one serves and why, which are available and how to fix those that
        are not, their capabilities and the JSON schema of their generation options."""
        return await run_until_disconnect(request.receive, state.backends())

    @router.get("/doctor", response_model=DoctorResponse, summary="The doctor's checks")
    async def doctor(request: Request) -> dict[str, Any]:
        """The checks of ``ultra-llm doctor``, each with what was found and the fix when it failed."""
        steps = await run_until_disconnect(request.receive, state.doctor())
        return {"ok": all(step["ok"] or not step["required"] for step in steps), "steps": steps}

    @router.get("/models", response_model=ModelsResponse, summary="List models")
    async def models(
        request: Request, backend: Annotated[str | None, Query(description="Default: the serving backend.")] = None
    ) -> dict[str, Any]:
        """The models the backend can serve now (plus those plugins contribute)."""
        adapter = await state.adapter(backend)
        found = await run_until_disconnect(request.receive, adapter.list_models())
        try:
            default_model: str | None = adapter.model
        except ConfigurationError:  # no DEFAULT_MODEL and a backend without a default: requests name one
            default_model = None
        return {"backend": adapter.name, "default_model": default_model, "models": [model.to_dict() for model in found]}

    @router.post("/models/pull", response_class=EventStreamResponse, responses=PULL_RESPONSES, summary="Pull a model")
    async def pull(request: Request, body: PullRequest) -> Response:
        """Download a model; progress streams as ``event: progress`` (ProgressEvent), then ``event: done``
        (``{"model", "backend"}``) or ``event: error`` (ErrorBody). Disconnecting cancels the pull."""
        adapter = await state.adapter(body.backend)
        pull = _Pull(adapter, adapter.backend.canonical_model(body.model))
        first = await run_until_disconnect(request.receive, pull.first())
        return EventStreamResponse(pull.frames(first))

    @router.delete("/models/{model:path}", response_model=RemoveResponse, summary="Remove a model")
    async def remove(
        request: Request,
        model: str,
        backend: Annotated[str | None, Query(description="Default: the serving backend.")] = None,
    ) -> dict[str, Any]:
        """Delete a local model (404 when there is no such model)."""
        adapter = await state.adapter(backend)
        name = adapter.backend.canonical_model(model)
        await run_until_disconnect(request.receive, adapter.remove(name))
        return {"removed": name, "backend": adapter.name}

    @router.post(
        "/generate",
        response_model=GenerateResponse | FanOutResponse,
        responses=GENERATE_RESPONSES,
        summary="Generate, whole or streamed",
    )
    async def generate(request: Request, body: GenerateRequest) -> Any:
        """Generate an answer. With ``stream: false`` the whole answer as JSON (``tool_calls`` the calls
        the model asks for, ``parsed`` the answer to a ``response_format``); with ``stream: true``
        server-sent events: ``event: chunk`` (ChunkEvent) as the text and tool-call pieces arrive,
        then ``event: done`` (DoneEvent, with the assembled calls and the parsed answer), or
        ``event: error`` (ErrorBody) if the backend fails mid-stream or the answer is not the JSON
        asked for. No tool is run: send its result back as a ``tool`` message. Errors before the
        first chunk (unknown model, bad options, server unavailable) are HTTP statuses. Disconnecting
        cancels the generation and the backend's process or request."""
        return await _generate(request, body, body.stream)

    @router.post(
        "/generate/stream",
        response_class=EventStreamResponse,
        responses=STREAM_RESPONSES,
        summary="Generate, streamed",
    )
    async def generate_stream(request: Request, body: GenerateRequest) -> Any:
        """``POST /generate`` with ``stream`` forced on: always server-sent events."""
        return await _generate(request, body, True)

    async def _generate(request: Request, body: GenerateRequest, streamed: bool) -> Any:
        adapter = await state.adapter(body.backend)
        prompt: Any = body.prompt
        if not isinstance(prompt, str):
            prompt = [message.model_dump(exclude_none=True) for message in body.prompt if not isinstance(message, str)]
        options = _call_options(body)
        timeout: Any = CONFIGURED if body.timeout is None else body.timeout  # checked once, by the schema
        if body.models is not None:
            if body.model is not None:
                raise InvalidOptionsError(
                    "Give `model` or `models`, not both.", fix="Ask several models with `models` alone."
                )
            limit: dict[str, Any] = {} if body.timeout is None else {"timeout": body.timeout}
            adapter.build_request(prompt, {**options, "model": body.models[0]})  # checked once, before any work
            if not streamed:
                items = await run_until_disconnect(
                    request.receive, adapter.fan_out(prompt, body.models, **limit, **options)
                )
                return {"answers": [_answer(item) for item in items]}
            events = adapter.stream_fan_out(prompt, body.models, **limit, **options)
            return EventStreamResponse(_fan_out_frames(adapter.name, events))
        built = adapter.build_request(prompt, options)
        if not streamed:
            result = await run_until_disconnect(request.receive, adapter.complete(built, timeout=timeout))
            return result.to_dict()
        stream = adapter.stream(built, timeout=timeout)
        try:
            first = await run_until_disconnect(request.receive, _first(stream))
        except BaseException:
            await stream.aclose()
            raise
        return EventStreamResponse(_generation_frames(adapter, built.model, first, stream))

    @router.post("/embeddings", response_model=EmbeddingsResponse, summary="Embed texts")
    async def embeddings(request: Request, body: EmbeddingsRequest) -> dict[str, Any]:
        """One vector per input text, in order (501 when the backend has no embeddings)."""
        adapter = await state.adapter(body.backend)
        result = await run_until_disconnect(request.receive, adapter.embed(body.input, model=body.model))
        usage = result.usage
        return {
            "model": result.model,
            "backend": result.backend,
            "vectors": [list(vector) for vector in result.vectors],
            "usage": None if usage is None else dict(usage.__dict__),
        }

    return router


def _answer(item: BatchItem) -> dict[str, Any]:
    """One model's entry of a fan-out's whole answer (``FanOutAnswer``)."""
    return {
        "index": item.index,
        "model": item.model,
        "ok": item.ok,
        "result": None if item.result is None else item.result.to_dict(),
        "error": None if item.error is None else error_body(item.error),
        "seconds": round(item.seconds, 6),
    }


async def _fan_out_frames(backend: str, events: AsyncIterator[FanOutEvent]) -> AsyncIterator[bytes]:
    """A fan-out's events as SSE frames, each labelled with its ``model``: ``chunk`` frames, then per
    model its ``done`` (model, backend, finish reason, usage, fallback) or its ``error``."""
    ends: dict[int, dict[str, Any]] = {}
    try:
        async for event in events:
            chunk = event.chunk
            if chunk is not None:
                end = ends.setdefault(event.index, {"finish_reason": None, "usage": None, "fallback": None})
                end["finish_reason"] = chunk.finish_reason or end["finish_reason"]
                end["usage"] = _usage(chunk) or end["usage"]
                if chunk.fallback is not None:
                    end["fallback"] = chunk.fallback.to_dict()
                if chunk.text or chunk.tool_call_deltas:
                    frame = {key: chunk.to_dict()[key] for key in CHUNK_EVENT_KEYS}
                    yield sse_frame("chunk", {**frame, "model": event.model})
            elif event.error is not None:
                yield sse_frame("error", {**error_body(event.error), "model": event.model})
            elif event.done:
                end = ends.pop(event.index, {"finish_reason": None, "usage": None, "fallback": None})
                yield sse_frame("done", {"model": event.model, "backend": backend, **end})
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


async def _first(stream: AsyncIterator[Chunk]) -> Chunk | None:
    try:
        return await stream.__anext__()
    except StopAsyncIteration:
        return None
