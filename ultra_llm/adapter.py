"""The Ultra-facing adapter: the seed's ``LLMAdapter`` contract over one backend.

Async (``generate``, ``stream_generate``, ``get_available_models``); code without an event loop
wraps it in ``ultra_llm.sync.SyncAdapter`` (``create_adapter_sync``). Every generation and
embedding goes through the middleware chain plugins return from ``ultra_llm_middleware``, composed
once when the adapter is made; an untyped exception from a plugin reaches the caller as a
``PluginError`` naming that plugin. That includes any ``BaseException`` (``SystemExit`` from a
plugin's ``sys.exit()``) other than cancellation and ``KeyboardInterrupt``, which propagate as
they are: a plugin cannot stop the process serving the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import dataclasses
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .backend import Backend, closing_stream, collect_result
from .capabilities import LoadedModels, ModelStore, refusal
from .deadline import StreamDeadline
from .errors import (
    ConfigurationError,
    GenerationTimeoutError,
    PluginError,
    UltraLLMError,
)
from .faults import PASS_THROUGH
from .features import Features, refuse_too_deep, refuse_unsupported
from .options import validate_options
from .stream_ending import StreamEnding
from .text import require_text
from .types import (
    Chunk,
    Deadline,
    EmbeddingRequest,
    EmbeddingResult,
    GenerationRequest,
    ModelInfo,
    ProgressCallback,
    Prompt,
    Result,
    to_messages,
)

if TYPE_CHECKING:
    from .batch import BatchItem, BatchProgressCallback
    from .config import UltraConfig
    from .host import PluginHost
    from .lifecycle import DiskUsage, RunningModel
    from .selection import Selection

__all__ = ["Adapter", "LLMAdapter"]

T = TypeVar("T")


class Adapter:
    """A backend ready for use: generation, streaming, discovery, embeddings, model management.

    Options are the backend's (``-o`` in the CLI) plus three reserved ones: ``model`` overrides the
    adapter's model for one call, ``system_message`` puts a system prompt first, and ``progress``
    (a callable taking ``Progress``) receives progress the backend reports before answering.
    """

    def __init__(
        self,
        host: PluginHost,
        backend: Backend,
        *,
        model: str | None = None,
        config: UltraConfig,
        selection: Selection,
    ) -> None:
        """``model`` defaults to ``DEFAULT_MODEL``, else the backend's own ``default_model``."""
        self.host = host
        self.backend = backend
        self.config = config
        self.selection = selection
        model = model or config.default_model or backend.default_model
        if not model:
            raise ConfigurationError(
                f"No model was named and backend '{backend.name}' has no default model.",
                fix="Name one (`-m MODEL`, `model=`), or set DEFAULT_MODEL.",
            )
        self.model = backend.canonical_model(model)
        self.chain = host.hooks.chain(backend)
        """The middleware around the backend, composed here once (``ultra_llm.middleware``)."""
        self._collects_stream = type(backend).generate is Backend.generate
        """The backend's whole answer is its stream collected (it keeps ``Backend.generate``): the
        adapter collects it itself, so a whole call sees the first chunk and keeps the first-token
        deadline too. A backend with its own ``generate`` gets the total deadline for whole calls."""
        if self._collects_stream:
            self.chain.generate = self.chain.compose("generate", self._collect)
        self._closed = False

    @property
    def name(self) -> str:
        """The serving backend's name."""
        return self.backend.name

    # -- discovery and status ---------------------------------------------------------------------

    async def check_availability(self) -> bool:
        """True when the backend can serve now."""
        from .selection import check_backend

        return (await check_backend(self.backend, self.config.check_timeout)).available

    def get_capabilities(self) -> dict[str, Any]:
        """Ultra's capability keys, plus the backend's own (embeddings, pull, tools, images, options),
        as the backend declares them; ``list_models()`` says what each model can do where known."""
        caps = self.backend.capabilities()
        return {
            "name": self.backend.name,
            "model": self.model,
            "supports_streaming": True,
            "max_tokens": "max_tokens" in caps["options"],
            "supports_functions": caps["tools"],
            "supports_vision": caps["images"],
            "source": "local",
            **caps,
        }

    async def list_models(self) -> list[ModelInfo]:
        """The backend's models plus those plugins contribute, de-duplicated by canonical name."""
        models = await self._guard(self.backend.list_models, deadline=self._deadline(), what="Listing models")
        seen = {model.name for model in models}
        for extra in self.host.hooks.register_models(self.backend.name):
            try:
                name = self.backend.canonical_model(extra.name)
            except UltraLLMError:
                continue
            if name not in seen:
                seen.add(name)
                models.append(dataclasses.replace(extra, name=name))
        return models

    async def get_available_models(self) -> list[str]:
        """The names of ``list_models()`` (the seed's discovery call)."""
        return [model.name for model in await self.list_models()]

    # -- generation ---------------------------------------------------------------------------

    def build_request(
        self, prompt: Prompt, options: dict[str, Any], deadline: Deadline | None = None
    ) -> GenerationRequest:
        """Validate the prompt, features and options into the request middleware and backends
        receive: an ``InvalidOptionsError`` for text that is not valid (a lone surrogate), a bad
        tool or schema, or an option out of range; ``UnsupportedOperationError`` for a feature
        (tools, a schema, images, reasoning control) the backend does not declare."""
        options = dict(options)
        requested = str(options.pop("model", None) or self.model)
        system_message = options.pop("system_message", None)
        progress = options.pop("progress", None)
        require_text(requested, "the model name")
        require_text(system_message, "the system message")
        features = Features.pop(options)
        refuse_too_deep(options, features)
        require_text(options, "the options")
        model = self.backend.canonical_model(requested)
        try:
            messages = to_messages(prompt, system_message=system_message)
        except ValueError as exc:
            if isinstance(exc, UltraLLMError):  # EmptyPromptError, a bad image: already typed, with a fix
                raise
            from .errors import InvalidOptionsError

            raise InvalidOptionsError(
                f"Invalid prompt: {exc}.", fix="Pass a string or a list of OpenAI-shaped chat messages."
            ) from exc
        require_text([(m.text, m.tool_call_id, [c.to_dict() for c in m.tool_calls]) for m in messages], "the prompt")
        require_text([tool.to_dict() for tool in features.tools], "the tools")
        refuse_unsupported(self.backend, features, messages)
        instance, options_dict = validate_options(type(self.backend), options)
        return GenerationRequest(
            model,
            messages,
            instance,
            self.backend.name,
            options_dict,
            progress,
            deadline,
            features.tools,
            features.tool_choice,
            features.response_format,
            features.reasoning,
            features.reasoning_budget,
        )

    async def complete(self, prompt: Prompt | GenerationRequest, **options: Any) -> Result:
        """The whole answer as a ``Result`` (text, model, backend, finish reason, usage, tool calls,
        and for a ``response_format`` the ``parsed`` answer: ``StructuredOutputError`` when the
        answer is not JSON, e.g. cut by ``max_tokens``, keeping the raw text). ``prompt`` may be a
        request ``build_request`` made (with no ``options`` then): it is not validated again."""
        deadline = self._request_deadline()
        request = self._request(prompt, options, deadline)
        first = deadline.first_token if self._collects_stream else None
        result = await self._guard(self.chain.generate, request, deadline=deadline.total, first_token=first)
        if not isinstance(result, Result):
            raise PluginError(
                f"Generation on backend '{self.name}' returned {type(result).__name__}, not a Result.",
                plugin=self._plugin_name(None),
            )
        fmt = request.response_format
        if fmt is not None and not result.tool_calls:
            parsed = fmt.parse(result.text, finish_reason=result.finish_reason, backend=self.name)
            result = dataclasses.replace(result, parsed=parsed)
        return result

    async def generate(self, prompt: Prompt, **options: Any) -> str:
        """The whole answer's text (the seed's ``generate``); raises a typed error, never returns one."""
        return (await self.complete(prompt, **options)).text

    async def stream(self, prompt: Prompt | GenerationRequest, **options: Any) -> AsyncGenerator[Chunk, None]:
        """Yield ``Chunk`` objects as the backend produces them; closing early cancels the backend.
        ``prompt`` may be a request ``build_request`` made, as for ``complete``."""
        request_deadline = self._request_deadline()
        request = self._request(prompt, options, request_deadline)
        deadline = StreamDeadline(request_deadline.total, request_deadline.first_token)
        ending = StreamEnding(request.response_format, self.name)
        try:
            iterator = self.chain.stream(request)
        except UltraLLMError:
            raise
        except PASS_THROUGH:
            raise
        except BaseException as exc:  # a plugin may raise anything, SystemExit included
            raise self._plugin_error(exc) from exc
        try:
            while True:
                try:
                    chunk = await deadline.next(iterator)
                except StopAsyncIteration:
                    break
                except UltraLLMError:
                    raise
                except PASS_THROUGH:
                    raise
                except TimeoutError as exc:
                    raise self._deadline_error(deadline) from exc
                except BaseException as exc:  # a plugin may raise anything, SystemExit included
                    raise self._plugin_error(exc) from exc
                if not isinstance(chunk, Chunk):
                    raise PluginError(
                        f"Backend '{self.name}' streamed a {type(chunk).__name__}, not a Chunk.",
                        plugin=self._plugin_name(None),
                    )
                ending.add(chunk)
                yield chunk
            final = ending.final_chunk()
            if final is not None:
                yield final
        finally:
            deadline.close()
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except PASS_THROUGH:
                    raise
                except BaseException:  # a plugin failing to close its stream: the answer stands
                    pass

    async def stream_generate(self, prompt: Prompt, **options: Any) -> AsyncGenerator[str, None]:
        """Yield the answer's text as it arrives (the seed's ``stream_generate``); no reasoning text."""
        async with contextlib.aclosing(self.stream(prompt, **options)) as chunks:
            async for chunk in chunks:
                if chunk.kind == "text" and chunk.text:
                    yield chunk.text

    async def generate_many(
        self,
        prompts: Iterable[Prompt],
        *,
        concurrency: int = 8,
        progress: BatchProgressCallback | None = None,
        **options: Any,
    ) -> list[BatchItem]:
        """Answer every prompt, at most ``concurrency`` at once: one ``BatchItem`` each, in input order,
        a failed prompt's typed error in its item (see ``ultra_llm.batch``)."""
        from .batch import generate_many

        return await generate_many(self, prompts, concurrency=concurrency, progress=progress, **options)

    async def embed(self, inputs: str | Sequence[str], *, model: str | None = None) -> EmbeddingResult:
        """Embed one text or several; one vector per input, in order (a backend that is an ``Embedder``)."""
        from .capabilities import Embedder, refusal

        if not isinstance(self.backend, Embedder):
            raise refusal(self.name, Embedder, "embed texts")
        texts = (inputs,) if isinstance(inputs, str) else tuple(inputs)
        require_text(texts, "the input")
        request = EmbeddingRequest(self.backend.canonical_model(model or self.model), texts, self.name)
        return await self._guard(self.chain.embed, request, deadline=self._deadline(), what="Embedding")

    async def pull(self, model: str | None = None, progress: ProgressCallback | None = None) -> None:
        """Download ``model`` (default: the adapter's), reporting progress to ``progress``, within
        ``ULTRA_LLM_TIMEOUT`` (``GenerationTimeoutError`` after it)."""
        store = self._store("pull models")
        name = self.backend.canonical_model(model or self.model)
        await self._guard(store.pull, name, progress, deadline=self._deadline(), what="Pulling")

    async def remove(self, model: str) -> None:
        """Delete a local model, within ``ULTRA_LLM_TIMEOUT`` (``GenerationTimeoutError`` after it)."""
        store = self._store("remove models")
        name = self.backend.canonical_model(model)
        await self._guard(store.remove, name, deadline=self._deadline(), what="Removing")

    # -- model lifecycle (loaded models on the server) --------------------------------------------

    async def running_models(self) -> list[RunningModel]:
        """The models loaded now (``ultra-llm ps``), within ``ULTRA_LLM_TIMEOUT``."""
        loaded = self._loaded_models("list loaded models")
        return await self._guard(loaded.running_models, deadline=self._deadline(), what="Listing loaded models")

    async def preload(self, model: str | None = None) -> str:
        """Load ``model`` (default: the adapter's) without generating; its canonical name. A cold load
        takes tens of seconds: it is bounded by ``ULTRA_LLM_TIMEOUT``."""
        loaded = self._loaded_models("preload models")
        name = self.backend.canonical_model(model or self.model)
        await self._guard(loaded.preload, name, deadline=self._deadline(), what="Preloading")
        return name

    async def unload(self, models: Sequence[str] = (), *, all: bool = False) -> int:
        """Unload ``models`` (names canonicalised), or every loaded model with ``all``; how many the
        server unloaded. Unloading cuts requests the model is serving for anyone."""
        from .errors import InvalidOptionsError

        if all and models:
            raise InvalidOptionsError(
                "Name models to unload, or all of them, not both.", fix="Drop the names or --all."
            )
        if not all and not models:
            raise InvalidOptionsError("Name the models to unload.", fix="Give MODEL..., or --all for every one.")
        loaded = self._loaded_models("unload models")
        names = [self.backend.canonical_model(model) for model in models]
        return await self._guard(self._unload, loaded, names, all, deadline=self._deadline(), what="Unloading")

    @staticmethod
    async def _unload(loaded: LoadedModels, names: list[str], all: bool) -> int:
        return await loaded.unload(names, all=all)

    async def configure(
        self,
        model: str,
        *,
        context_size: int | None = None,
        keep_alive: str | None = None,
        think: bool | None = None,
        unload: bool = False,
    ) -> str:
        """Set ``model``'s context size (tokens; -1 for the whole trained context), keep-alive (a Go
        duration, ``0`` or ``-1``) and whether it thinks (a reasoning model; per request, the
        ``reasoning=`` option overrides it); its canonical name. On a model server these are per-model
        settings the server applies at the next load (it loads the model again at once). While the
        model is busy the server refuses: ``ModelLoadedError``; ``unload=True`` unloads it first, on
        purpose (cutting requests it serves)."""
        from .errors import ModelLoadedError
        from .lifecycle import ModelSettings

        loaded = self._loaded_models("configure models")
        settings = loaded.check_settings(ModelSettings(context_size=context_size, keep_alive=keep_alive, think=think))
        name = self.backend.canonical_model(model)
        if unload:
            await self._guard(self._unload, loaded, [name], False, deadline=self._deadline(), what="Unloading")
        try:
            await self._guard(loaded.configure, name, settings, deadline=self._deadline(), what="Configuring")
        except ModelLoadedError as error:
            if unload:  # unloaded on purpose, still refused: the server keeps a model serving a request
                error.fix = "It is serving a request, which keeps it loaded even through unload: retry once it is done."
            raise
        return name

    async def inspect(self, model: str | None = None) -> ModelInfo:
        """Everything the backend knows of ``model`` (default: the adapter's), its context window included."""
        name = self.backend.canonical_model(model or self.model)
        return await self._guard(self.backend.inspect, name, deadline=self._deadline(), what="Inspecting")

    async def disk_usage(self) -> DiskUsage:
        """What the backend's models take on disk (``ultra-llm df``)."""
        loaded = self._loaded_models("report disk usage")
        return await self._guard(loaded.disk_usage, deadline=self._deadline(), what="Reading disk usage")

    # -- lifecycle ------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the backend (its clients, pools, processes); safe to call twice."""
        if not self._closed:
            self._closed = True
            await self.backend.aclose()

    async def __aenter__(self) -> Adapter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- internals ------------------------------------------------------------------------------

    def _request(
        self, prompt: Prompt | GenerationRequest, options: dict[str, Any], deadline: Deadline
    ) -> GenerationRequest:
        """The request of a call: built from ``prompt`` and ``options``, or the one ``build_request``
        made, its clock started now."""
        if not isinstance(prompt, GenerationRequest):
            return self.build_request(prompt, options, deadline)
        from .errors import InvalidOptionsError

        if options:
            raise InvalidOptionsError(
                f"Options {', '.join(sorted(options))} were passed beside a built request.",
                fix="Pass them to build_request(), which validates them into the request.",
            )
        if prompt.backend != self.name:
            raise InvalidOptionsError(
                f"The request was built for backend '{prompt.backend}', not '{self.name}'.",
                fix="Build it with this adapter's build_request().",
            )
        return dataclasses.replace(prompt, deadline=deadline)

    def _store(self, asked: str) -> ModelStore:
        """The backend as a ``ModelStore`` for a management call (``asked``: "pull models" ...)."""
        self._check_not_standing_in()
        if not isinstance(self.backend, ModelStore):
            raise refusal(self.name, ModelStore, asked)
        return self.backend

    def _loaded_models(self, asked: str) -> LoadedModels:
        """The backend as ``LoadedModels`` for a management call (``asked``: "preload models" ...)."""
        self._check_not_standing_in()
        if not isinstance(self.backend, LoadedModels):
            raise refusal(self.name, LoadedModels, asked)
        return self.backend

    def _check_not_standing_in(self) -> None:
        """A backend serving as the fallback for an unavailable one manages nothing in its place: the
        call fails with the unavailable backend's error, so nothing reports work that was not done."""
        error = self.selection.requested_error
        if self.selection.fell_back and error is not None:
            raise copy.copy(error)

    def _deadline(self) -> float:
        return asyncio.get_running_loop().time() + self.config.timeout

    def _request_deadline(self) -> Deadline:
        """The deadline of a generation starting now (``ULTRA_LLM_TIMEOUT``, ``_FIRST_TOKEN_TIMEOUT``)."""
        now = asyncio.get_running_loop().time()
        return Deadline.starting(now, self.config.timeout, self.config.first_token_timeout)

    def _timeout_error(self, what: str = "Generation") -> GenerationTimeoutError:
        return GenerationTimeoutError(
            f"{what} on backend '{self.name}' took longer than {self.config.timeout:g} s.",
            timeout=self.config.timeout,
            backend=self.name,
        )

    def _plugin_name(self, exc: BaseException | None) -> str:
        """The plugin to blame for ``exc``: the one whose code raised it, else the backend's."""
        found = self.chain.blame(exc) if exc is not None else None
        return found or self.chain.backend_plugin or self.name

    def _plugin_error(self, exc: BaseException) -> PluginError:
        plugin = self._plugin_name(exc)
        return PluginError(
            f"Plugin '{plugin}' failed on backend '{self.name}' with an untyped {type(exc).__name__}: {exc}",
            plugin=plugin,
        )

    async def _guard(
        self,
        func: Callable[..., Awaitable[T]],
        *args: Any,
        deadline: float,
        what: str = "Generation",
        first_token: float | None = None,
    ) -> T:
        """Await ``func(*args)`` within ``deadline`` (a ``GenerationTimeoutError`` saying ``what`` took
        too long after it) and, when ``first_token`` is given, the first chunk within that (the
        first-token error after it), on one ``StreamDeadline`` as streams are; turning untyped plugin
        exceptions (any ``BaseException`` but ``PASS_THROUGH``) into a ``PluginError`` that names the
        plugin."""
        clock = StreamDeadline(deadline, first_token)
        told = _ANSWERED.set(clock.answered) if first_token is not None else None
        try:
            return await clock.wait(func, *args)
        except UltraLLMError:
            raise
        except PASS_THROUGH:
            raise
        except TimeoutError as exc:
            raise self._deadline_error(clock, what) from exc
        except BaseException as exc:  # a plugin may raise anything, SystemExit included
            raise self._plugin_error(exc) from exc
        finally:
            if told is not None:
                _ANSWERED.reset(told)

    def _collect(self, request: GenerationRequest) -> Awaitable[Result]:
        """The innermost whole call of a backend keeping ``Backend.generate``: its stream collected,
        the first chunk told to the call's clock."""
        return collect_result(
            _telling_first(self.backend.stream(request), _ANSWERED.get()), model=request.model, backend=self.name
        )

    def _deadline_error(self, clock: StreamDeadline, what: str = "Generation") -> GenerationTimeoutError:
        """The error for ``clock``'s deadline passing: the first-token one when nothing had arrived."""
        if clock.first_token_missed:
            return GenerationTimeoutError.first_token(
                f"No answer from backend '{self.name}'",
                first_token_timeout=self.config.first_token_timeout,
                total_timeout=self.config.timeout,
                backend=self.name,
            )
        return self._timeout_error(what)


_ANSWERED: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "ultra_llm_answered", default=None
)
"""The running whole call's ``StreamDeadline.answered``, for the adapter's collector to tell."""


async def _telling_first(stream: AsyncIterator[Chunk], answered: Callable[[], None] | None) -> AsyncIterator[Chunk]:
    """``stream``'s chunks, calling ``answered`` once, at the first."""
    async with closing_stream(stream) as chunks:
        async for chunk in chunks:
            if answered is not None:
                answered()
                answered = None
            yield chunk


LLMAdapter = Adapter
"""The seed's name for the adapter contract."""
