"""The ``docker-api`` backend: Docker Model Runner's HTTP API, or any OpenAI-compatible server.

Discovery, availability, chat completions (whole and streamed), embeddings, pull and remove.
HTTP lives in ``transport``, parsing in ``parsing``, error mapping in ``error_map``. Building the
backend reads settings only; the first request creates the connection pool; ``aclose`` ends it.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import quote

from ultra_llm_docker.errors import RUNNER_MAX_REQUEST_BYTES, RunnerRequestTooLargeError, model_not_found
from ultra_llm_docker.lifecycle import check_model_settings, configured_context
from ultra_llm_docker.names import DEFAULT_MODEL, normalize_model_name, parse_model_reference

from ultra_llm.errors import (
    BadRequestError,
    GenerationError,
    GenerationTimeoutError,
    InvalidModelNameError,
    InvalidOptionsError,
    ModelNotFoundError,
    StreamInterruptedError,
    UltraLLMError,
    UnsupportedOperationError,
)
from ultra_llm.plugin import (
    Availability,
    Backend,
    Check,
    Chunk,
    Deadline,
    DiskUsage,
    EmbeddingRequest,
    EmbeddingResult,
    GenerationRequest,
    ModelInfo,
    Result,
    current_deadline,
)

from .chat_body import chat_body
from .faults import Failed
from .lifecycle import (
    configure_body,
    disk_usage_from,
    props_capabilities,
    running_from,
    unload_body,
    unloaded_from,
)
from .model_check import check_answering_model
from .model_map import read_map
from .options import OPTIONS_HINT, DockerAPIOptions
from .parsing import (
    MalformedResponse,
    NDJSONDecoder,
    PullFailed,
    PullTracker,
    answering_model,
    completion_from_body,
    embeddings_from_body,
    load_json,
    models_from_openai,
    models_from_runner,
)
from .pool import EndpointPool, Member
from .request_path import attempt, loading_reason
from .server_kind import ServerKind
from .settings import DockerAPISettings, Endpoint, resolve_all
from .streaming import chunks, malformed
from .transport import Transport, error_of

log = logging.getLogger("ultra_llm.docker_api")

if TYPE_CHECKING:
    from ultra_llm.plugin import ModelSettings, ProgressCallback, RunningModel, UltraConfig

__all__ = ["DockerAPIBackend"]

T = TypeVar("T")


class DockerAPIBackend(Backend):
    """Talks HTTP to ``MODEL_RUNNER_URL``: the runner's ``/engines/v1`` layout, or ``/v1`` servers.

    In the runner's layout model names are Docker references (``smollm2`` = ``ai/smollm2:latest``)
    and pull/remove use the runner's ``/models`` API; with another API path names pass unchanged
    and pull/remove raise ``UnsupportedOperationError``.

    Several comma-separated URLs make a pool (``pool``): requests go to the endpoint with the
    fewest in flight, fail over before their first chunk, and a failing endpoint is ejected for a
    cooldown; ``endpoint_states()`` and ``diagnostics()`` show each one. Pull and remove act on
    every endpoint.

    Tools, response formats, images and reasoning control go to the server as OpenAI body fields
    (``chat_body``); the answer's tool calls come back whole (``Result.tool_calls``) or as streamed
    pieces (``Chunk.tool_call_deltas``, assembled by the adapter). A server that refuses a feature
    (llama-server without ``--jinja`` or without ``--mmproj``; on Docker Model Runner one model has
    only one of them) is ``UnsupportedOperationError`` with its reason and the fix (``error_map``).
    """

    name: ClassVar[str] = "docker-api"
    summary: ClassVar[str] = "Docker Model Runner's HTTP API (MODEL_RUNNER_URL), or any OpenAI-compatible server."
    options_model: ClassVar[type[Any] | None] = DockerAPIOptions
    options_hint: ClassVar[str] = OPTIONS_HINT
    settings_model: ClassVar[type[Any] | None] = DockerAPISettings
    supports_tools: ClassVar[bool] = True
    supports_response_format: ClassVar[bool] = True
    supports_images: ClassVar[bool] = True
    supports_reasoning_control: ClassVar[bool] = True
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
            models_refresh=self.settings.models_refresh,
            read_map=lambda member: read_map(member, self.canonical_model),
            clock=clock,
            wall_clock=wall_clock,
        )
        self.transport: Transport = self.pool.members[0].transport
        """The first endpoint's transport (the only one with a single URL)."""
        self.targets: tuple[Member, ...] = tuple(self.pool.members)
        """The runners model management and lifecycle calls act on: every one, or those ``on_runners`` named."""

    # -- endpoints --------------------------------------------------------------------------------

    def endpoint_states(self) -> list[dict[str, Any]]:
        """Each endpoint's state: url, healthy, ejected (until), in flight, successes, failures, last error."""
        return self.pool.states()

    def served_from(self) -> str:
        """Where answers come from and as whom: each endpoint's ``identity`` (origin, API path with its
        engine, socket, a digest of the credentials), comma-separated. Caches key answers by it."""
        return ",".join(endpoint.identity for endpoint in self.endpoints)

    def diagnostics(self) -> dict[str, Any]:
        """The endpoints' states, for ``ultra-llm backends --json`` and the web API."""
        return {"endpoints": self.endpoint_states()}

    def on_runners(self, urls: Sequence[str]) -> DockerAPIBackend:
        """A view of this backend whose management and lifecycle calls act on ``urls`` only (each one of
        ``MODEL_RUNNER_URL``'s, as configured or shown); it shares the pool, so closing it closes both."""
        by_url = {_plain_url(m.endpoint.display_url): m for m in self.pool.members}
        unknown = [url for url in urls if _plain_url(url) not in by_url]
        if unknown:
            raise InvalidOptionsError(
                f"{', '.join(unknown)} is not one of this backend's runners ({', '.join(by_url)}).",
                fix="Name a URL of MODEL_RUNNER_URL as `ultra-llm runners` shows it.",
            )
        view = copy.copy(self)
        view.targets = tuple(dict.fromkeys(by_url[_plain_url(url)] for url in urls))
        return view

    async def placement(self, models: Sequence[str]) -> list[list[str]]:
        """``models`` by the runner that will answer each (a runner where it is loaded, else one that has
        it, else the least given so far), each runner's models loaded ones first (``Placement``: a
        fan-out runs runners side by side and keeps each runner's loads few). Reads the maps afresh."""
        members = self.pool.members
        if self.pool.several:
            self.pool.stale()
            await self.pool.know_models()
        else:
            found = await read_map(members[0], self.canonical_model)
            if found is not None:
                members[0].models, members[0].loaded = found.models, found.loaded
        groups: dict[int, list[str]] = {}
        for model in models:
            best = min(m.rank(model) for m in members)
            choices = [i for i, m in enumerate(members) if m.rank(model) == best]
            home = min(choices, key=lambda i: len(groups.get(i, [])))
            groups.setdefault(home, []).append(model)
        return [sorted(group, key=lambda model: members[i].rank(model) != 0) for i, group in sorted(groups.items())]

    async def _having(self, model: str) -> list[Member]:
        """The target runners that have ``model`` (maps read afresh; a runner whose map cannot be read
        counts as having it: it answers for itself); with one runner, that one."""
        if not self.pool.several:
            return list(self.targets)
        self.pool.stale(self.targets)
        await self.pool.know_models()
        return [m for m in self.targets if m.rank(model) < 3]

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

    async def _whole(
        self,
        op: Callable[[Member], Awaitable[T]],
        deadline: Deadline | None,
        model: str | None = None,
        conversation: str | None = None,
    ) -> T:
        """``op`` through the attempt loop (for ``model``, on a runner that has it); the endpoint is
        counted a success once it answered."""
        member, result = await attempt(self.pool, op, deadline, model=model, conversation=conversation)
        self.pool.succeed(member)
        return result

    # -- names ----------------------------------------------------------------------------------

    def canonical_model(self, name: str) -> str:
        """Docker-normalised in the runner's layout; unchanged (stripped) for other servers."""
        if self.endpoint.runner_layout:
            return normalize_model_name(name)
        return name.strip()

    def _routed(self, model: str) -> str | None:
        """The name the pool routes ``model`` by (canonical, as its maps hold names); ``None`` with one
        endpoint (nothing to route) or for a name the backend cannot read (the server answers it)."""
        if not self.pool.several:
            return None
        try:
            return self.canonical_model(model)
        except InvalidModelNameError:
            return None

    def model_missing(self, model: str, detail: str | None = None) -> ModelNotFoundError:
        """Not found, with the fix for the server: ``docker model pull`` in the runner's layout."""
        if self.endpoint.runner_layout:
            return model_not_found(model, backend=self.name, detail=detail)
        return super().model_missing(model, detail)

    def _display(self, name: str) -> str:
        if not self.endpoint.runner_layout:
            return name
        from ultra_llm_docker.names import short_model_name

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
            reply = await self.transport.probe(url)
        except (Failed, UltraLLMError) as exc:
            error = error_of(exc)
            return Availability(False, detail=error.message, error=error)
        text = reply.body[:200].decode("utf-8", "replace").strip()
        detail = text if ep.runner_layout and text else f"{ep.display_url} answers"
        return Availability(True, detail=detail)

    async def list_models(self) -> list[ModelInfo]:
        """The runner's ``GET /models`` (richer), else the OpenAI ``GET <api>/models``; names canonical."""
        entries = await self._whole(self._list_on, current_deadline())
        ep = self.endpoint
        models: dict[str, ModelInfo] = {}
        for raw_name, details in entries:
            try:
                name = self.canonical_model(raw_name)
            except InvalidModelNameError as exc:  # one odd entry: the others still show
                log.warning("%s listed a model name it cannot use, left out: %s", ep.display_url, exc.message)
                continue
            if name not in models:
                models[name] = ModelInfo(
                    name=name,
                    backend=self.name,
                    display_name=self._display(name),
                    details=details,
                    context_window=_context(details),
                )
        if self.transport.kind is ServerKind.LLAMA_SERVER and len(models) == 1:
            return [await self._with_props(info) for info in models.values()]
        return list(models.values())

    async def _with_props(self, info: ModelInfo) -> ModelInfo:
        """``info`` with what llama-server's ``GET /props`` says of the one model it serves (the context
        each request gets, tools from its chat template, vision); unchanged when it does not answer."""
        try:
            reply = await self.transport.request(
                "GET", self.endpoint.origin + "/props", tolerate=frozenset({404, 405, 501})
            )
            answer = load_json(reply.body, "GET /props") if reply.status < 300 else None
        except (Failed, UltraLLMError, MalformedResponse):
            return info
        n_ctx, tools, vision = props_capabilities(answer)
        return dataclasses.replace(info, context_window=n_ctx or info.context_window, tools=tools, vision=vision)

    async def _list_on(self, member: Member) -> list[tuple[str, dict[str, str | int | float | None]]]:
        ep, transport = member.endpoint, member.transport
        entries: list[tuple[str, dict[str, str | int | float | None]]] | None = None
        if ep.runner_layout:
            url = ep.management("/models")
            reply = await transport.request("GET", url, tolerate=frozenset({404, 405}))
            if reply.status < 300:
                try:
                    entries = models_from_runner(load_json(reply.body, "GET /models"))
                except MalformedResponse:
                    entries = None  # not the runner's shape: try the OpenAI list below
        if entries is None:
            url = ep.api("/models")
            reply = await transport.request("GET", url)
            try:
                entries = models_from_openai(load_json(reply.body, f"GET {ep.api_path}/models"))
            except MalformedResponse as exc:
                raise malformed(exc, url) from None
        return entries

    # -- generation -------------------------------------------------------------------------------

    def _chat_body(self, request: GenerationRequest, stream: bool) -> bytes:
        """The body; in the runner's layout one over its 10 MiB cap is refused before it is sent.

        The runner reads at most ``RUNNER_MAX_REQUEST_BYTES`` (``pkg/inference/scheduling/
        http_handler.go:29-37`` at 642c7211) and answers 400 while the client may still be writing,
        so the client can see a dropped connection instead of the answer: refusing here is exact.
        """
        body = chat_body(request, stream=stream, stream_usage=stream and self.endpoint.stream_usage)
        if self.endpoint.runner_layout and len(body) > RUNNER_MAX_REQUEST_BYTES:
            images = len(request.images)
            raise RunnerRequestTooLargeError(
                f"The request is {len(body) / 1024 / 1024:.1f} MiB"
                + (f" with {images} image{'s' if images > 1 else ''} inline" if images else "")
                + f", over the {RUNNER_MAX_REQUEST_BYTES // (1024 * 1024)} MiB Docker Model Runner accepts.",
                backend=self.name,
            )
        return body

    async def generate(self, request: GenerationRequest) -> Result:
        """One ``POST <api>/chat/completions``; the whole answer with finish reason and usage."""
        body = self._chat_body(request, False)

        async def on(member: Member) -> Result:
            url = member.endpoint.api("/chat/completions")
            reply = await member.transport.request("POST", url, body=body, model=request.model)
            try:
                completion = completion_from_body(load_json(reply.body, "the completion"))
            except MalformedResponse as exc:
                raise malformed(exc, url) from None
            await check_answering_model(member, request.model, completion.model)
            return Result(
                text=completion.text,
                model=request.model,
                backend=self.name,
                finish_reason=completion.finish_reason,
                usage=completion.usage,
                reasoning=completion.reasoning,
                tool_calls=completion.tool_calls,
                logprobs=completion.logprobs,
                choices=completion.choices,
            )

        return await self._whole(on, request.deadline, self._routed(request.model), request.conversation)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        """``POST <api>/chat/completions`` with ``stream: true``; SSE events to ``[DONE]`` as chunks.

        The request goes again (another endpoint, a resend) only until its first chunk: once one was
        given, a failure raises (``StreamInterruptedError`` for a drop). Closing the iterator closes
        the connection (the server stops generating).
        """
        body = self._chat_body(request, True)

        async def start(member: Member) -> tuple[Chunk | None, AsyncGenerator[Chunk, None]]:
            url = member.endpoint.api("/chat/completions")
            deadline = request.deadline
            if deadline is not None and deadline.waiting != loading_reason(member):  # a resend while it loads
                deadline.waiting_for(f"{member.endpoint.display_url} had sent no token")
            response = await member.transport.send("POST", url, body=body, model=request.model)
            parts = chunks(member, response, model=request.model, url=url)
            try:
                return await anext(parts), parts
            except StopAsyncIteration:
                return None, parts
            except BaseException:
                await parts.aclose()
                raise

        member, (first, rest) = await attempt(
            self.pool, start, request.deadline, model=self._routed(request.model), conversation=request.conversation
        )
        fault: UltraLLMError | None = None
        complete = False
        try:
            if first is not None:
                yield first
            async for chunk in rest:
                yield chunk
            complete = True
        except (StreamInterruptedError, GenerationTimeoutError) as exc:
            fault = exc  # the endpoint failed mid-stream: counted, never sent again
            raise
        finally:
            await rest.aclose()
            if complete:
                self.pool.succeed(member)
            else:
                self.pool.release(member, fault)

    # -- embeddings -------------------------------------------------------------------------------

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        """``POST <api>/embeddings`` with every input at once; vectors in input order."""
        body = json.dumps({"model": request.model, "input": list(request.inputs)}, ensure_ascii=False).encode()

        async def on(member: Member) -> EmbeddingResult:
            url = member.endpoint.api("/embeddings")
            reply = await member.transport.request("POST", url, body=body, model=request.model)
            try:
                parsed = load_json(reply.body, "the embeddings")
                vectors, usage = embeddings_from_body(parsed, len(request.inputs))
            except MalformedResponse as exc:
                raise malformed(exc, url) from None
            await check_answering_model(member, request.model, answering_model(parsed))
            return EmbeddingResult(vectors=vectors, model=request.model, backend=self.name, usage=usage)

        return await self._whole(on, request.deadline, self._routed(request.model))

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
        try:
            for member in self.targets:
                await self._pull_on(member, model, progress)
        finally:
            self.pool.stale(self.targets)

    async def _pull_on(self, member: Member, model: str, progress: ProgressCallback | None) -> None:
        ep = member.endpoint
        transport = member.transport
        url = ep.management("/models/create")
        body = json.dumps({"from": model}).encode()
        try:
            response = await transport.send("POST", url, body=body, model=model, accept="application/json")
        except Failed as exc:
            raise exc.error from exc.__cause__
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
        parts = transport.iter_body(response, pull=True, cap=None, what="the pull")
        try:
            async with contextlib.aclosing(parts):
                async for part in parts:
                    for line in decoder.feed(part):
                        self._pull_record(tracker, line, progress, url)
                for line in decoder.finish():
                    self._pull_record(tracker, line, progress, url)
        except Failed as exc:  # nothing arrived: one pull is one attempt
            raise exc.error from exc.__cause__
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
            raise malformed(exc, url) from None
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
        self.pool.stale(self.targets)
        for member in self.targets:
            url = member.endpoint.management("/models/" + quote(model, safe="/:@"))
            try:
                await member.transport.request("DELETE", url, model=model)
            except Failed as exc:
                raise exc.error from exc.__cause__
            except ModelNotFoundError as exc:
                missing = exc
            else:
                removed += 1
        if missing is not None and not removed:
            raise ModelNotFoundError(
                model, backend=self.name, detail="no such local model", fix="`ultra-llm models` lists what there is."
            ) from missing

    # -- model lifecycle (the runner's /engines control routes; ``lifecycle`` has the shapes) ----------

    def _require_lifecycle(self, what: str) -> None:
        """``UnsupportedOperationError`` unless the endpoint is the runner: a plain server has no such API."""
        if self.endpoint.runner_layout:
            return
        kind = self.transport.kind
        if kind is ServerKind.LLAMA_SERVER:
            fix = (
                "llama-server loads the model it was started with and keeps it: restart it with other settings "
                "(`llama-server -m FILE.gguf -c N`), or point MODEL_RUNNER_URL at Docker Model Runner."
            )
        else:
            fix = "Use that server's own controls, or point MODEL_RUNNER_URL at Docker Model Runner."
        raise UnsupportedOperationError(
            f"{what} needs Docker Model Runner's API; {self.endpoint.display_url} is {kind.value} "
            f"(API path {self.endpoint.api_path}).",
            fix=fix,
            backend=self.name,
        )

    async def _control(
        self,
        member: Member,
        method: str,
        tail: str,
        *,
        body: bytes | None = None,
        model: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """One runner control request to ``member`` (one attempt, as ``pull`` and ``remove`` make): its
        JSON answer, ``None`` for an empty body; failures typed by ``error_map``."""
        url = member.endpoint.management(tail)
        try:
            reply = await member.transport.request(method, url, body=body, model=model, headers=headers)
        except Failed as exc:
            raise exc.error from exc.__cause__
        if not reply.body.strip():
            return None
        try:
            return load_json(reply.body, f"{method} {tail}")
        except MalformedResponse as exc:
            raise malformed(exc, url) from None

    def _runner(self, member: Member) -> str | None:
        """``RunningModel.runner`` / ``DiskUsage.runner``: the runner's URL when there are several."""
        return member.endpoint.display_url if self.pool.several else None

    async def _each(
        self,
        members: Sequence[Member],
        call: Callable[[Member], Awaitable[T]],
        what: str,
        tolerated: type[UltraLLMError] = UltraLLMError,
    ) -> list[T]:
        """``call`` on each of ``members`` in turn. With several runners a ``tolerated`` failure is logged
        and left out while another answers (a read: one runner down hides nothing of the others; a
        change: a runner without the model); all failing raise the first. Any other failure raises."""
        results: list[T] = []
        first: UltraLLMError | None = None
        for member in members:
            try:
                results.append(await call(member))
            except tolerated as exc:
                if not self.pool.several:
                    raise
                first = first or exc
                log.warning("%s: %s failed, left out: %s", member.endpoint.display_url, what, exc.message)
        if first is not None and not results:
            raise first
        return results

    async def running_models(self) -> list[RunningModel]:
        """``GET /engines/ps`` on every runner: the models loaded, with ``docker model ps``'s UNTIL, and
        with several runners which one each is on (``RunningModel.runner``)."""
        self._require_lifecycle("Listing loaded models")

        async def on(member: Member) -> list[RunningModel]:
            answer = await self._control(member, "GET", "/engines/ps")
            try:
                rows = running_from(answer, backend=self.name, canonical=self.canonical_model)
            except MalformedResponse as exc:
                raise malformed(exc, member.endpoint.management("/engines/ps")) from None
            runner = self._runner(member)
            return [dataclasses.replace(row, runner=runner) for row in rows] if runner else rows

        return [row for rows in await self._each(self.targets, on, "listing loaded models") for row in rows]

    async def preload(self, model: str) -> None:
        """A chat request with ``X-Preload-Only: true`` on each runner that has the model: the runner
        loads it and answers 200 with no body (``scheduling/http_handler.go:271-275``), as ``docker
        model run -d`` does (``cmd/cli/desktop/desktop.go:426-461``); ``ModelNotFoundError`` when none has it."""
        self._require_lifecycle("Preloading a model")
        parse_model_reference(model)
        body = json.dumps({"model": model, "messages": []}).encode()

        async def on(member: Member) -> None:
            tail = member.endpoint.api_path + "/chat/completions"
            await self._control(member, "POST", tail, body=body, model=model, headers={"X-Preload-Only": "true"})

        await self._on_having(model, on, "preloading")

    async def _on_having(self, model: str, call: Callable[[Member], Awaitable[None]], what: str) -> None:
        """``call`` on each target runner that has ``model``; a runner without it is no error while
        another has it; none having it is ``ModelNotFoundError`` (the runner's own, when one answered)."""
        having = await self._having(model)
        if not having:
            raise self.model_missing(model, "no runner has it")
        try:
            await self._each(having, call, what, ModelNotFoundError)
        finally:
            self.pool.stale(having)

    async def unload(self, models: Sequence[str] = (), *, all: bool = False) -> int:
        """``POST /engines/unload`` on every runner; the runners unloaded, summed. The runner leaves a
        model that is serving a request loaded (``loader.go:269-284``)."""
        self._require_lifecycle("Unloading models")
        for model in models:
            parse_model_reference(model)
        body = unload_body(models, all=all)

        async def on(member: Member) -> int:
            answer = await self._control(member, "POST", "/engines/unload", body=body)
            try:
                return unloaded_from(answer)
            except MalformedResponse as exc:
                raise malformed(exc, member.endpoint.management("/engines/unload")) from None

        try:
            return sum([await on(member) for member in self.targets])
        finally:
            self.pool.stale(self.targets)

    @classmethod
    def check_settings(cls, settings: ModelSettings) -> ModelSettings:
        """The runner's grammar for ``settings`` (a keep-alive is a Go duration, ``0`` or ``-1``):
        ``ultra_llm_docker.lifecycle.check_model_settings``. No I/O."""
        return check_model_settings(settings)

    async def configure(self, model: str, settings: ModelSettings) -> None:
        """``POST /engines/_configure`` on each runner that has the model (202; the runner then loads it
        again with the settings). The runner takes any name here (``scheduler.go:386-396``), so the
        model is looked up first: a typo is a ``ModelNotFoundError``, not a setting for nothing. A 409
        (its runner is serving a request) is ``ModelLoadedError``; nothing is unloaded here."""
        settings = self.check_settings(settings)
        self._require_lifecycle("Configuring a model")
        await self.inspect(model)
        engine = self.settings.engine
        tail = f"/engines/{engine}/_configure" if engine else "/engines/_configure"
        body = configure_body(model, settings)

        async def on(member: Member) -> None:
            await self._control(member, "POST", tail, body=body, model=model)

        await self._on_having(model, on, "configuring")

    async def inspect(self, model: str) -> ModelInfo:
        """``GET /models/{name}`` on the runner (``details``, the packaged context, then the context size
        ``configure`` set, which wins: ``llamacpp/llamacpp_config.go:97-109``); elsewhere the server's
        model list entry, with llama-server's ``/props`` (context window, tools, vision). With several
        runners, the first that has the model answers."""
        if not self.endpoint.runner_layout:
            for info in await self.list_models():
                if info.name == model:
                    return info
            raise self.model_missing(model, "not in the server's model list")
        parse_model_reference(model)
        having = await self._having(model)
        member = having[0] if having else self.targets[0]
        answer = await self._control(member, "GET", "/models/" + quote(model, safe="/:@"), model=model)
        entries = models_from_runner([answer])
        details = entries[0][1] if entries else {}
        configured = await self._configured_context(member, model)
        context = configured if configured is not None else details.get("context_size")
        return ModelInfo(
            name=model,
            backend=self.name,
            display_name=self._display(model),
            details=details,
            context_window=context if isinstance(context, int) and context > 0 else None,
        )

    async def _configured_context(self, member: Member, model: str) -> int | None:
        """The context size ``configure`` set for ``model`` (``GET /engines/_configure?model=``,
        ``scheduling/http_handler.go:523-545``: ``ModelConfigEntry`` with ``Config.context-size``), if any."""
        try:
            answer = await self._control(member, "GET", "/engines/_configure?model=" + quote(model, safe=""))
        except UltraLLMError:
            return None  # an older runner without the route: the packaged context stands
        return configured_context(answer, model, self.canonical_model)

    async def disk_usage(self) -> DiskUsage:
        """``GET /engines/df`` (models and the default engine, in bytes); with several runners each
        one's in ``DiskUsage.runners`` and their sums above."""
        self._require_lifecycle("Reading disk usage")

        async def on(member: Member) -> DiskUsage:
            answer = await self._control(member, "GET", "/engines/df")
            try:
                usage = disk_usage_from(answer, backend=self.name)
            except MalformedResponse as exc:
                raise malformed(exc, member.endpoint.management("/engines/df")) from None
            return dataclasses.replace(usage, runner=self._runner(member))

        parts = await self._each(self.targets, on, "reading disk usage")
        if not self.pool.several:
            return parts[0]
        return DiskUsage(
            backend=self.name,
            models_bytes=_sum(part.models_bytes for part in parts),
            engine_bytes=_sum(part.engine_bytes for part in parts),
            runners=tuple(parts),
        )

    # -- lifecycle --------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop the endpoints' health checks and close their connection pools (if a request opened them)."""
        await self.pool.aclose()


def _sum(values: Iterable[int | None]) -> int | None:
    """The sum of the known counts; ``None`` when none is known."""
    known = [value for value in values if value is not None]
    return sum(known) if known else None


def _plain_url(url: str) -> str:
    """A runner URL as ``--runner`` matches it: no surrounding blanks or trailing slash."""
    return url.strip().rstrip("/")


def _context(details: dict[str, str | int | float | None]) -> int | None:
    """The context window a listing entry gives (``context_size``: the runner's packaged one, the
    ``dmr`` block's, or llama-server's ``n_ctx``), when it is a positive number of tokens."""
    value = details.get("context_size")
    return value if isinstance(value, int) and value > 0 else None
