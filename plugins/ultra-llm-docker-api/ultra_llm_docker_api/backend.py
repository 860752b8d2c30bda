"""The ``docker-api`` backend: Docker Model Runner's HTTP API, or any OpenAI-compatible server.

Discovery, availability, chat completions (whole and streamed), embeddings, pull and remove.
HTTP lives in ``transport``, parsing in ``parsing``, error mapping in ``error_map``. Building the
backend reads settings only; the first request creates the connection pool; ``aclose`` ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from ultra_llm.backend import Backend
from ultra_llm.config import load_settings
from ultra_llm.errors import (
    BadRequestError,
    GenerationError,
    InvalidModelNameError,
    ModelNotFoundError,
    StreamInterruptedError,
    UltraLLMError,
    UnsupportedOperationError,
)
from ultra_llm.names import parse_model_reference
from ultra_llm.types import (
    Availability,
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
from .settings import DockerAPISettings, Endpoint, resolve
from .transport import Transport

if TYPE_CHECKING:
    from ultra_llm.config import UltraConfig
    from ultra_llm.types import ProgressCallback

__all__ = ["DockerAPIBackend"]


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
    """

    name: ClassVar[str] = "docker-api"
    summary: ClassVar[str] = "Docker Model Runner's HTTP API (MODEL_RUNNER_URL), or any OpenAI-compatible server."
    options_model: ClassVar[type[Any] | None] = DockerAPIOptions
    options_hint: ClassVar[str] = OPTIONS_HINT
    settings_model: ClassVar[type[Any] | None] = DockerAPISettings
    supports_embeddings: ClassVar[bool] = True
    supports_pull: ClassVar[bool] = True
    supports_remove: ClassVar[bool] = True
    uses_docker_names: ClassVar[bool] = True

    def __init__(self, config: UltraConfig, *, settings: DockerAPISettings | None = None) -> None:
        super().__init__(config)
        self.settings = settings if settings is not None else load_settings(DockerAPISettings)
        self.endpoint: Endpoint = resolve(self.settings, config)
        self.transport = Transport(self.endpoint)

    # -- names ----------------------------------------------------------------------------------

    def canonical_model(self, name: str) -> str:
        """Docker-normalised in the runner's layout; unchanged (stripped) for other servers."""
        if self.endpoint.runner_layout:
            return super().canonical_model(name)
        return name.strip()

    def _display(self, name: str) -> str:
        if not self.endpoint.runner_layout:
            return name
        from ultra_llm.names import short_model_name

        return short_model_name(name)

    # -- status and discovery --------------------------------------------------------------------

    async def check_availability(self) -> Availability:
        """``GET /`` on the runner (``GET <api>/models`` elsewhere), within the check timeout; never raises."""
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
        ep = self.endpoint
        entries: list[tuple[str, dict[str, str | int | float | None]]] | None = None
        if ep.runner_layout:
            url = ep.management("/models")
            reply = await self.transport.request("GET", url, tolerate=frozenset({404, 405}))
            if reply.status < 300:
                try:
                    entries = models_from_runner(load_json(reply.body, "GET /models"))
                except MalformedResponse:
                    entries = None  # not the runner's shape: try the OpenAI list below
        if entries is None:
            url = ep.api("/models")
            reply = await self.transport.request("GET", url)
            try:
                entries = models_from_openai(load_json(reply.body, f"GET {ep.api_path}/models"))
            except MalformedResponse as exc:
                raise _malformed(exc, url) from None
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
        url = self.endpoint.api("/chat/completions")
        reply = await self.transport.request("POST", url, body=self._chat_body(request, False), model=request.model)
        try:
            completion = completion_from_body(load_json(reply.body, "the completion"))
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
        """
        ep = self.endpoint
        transport = self.transport
        url = ep.api("/chat/completions")
        loop = asyncio.get_running_loop()
        start = loop.time()
        total_deadline = start + ep.total_timeout
        first_deadline = min(start + ep.first_token_timeout, total_deadline)
        response = await transport.open(
            "POST", url, body=self._chat_body(request, True), model=request.model, deadline=first_deadline
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
        url = self.endpoint.api("/embeddings")
        body = json.dumps({"model": request.model, "input": list(request.inputs)}, ensure_ascii=False).encode()
        reply = await self.transport.request("POST", url, body=body, model=request.model)
        try:
            vectors, usage = embeddings_from_body(load_json(reply.body, "the embeddings"), len(request.inputs))
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
        """``POST /models/create`` and follow its NDJSON progress; an ``error`` record is a failure."""
        self._require_runner("Pulling a model")
        parse_model_reference(model)  # InvalidModelNameError before the name reaches a request
        ep = self.endpoint
        transport = self.transport
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
        """``DELETE /models/{name}``; ``ModelNotFoundError`` when the runner has no such model."""
        self._require_runner("Removing a model")
        parse_model_reference(model)  # InvalidModelNameError before the name reaches the URL path
        url = self.endpoint.management("/models/" + quote(model, safe="/:@"))
        try:
            await self.transport.request("DELETE", url, model=model, retry=False)
        except ModelNotFoundError as exc:
            raise ModelNotFoundError(
                model, backend=self.name, detail="no such local model", fix="`ultra-llm models` lists what there is."
            ) from exc

    # -- lifecycle --------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the connection pool (if a request ever opened it)."""
        await self.transport.aclose()
