"""The ``docker-api`` backend: Docker Model Runner's HTTP API, or any OpenAI-compatible server.

Discovery, availability, chat completions (whole and streamed), embeddings, pull and remove.
HTTP lives in ``transport``, parsing in ``parsing``, error mapping in ``error_map``. Building the
backend reads settings only; the first request creates the connection pool; ``aclose`` ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import quote

from ultra_llm.backend import Backend
from ultra_llm.docker.errors import model_not_found
from ultra_llm.docker.names import DEFAULT_MODEL, normalize_model_name, parse_model_reference
from ultra_llm.errors import (
    BadRequestError,
    GenerationError,
    InvalidModelNameError,
    ModelNotFoundError,
    StreamInterruptedError,
    UltraLLMError,
    UnsupportedOperationError,
)
from ultra_llm.types import (
    Availability,
    Check,
    Chunk,
    EmbeddingRequest,
    EmbeddingResult,
    GenerationRequest,
    ModelInfo,
    Result,
)

from .error_map import BACKEND, error_from_body
from .options import OPTIONS_HINT, DockerAPIOptions
from .parsing import (
    DONE,
    MalformedResponse,
    NDJSONDecoder,
    PullFailed,
    PullTracker,
    SSEDecoder,
    StreamError,
    chunks_from_event,
    completion_from_body,
    embeddings_from_body,
    load_json,
    models_from_openai,
    models_from_runner,
)
from .pool import EndpointPool, Member, is_endpoint_failure
from .settings import DockerAPISettings, Endpoint, resolve_all
from .transport import EndpointFailure, Transport

if TYPE_CHECKING:
    from ultra_llm.config import UltraConfig
    from ultra_llm.types import ProgressCallback

__all__ = ["DockerAPIBackend"]

T = TypeVar("T")


def _malformed(exc: MalformedResponse, url: str) -> GenerationError:
    return GenerationError(
        f"The server at {url} sent a malformed answer: {exc}",
        output=str(exc),
        fix="Check that MODEL_RUNNER_URL and ULTRA_LLM_DOCKER_API_PATH point at an OpenAI-compatible API.",
        backend=BACKEND,
    )


class DockerAPIBackend(Backend):
    """Talks HTTP to ``MODEL_RUNNER_URL``: the runner's ``/engines/v1`` layout, or ``/v1`` servers.

    In the runner's layout model names are Docker references (``smollm2`` = ``ai/smollm2:latest``)
    and pull/remove use the runner's ``/models`` API; with another API path names pass unchanged
    and pull/remove raise ``UnsupportedOperationError``.

    Several comma-separated URLs make a pool (``pool``): requests go to the endpoint with the
    fewest in flight, fail over before their first chunk, and a failing endpoint is ejected for a
    cooldown; ``endpoint_states()`` and ``diagnostics()`` show each one. Pull and remove act on
    every endpoint.
    """

    name: ClassVar[str] = "docker-api"
    summary: ClassVar[str] = "Docker Model Runner's HTTP API (MODEL_RUNNER_URL), or any OpenAI-compatible server."
    options_model: ClassVar[type[Any] | None] = DockerAPIOptions
    options_hint: ClassVar[str] = OPTIONS_HINT
    settings_model: ClassVar[type[Any] | None] = DockerAPISettings
    supports_embeddings: ClassVar[bool] = True
    supports_pull: ClassVar[bool] = True
    supports_remove: ClassVar[bool] = True
    default_model: ClassVar[str] = DEFAULT_MODEL
    settings: DockerAPISettings

    def __init__(
        self,
        config: UltraConfig,
        *,
        settings: DockerAPISettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """``clock``/``wall_clock``: the endpoint pool's clocks (ejection and cooldown; display), real by default."""
        super().__init__(config, settings=settings)
        self.endpoints: list[Endpoint] = resolve_all(self.settings, config)
        self.endpoint: Endpoint = self.endpoints[0]
        self.pool = EndpointPool(
            self.endpoints,
            eject_failures=self.settings.eject_failures,
            eject_cooldown=self.settings.eject_cooldown,
            health_interval=self.settings.health_interval,
            clock=clock,
            wall_clock=wall_clock,
        )
        self.transport: Transport = self.pool.members[0].transport
        """The first endpoint's transport (the only one with a single URL)."""

    # -- endpoints --------------------------------------------------------------------------------

    def endpoint_states(self) -> list[dict[str, Any]]:
        """Each endpoint's state: url, healthy, ejected (until), in flight, successes, failures, last error."""
        return self.pool.states()

    def diagnostics(self) -> dict[str, Any]:
        """The endpoints' states, for ``ultra-llm backends --json`` and the web API."""
        return {"endpoints": self.endpoint_states()}

    async def doctor_checks(self, model: str) -> list[Check]:
        """The models and the default model, then one optional check per endpoint of a pool."""
        checks = await super().doctor_checks(model)
        if len(self.endpoints) > 1:
            for state in self.endpoint_states():
                detail = ", ".join(
                    f"{key} {value}"
                    for key, value in state.items()
                    if key not in ("url", "healthy") and value not in (None, False)
                )
                checks.append(
                    Check(
                        f"endpoint {state['url']}",
                        bool(state["healthy"]),
                        detail,
                        "It is skipped while it fails.",
                        False,
                    )
                )
        return checks

    async def _call(
        self, op: Callable[[Member, bool], Awaitable[T]], timeout: float | None = None, deadline: float | None = None
    ) -> T:
        """``op(member, failover)`` through the pool (failover between endpoints when there are several),
        until ``deadline`` (a ``loop.time()``), else ``timeout`` seconds, else the core's total timeout."""
        if deadline is None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + (timeout if timeout is not None else self.endpoint.total_timeout)
        return await self.pool.call(op, attempts=self.endpoint.retries, deadline=deadline)

    # -- names ----------------------------------------------------------------------------------

    def canonical_model(self, name: str) -> str:
        """Docker-normalised in the runner's layout; unchanged (stripped) for other servers."""
        if self.endpoint.runner_layout:
            return normalize_model_name(name)
        return name.strip()

    def model_missing(self, model: str, detail: str | None = None) -> ModelNotFoundError:
        """Not found, with the fix for the server: ``docker model pull`` in the runner's layout."""
        if self.endpoint.runner_layout:
            return model_not_found(model, backend=self.name, detail=detail)
        return super().model_missing(model, detail)

    def _display(self, name: str) -> str:
        if not self.endpoint.runner_layout:
            return name
        from ultra_llm.docker.names import short_model_name

        return short_model_name(name)

    # -- status and discovery --------------------------------------------------------------------

    async def check_availability(self) -> Availability:
        """``GET /`` on the runner (``GET <api>/models`` elsewhere), within the check timeout; never raises.

        With several endpoints each is checked at once; available when at least one answers.
        """
        if self.pool.several:
            errors = await self.pool.check_all()
            answering = sum(error is None for error in errors)
            parts = [
                f"{m.endpoint.display_url} {'answers' if e is None else 'fails: ' + e.message}"
                for m, e in zip(self.pool.members, errors, strict=True)
            ]
            detail = f"{answering} of {len(errors)} endpoints answer ({'; '.join(parts)})"
            first = next((e for e in errors if e is not None), None)
            if answering:
                return Availability(True, detail=detail)
            return Availability(False, detail=detail, error=first)
        ep = self.endpoint
        url = ep.management("/") if ep.runner_layout else ep.api("/models")
        try:
            reply = await self.transport.request("GET", url, timeout=ep.check_timeout, retry=False)
        except UltraLLMError as exc:
            return Availability(False, detail=exc.message, error=exc)
        text = reply.body[:200].decode("utf-8", "replace").strip()
        detail = text if ep.runner_layout and text else f"{ep.display_url} answers"
        return Availability(True, detail=detail)

    async def list_models(self) -> list[ModelInfo]:
        """The runner's ``GET /models`` (richer), else the OpenAI ``GET <api>/models``; names canonical."""
        entries = await self._call(self._list_on)
        ep = self.endpoint
        models: dict[str, ModelInfo] = {}
        for raw_name, details in entries:
            try:
                name = self.canonical_model(raw_name)
            except InvalidModelNameError:
                name = raw_name
            if name not in models:
                display = self._display(name) if name != raw_name or ep.runner_layout else name
                models[name] = ModelInfo(name=name, backend=self.name, display_name=display, details=details)
        return list(models.values())

    async def _list_on(self, member: Member, failover: bool) -> list[tuple[str, dict[str, str | int | float | None]]]:
        ep, transport = member.endpoint, member.transport
        entries: list[tuple[str, dict[str, str | int | float | None]]] | None = None
        if ep.runner_layout:
            url = ep.management("/models")
            reply = await transport.request("GET", url, tolerate=frozenset({404, 405}), failover=failover)
            if reply.status < 300:
                try:
                    entries = models_from_runner(load_json(reply.body, "GET /models"))
                except MalformedResponse:
                    entries = None  # not the runner's shape: try the OpenAI list below
        if entries is None:
            url = ep.api("/models")
            reply = await transport.request("GET", url, failover=failover)
            try:
                entries = models_from_openai(load_json(reply.body, f"GET {ep.api_path}/models"))
            except MalformedResponse as exc:
                raise _malformed(exc, url) from None
        return entries

    # -- generation -------------------------------------------------------------------------------

    def _chat_body(self, request: GenerationRequest, stream: bool) -> bytes:
        body: dict[str, Any] = {"model": request.model, "messages": [m.to_dict() for m in request.messages]}
        body.update(request.options_dict)
        if stream:
            body["stream"] = True
            if self.endpoint.stream_usage:
                body["stream_options"] = {"include_usage": True}
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    async def generate(self, request: GenerationRequest) -> Result:
        """One ``POST <api>/chat/completions``; the whole answer with finish reason and usage."""
        body = self._chat_body(request, False)
        deadline = request.deadline.total if request.deadline is not None else None

        async def on(member: Member, failover: bool) -> tuple[bytes, str]:
            url = member.endpoint.api("/chat/completions")
            transport = member.transport
            reply = await transport.request(
                "POST", url, body=body, model=request.model, deadline=deadline, failover=failover
            )
            return reply.body, url

        raw, url = await self._call(on, deadline=deadline)
        try:
            completion = completion_from_body(load_json(raw, "the completion"))
        except MalformedResponse as exc:
            raise _malformed(exc, url) from None
        return Result(
            text=completion.text,
            model=request.model,
            backend=self.name,
            finish_reason=completion.finish_reason,
            usage=completion.usage,
            reasoning=completion.reasoning,
        )

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        """``POST <api>/chat/completions`` with ``stream: true``; SSE events to ``[DONE]`` as chunks.

        Retried only until the response status is accepted; a stream that breaks afterwards raises
        ``StreamInterruptedError``. Closing the iterator closes the connection (the server stops).
        With several endpoints a stream that fails before its first chunk moves to another one;
        after the first chunk it never does.
        """
        pool = self.pool
        loop = asyncio.get_running_loop()
        given = request.deadline
        total_deadline = given.total if given is not None else loop.time() + self.endpoint.total_timeout
        last: UltraLLMError | None = None
        async for member in pool.attempts(self.endpoint.retries if pool.several else 1, total_deadline):
            started = False
            pool.begin(member)
            try:
                parts = self._stream_on(member, request, pool.several, total_deadline)
                async with contextlib.aclosing(parts):
                    async for chunk in parts:
                        started = True
                        yield chunk
            except EndpointFailure as exc:
                pool.fail(member, exc)
                last = exc.error
                continue
            except UltraLLMError as exc:
                if is_endpoint_failure(exc):
                    pool.fail(member, exc)
                    if pool.several and not started:
                        last = exc
                        continue  # nothing delivered yet: another endpoint may serve it
                raise
            finally:
                pool.end(member)
            pool.succeed(member)
            return
        assert last is not None
        raise last

    async def _stream_on(
        self, member: Member, request: GenerationRequest, failover: bool, total_deadline: float
    ) -> AsyncGenerator[Chunk, None]:
        """The stream from one endpoint (``failover``: failures before the status raise ``EndpointFailure``)."""
        ep = member.endpoint
        transport = member.transport
        url = ep.api("/chat/completions")
        loop = asyncio.get_running_loop()
        given = request.deadline
        first_deadline = min(
            given.first_token if given is not None else loop.time() + ep.first_token_timeout, total_deadline
        )
        response = await transport.open(
            "POST",
            url,
            body=self._chat_body(request, True),
            model=request.model,
            deadline=first_deadline,
            failover=failover,
        )
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            # A server that ignored "stream": read the whole answer and give it as one chunk.
            body = b"".join(
                [
                    part
                    async for part in transport.iter_body(
                        response, first_deadline=total_deadline, total_deadline=total_deadline, what="the answer"
                    )
                ]
            )
            try:
                completion = completion_from_body(load_json(body, "the completion"))
            except MalformedResponse as exc:
                raise _malformed(exc, url) from None
            if completion.reasoning:
                yield Chunk(completion.reasoning, kind="reasoning")
            if completion.text:
                yield Chunk(completion.text)
            yield Chunk("", finish_reason=completion.finish_reason, usage=completion.usage)
            return
        decoder = SSEDecoder()
        done = finished = False
        parts = transport.iter_body(response, first_deadline=first_deadline, total_deadline=total_deadline)
        async with contextlib.aclosing(parts):
            ended = False
            while not (ended or done):
                try:
                    payloads = decoder.feed(await anext(parts))
                except StopAsyncIteration:
                    payloads, ended = decoder.finish(), True
                except MalformedResponse as exc:  # an event over the size cap
                    raise _malformed(exc, url) from None
                for data in payloads:
                    if data == DONE:
                        done = True
                        break
                    try:
                        chunks = chunks_from_event(load_json(data, "a stream event"))
                    except MalformedResponse as exc:
                        raise _malformed(exc, url) from None
                    except StreamError as exc:
                        raise error_from_body(
                            0,
                            json.dumps(exc.body).encode(),
                            model=request.model,
                            url=url,
                            runner_layout=ep.runner_layout,
                        ) from None
                    for chunk in chunks:
                        if chunk.finish_reason is not None:
                            finished = True
                        yield chunk
            if done and not ended:
                # Read the body's end (the terminating chunk follows [DONE] at once) so the
                # connection goes back to the pool instead of being closed.
                with contextlib.suppress(UltraLLMError):
                    async for _ in parts:
                        pass
        if not done and not finished:
            raise StreamInterruptedError(
                f"The stream from {url} ended before it was complete (no finish reason, no [DONE]).",
                backend=self.name,
            )

    # -- embeddings -------------------------------------------------------------------------------

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        """``POST <api>/embeddings`` with every input at once; vectors in input order."""
        body = json.dumps({"model": request.model, "input": list(request.inputs)}, ensure_ascii=False).encode()

        async def on(member: Member, failover: bool) -> tuple[bytes, str]:
            url = member.endpoint.api("/embeddings")
            reply = await member.transport.request("POST", url, body=body, model=request.model, failover=failover)
            return reply.body, url

        raw, url = await self._call(on)
        try:
            vectors, usage = embeddings_from_body(load_json(raw, "the embeddings"), len(request.inputs))
        except MalformedResponse as exc:
            raise _malformed(exc, url) from None
        return EmbeddingResult(vectors=vectors, model=request.model, backend=self.name, usage=usage)

    # -- model management -------------------------------------------------------------------------

    def _require_runner(self, operation: str) -> None:
        if not self.endpoint.runner_layout:
            raise UnsupportedOperationError(
                f"{operation} needs Docker Model Runner's API; {self.endpoint.display_url} "
                f"is used with API path {self.endpoint.api_path}.",
                fix="Manage models on that server itself, or point MODEL_RUNNER_URL at Docker Model Runner.",
                backend=self.name,
            )

    async def pull(self, model: str, progress: ProgressCallback | None = None) -> None:
        """``POST /models/create`` and follow its NDJSON progress; an ``error`` record is a failure.

        With several endpoints the model is pulled on each, one after the other.
        """
        self._require_runner("Pulling a model")
        parse_model_reference(model)  # InvalidModelNameError before the name reaches a request
        for member in self.pool.members:
            await self._pull_on(member, model, progress)

    async def _pull_on(self, member: Member, model: str, progress: ProgressCallback | None) -> None:
        ep = member.endpoint
        transport = member.transport
        url = ep.management("/models/create")
        loop = asyncio.get_running_loop()
        start = loop.time()
        body = json.dumps({"from": model}).encode()
        try:
            response = await transport.open(
                "POST", url, body=body, model=model, deadline=start + ep.first_token_timeout, accept="application/json"
            )
        except ModelNotFoundError as exc:
            raise ModelNotFoundError(
                model,
                backend=self.name,
                detail="the registry has no such model",
                fix="Check the name: Docker Hub's ai/ namespace (hub.docker.com/u/ai) or hf.co/<org>/<repo>.",
            ) from exc
        except BadRequestError as exc:
            if "invalid model reference" in exc.message.lower():
                raise InvalidModelNameError(f"The runner refused '{model}' as a model reference.") from exc
            raise
        tracker = PullTracker()
        decoder = NDJSONDecoder()
        parts = transport.iter_body(
            response,
            first_deadline=start + ep.first_token_timeout,
            total_deadline=float("inf"),
            cap=None,
            what="the pull",
        )
        try:
            async with contextlib.aclosing(parts):
                async for part in parts:
                    for line in decoder.feed(part):
                        self._pull_record(tracker, line, progress, url)
                for line in decoder.finish():
                    self._pull_record(tracker, line, progress, url)
        except PullFailed as exc:
            raise GenerationError(
                f"Pulling {model} failed: {exc}",
                output=str(exc),
                fix="Retry the pull; check the network, proxy and disk space (`docker model df`).",
                backend=self.name,
            ) from None
        if not tracker.succeeded:
            raise StreamInterruptedError(
                f"The pull of {model} ended without the runner reporting success "
                f"(last: {tracker.last_message or 'nothing'}).",
                backend=self.name,
            )

    @staticmethod
    def _pull_record(tracker: PullTracker, line: bytes, progress: ProgressCallback | None, url: str) -> None:
        try:
            update = tracker.feed(load_json(line, "a pull progress record"))
        except MalformedResponse as exc:
            raise _malformed(exc, url) from None
        if progress is not None:
            progress(update)

    async def remove(self, model: str) -> None:
        """``DELETE /models/{name}``; ``ModelNotFoundError`` when the runner has no such model.

        With several endpoints the model is removed from each; not found is an error only if no
        endpoint had it.
        """
        self._require_runner("Removing a model")
        parse_model_reference(model)  # InvalidModelNameError before the name reaches the URL path
        missing: ModelNotFoundError | None = None
        removed = 0
        for member in self.pool.members:
            url = member.endpoint.management("/models/" + quote(model, safe="/:@"))
            try:
                await member.transport.request("DELETE", url, model=model, retry=False)
            except ModelNotFoundError as exc:
                missing = exc
            else:
                removed += 1
        if missing is not None and not removed:
            raise ModelNotFoundError(
                model, backend=self.name, detail="no such local model", fix="`ultra-llm models` lists what there is."
            ) from missing

    # -- lifecycle --------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop the endpoints' health checks and close their connection pools (if a request opened them)."""
        await self.pool.aclose()
