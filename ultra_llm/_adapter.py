"""The Ultra-facing adapter: the seed's ``LLMAdapter`` contract over one backend.

Async (``generate``, ``stream_generate``, ``get_available_models``); code without an event loop
wraps it in ``ultra_llm.SyncAdapter`` (``create_adapter_sync``). Every generation and
embedding goes through the middleware chain plugins return from ``ultra_llm_middleware``, composed
once when the adapter is made; an untyped exception from a plugin reaches the caller as a
``PluginError`` naming that plugin. That includes any ``BaseException`` (``SystemExit`` from a
plugin's ``sys.exit()``) other than cancellation and ``KeyboardInterrupt``, which propagate as
they are: a plugin cannot stop the process serving the call. A backend (or middleware) answering
with the wrong type (a ``str`` where a ``ModelInfo`` belongs) is a ``PluginError`` too, naming what
it returned where. After ``aclose()`` every call raises ``AdapterClosedError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ._backend import Backend
from ._capabilities import LoadedModels, ModelStore, refusal
from ._deadline import CONFIGURED, CallClock, Deadline, call_timeout
from ._fallback import Cooldowns, Fallbacks
from ._faults import PASS_THROUGH
from ._features import Features, refuse_too_deep, refuse_unsupported
from ._options import validate_options
from ._stream_ending import StreamEnding
from ._text import is_text, require_text
from ._types import (
    Chunk,
    EmbeddingRequest,
    EmbeddingResult,
    GenerationRequest,
    Message,
    ModelInfo,
    ProgressCallback,
    Prompt,
    Result,
    to_messages,
)
from .errors import (
    AdapterClosedError,
    ConfigurationError,
    GenerationTimeoutError,
    InvalidModelNameError,
    PluginError,
    UltraLLMError,
)

if TYPE_CHECKING:
    from typing_extensions import Self

    from ._batch import BatchItem, BatchProgressCallback
    from ._config import UltraConfig
    from ._deadline import _Configured
    from ._fan_out import FanOutEvent
    from ._host import PluginHost
    from ._lifecycle import DiskUsage, RunningModel
    from ._selection import Selection

__all__ = ["Adapter", "LLMAdapter"]

T = TypeVar("T")


class Adapter:
    """A backend ready for use: generation, streaming, discovery, embeddings, model management.

    Options are the backend's (``-o`` in the CLI) plus reserved ones: ``model`` overrides the
    adapter's model for one call, ``system_message`` puts a system prompt first, ``conversation``
    (an id) keeps a conversation's requests on one server of a backend that has several, and
    ``progress`` (a callable taking ``Progress``) receives progress the backend reports before answering.
    """

    def __init__(
        self,
        host: PluginHost,
        backend: Backend,
        *,
        model: str | None = None,
        config: UltraConfig,
        selection: Selection,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``model`` defaults to ``DEFAULT_MODEL``, else the backend's own ``default_model``. With none
        of them the adapter still lists, inspects and manages models, and answers calls that name
        their model; a call that needs the adapter's own raises ``ConfigurationError`` (``model``).
        ``clock`` (monotonic seconds) times the models' cooldowns (``ULTRA_LLM_MODEL_COOLDOWN``)."""
        self.host = host
        self.backend = backend
        self.config = config
        self.selection = selection
        model = model or config.default_model or backend.default_model
        self._model = backend.canonical_model(model) if model else None
        self.chain = host.hooks.chain(backend)
        """The middleware around the backend, composed here once (``ultra_llm._middleware``)."""
        self._whole_first_token = type(backend).generate is Backend.generate
        """The backend's whole answer is its stream collected (it keeps ``Backend.generate``), which
        tells the deadline its first chunk: whole calls keep the first-token limit too. A backend
        with its own ``generate`` has only the total on whole calls (ultra_llm._deadline)."""
        self._closed = False
        self.cooldowns = Cooldowns(config.model_cooldown, clock)
        """The models that failed lately and are passed over for their fallbacks (``ultra_llm._fallback``)."""
        self._chains: dict[str, tuple[str, ...]] | None = None
        self._windows: dict[str, int | None] | None = None

    @classmethod
    def on_backend(
        cls,
        backend: str,
        *,
        model: str | None = None,
        config: UltraConfig | None = None,
        host: PluginHost | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> Self:
        """An adapter on the backend named ``backend``, made now and not checked, so with no
        fallback: a backend that cannot serve shows as its typed error on the first call.
        ``create_adapter(backend=..., check=False)`` without an event loop, for factories that
        must return at once; ``settings`` are the backend's own, as there."""
        from ._config import load_config
        from ._host import get_host
        from ._selection import Selection, instantiate

        config = config or load_config()
        host = host or get_host()
        made = instantiate(host, backend, config, settings)
        selection = Selection(backend, "named explicitly, not checked", made.name)
        return cls(host, made, model=model, config=config, selection=selection)

    @property
    def name(self) -> str:
        """The serving backend's name."""
        return self.backend.name

    @property
    def model(self) -> str:
        """The adapter's model (canonical), used by calls that name none: ``ConfigurationError`` when
        no model was named, ``DEFAULT_MODEL`` is unset and the backend has no ``default_model``."""
        if self._model is None:
            raise ConfigurationError(
                f"No model was named and backend '{self.name}' has no default model.",
                fix="Name the model: `-m MODEL` (ultra-llm generate, embed, batch), the argument of "
                "pull/inspect/preload, `model=` in Python, the `model` field of a web request; "
                "or set DEFAULT_MODEL. `ultra-llm models` lists them.",
                backend=self.name,
            )
        return self._model

    # -- discovery and status ---------------------------------------------------------------------

    async def check_availability(self) -> bool:
        """True when the backend can serve now."""
        from ._selection import check_backend

        self._check_open()
        return (await check_backend(self.backend, self.config.check_timeout)).available

    def get_capabilities(self) -> dict[str, Any]:
        """Ultra's capability keys, plus the backend's own (embeddings, pull, tools, images, options),
        as the backend declares them; ``list_models()`` says what each model can do where known."""
        caps = self.backend.capabilities()
        return {
            "name": self.backend.name,
            "model": self._model,
            "supports_streaming": True,
            "max_tokens": "max_tokens" in caps["options"],
            "supports_functions": caps["tools"],
            "supports_vision": caps["images"],
            "source": "local",
            **caps,
        }

    async def list_models(self) -> list[ModelInfo]:
        """The backend's models plus those plugins contribute, de-duplicated by canonical name."""
        models = await self._guard(self.backend.list_models, what="Listing models")
        models = self._returned_each(models, "list_models", ModelInfo)
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
        conversation = _conversation_id(options.pop("conversation", None))
        chain = options.pop("fallback_models", None)
        require_text(requested, "the model name")
        require_text(system_message, "the system message")
        features = Features.pop(options)
        refuse_too_deep(options, features)
        require_text(options, "the options")
        model = self.backend.canonical_model(requested)
        fallback_models = self._fallback_models(model, chain)
        try:
            messages = to_messages(prompt, system_message=system_message)
        except ValueError as exc:
            if isinstance(exc, UltraLLMError):  # EmptyPromptError, a bad image: already typed, with a fix
                raise
            from .errors import InvalidOptionsError

            raise InvalidOptionsError(
                f"Invalid prompt: {exc}.", fix="Pass a string or a list of OpenAI-shaped chat messages."
            ) from exc
        if not _plain_text(messages):
            texts = [(m.text, m.tool_call_id, [c.to_dict() for c in m.tool_calls]) for m in messages]
            require_text(texts, "the prompt")  # the walk, which names where
        if features.tools:
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
            conversation,
            fallback_models,
        )

    async def complete(
        self, prompt: Prompt | GenerationRequest, *, timeout: float | _Configured | None = CONFIGURED, **options: Any
    ) -> Result:
        """The whole answer as a ``Result`` (text, model, backend, finish reason, usage, tool calls,
        and for a ``response_format`` the ``parsed`` answer: ``StructuredOutputError`` when the
        answer is not JSON, e.g. cut by ``max_tokens``, keeping the raw text). ``prompt`` may be a
        request ``build_request`` made (with no ``options`` then): it is not validated again.
        ``timeout``: the seconds this call may take, instead of
        ``ULTRA_LLM_TIMEOUT``; ``None`` for no total (the first-token limit still holds)."""
        deadline = self._generation_deadline(timeout)
        request = self._request(prompt, options, deadline)
        if request.fallback_models:
            result = await self._falling_back(request, deadline, timeout)
        else:
            clock = CallClock(deadline, first_token=self._whole_first_token)
            result = await self._guard(self.chain.generate, request, clock=clock, timeout=timeout)
        if type(result) is not Result:  # the hot path: the exact type first, the general check after
            result = self._returned(result, "generate", Result)
        fmt = request.response_format
        if fmt is not None and not result.tool_calls:
            parsed = fmt.parse(result.text, finish_reason=result.finish_reason, backend=self.name)
            result = dataclasses.replace(result, parsed=parsed)
        if fmt is not None and result.choices:
            choices = tuple(
                choice
                if choice.tool_calls
                else dataclasses.replace(
                    choice, parsed=fmt.parse(choice.text, finish_reason=choice.finish_reason, backend=self.name)
                )
                for choice in result.choices
            )
            result = dataclasses.replace(result, choices=choices)
        return result

    async def _falling_back(
        self, request: GenerationRequest, deadline: Deadline, timeout: float | _Configured | None
    ) -> Result:
        """``request``'s whole answer down its chain: the next model after each failure a chain moves on
        for (``ultra_llm._fallback``), all within the call's one deadline; the answer carries ``fallback``."""
        fallbacks = Fallbacks(request, self.cooldowns, self._context_windows)
        attempt = await fallbacks.next()
        while True:
            assert attempt is not None
            clock = CallClock(deadline, first_token=self._whole_first_token)
            try:
                result = await self._guard(self.chain.generate, attempt, clock=clock, timeout=timeout)
            except UltraLLMError as error:
                following = await fallbacks.next() if fallbacks.failed(attempt.model, error) else None
                if following is None:
                    raise
                _log_fallback(attempt.model, following.model, error)
                attempt = following
                continue
            fallbacks.answered(attempt.model)
            if attempt.fallback is not None and isinstance(result, Result):
                result = dataclasses.replace(result, fallback=attempt.fallback)
            return result

    async def _stream_falling_back(self, request: GenerationRequest) -> AsyncGenerator[Chunk, None]:
        """``request``'s stream down its chain, moving on only before a first chunk: once one arrived
        the stream is that model's to the end. The first chunk of a fallback carries ``fallback``."""
        fallbacks = Fallbacks(request, self.cooldowns, self._context_windows)
        attempt = await fallbacks.next()
        while True:
            assert attempt is not None
            iterator: AsyncIterator[Chunk] | None = None
            try:
                iterator = self.chain.stream(attempt)
                first = await iterator.__anext__()
            except StopAsyncIteration:
                return
            except UltraLLMError as error:
                await _close(iterator)
                following = await fallbacks.next() if fallbacks.failed(attempt.model, error) else None
                if following is None:
                    raise
                _log_fallback(attempt.model, following.model, error)
                attempt = following
                continue
            except BaseException:
                await _close(iterator)
                raise
            fallbacks.answered(attempt.model)
            try:
                if attempt.fallback is not None and isinstance(first, Chunk):
                    first = dataclasses.replace(first, fallback=attempt.fallback)
                yield first
                async for chunk in iterator:
                    yield chunk
            finally:
                await _close(iterator)
            return

    def _fallback_models(self, model: str, chain: object) -> tuple[str, ...]:
        """The call's chain (``fallback_models``: a list of names), else ``model``'s in
        ``ULTRA_LLM_MODEL_FALLBACKS``; canonical names, each once, ``model`` left out."""
        from .errors import InvalidOptionsError

        if chain is None:
            names: Iterable[str] = self._default_chains().get(model, ())
        elif (
            isinstance(chain, str)
            or not isinstance(chain, (list, tuple))
            or not all(isinstance(name, str) and name.strip() for name in chain)
        ):
            raise InvalidOptionsError(
                f"fallback_models must be a list of model names, got {_quoted(chain)}.",
                fix="Pass e.g. fallback_models=['ai/qwen3', 'ai/smollm2'] (CLI: --fallback-model, repeatable).",
            )
        else:
            names = [self.backend.canonical_model(name) for name in chain]
        return tuple(name for name in dict.fromkeys(names) if name != model)

    def _default_chains(self) -> dict[str, tuple[str, ...]]:
        """``ULTRA_LLM_MODEL_FALLBACKS``, parsed once, names canonical (``ConfigurationError`` naming
        the variable for a name the backend cannot read)."""
        if self._chains is None:
            from ._fallback import parse_chains

            text = self.config.model_fallbacks
            chains: dict[str, tuple[str, ...]] = {}
            try:
                for model, nexts in (parse_chains(text) if text else {}).items():
                    chains[self.backend.canonical_model(model)] = tuple(self.backend.canonical_model(n) for n in nexts)
            except InvalidModelNameError as exc:
                raise ConfigurationError(
                    f"ULTRA_LLM_MODEL_FALLBACKS names a model backend '{self.name}' cannot read: {exc.message}",
                    fix="Give model names as `ultra-llm models` lists them: MODEL=NEXT[,NEXT...];MODEL=...",
                ) from None
            self._chains = chains
        return self._chains

    async def _context_windows(self) -> dict[str, int | None]:
        """Each model's context window as ``list_models`` gives it, read once (for a prompt too long)."""
        if self._windows is None:
            try:
                models = await self.list_models()
            except UltraLLMError:
                return {}  # not known: every fallback is tried
            self._windows = {info.name: info.context_window for info in models}
        return self._windows

    async def generate(
        self, prompt: Prompt, *, timeout: float | _Configured | None = CONFIGURED, **options: Any
    ) -> str:
        """The whole answer's text (the seed's ``generate``); raises a typed error, never returns one.
        ``timeout`` as for ``complete``."""
        return (await self.complete(prompt, timeout=timeout, **options)).text

    async def stream(
        self, prompt: Prompt | GenerationRequest, *, timeout: float | _Configured | None = CONFIGURED, **options: Any
    ) -> AsyncGenerator[Chunk, None]:
        """Yield ``Chunk`` objects as the backend produces them; closing early cancels the backend.
        ``prompt`` may be a request ``build_request`` made, and ``timeout`` is, as for ``complete``."""
        deadline = CallClock(self._generation_deadline(timeout))
        request = self._request(prompt, options, deadline.deadline)
        ending = StreamEnding(request.response_format, self.name)
        try:
            iterator = self._stream_falling_back(request) if request.fallback_models else self.chain.stream(request)
        except UltraLLMError:
            raise
        except PASS_THROUGH:
            raise
        except BaseException as exc:  # a plugin may raise anything, SystemExit included
            raise self._plugin_error(exc) from exc
        try:
            while True:
                try:
                    deadline.enter()
                    chunk = await iterator.__anext__()
                except StopAsyncIteration:
                    break
                except UltraLLMError:
                    raise
                except asyncio.CancelledError as exc:
                    if deadline.expired():
                        raise self._deadline_error(deadline, TimeoutError(), timeout=timeout) from exc
                    raise
                except PASS_THROUGH:
                    raise
                except TimeoutError as exc:
                    raise self._deadline_error(deadline, exc, timeout=timeout) from exc
                except BaseException as exc:  # a plugin may raise anything, SystemExit included
                    raise self._plugin_error(exc) from exc
                finally:
                    deadline.leave()
                if not deadline.deadline.has_answered:
                    deadline.deadline.answered()
                if type(chunk) is not Chunk:  # the hot path: the exact type first, the general check after
                    chunk = self._returned(chunk, "stream", Chunk)
                ending.add(chunk)
                yield chunk
            for final in ending.final_chunks():
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

    async def stream_generate(
        self, prompt: Prompt, *, timeout: float | _Configured | None = CONFIGURED, **options: Any
    ) -> AsyncGenerator[str, None]:
        """Yield the answer's text as it arrives (the seed's ``stream_generate``); no reasoning text.
        ``timeout`` as for ``complete``."""
        async with contextlib.aclosing(self.stream(prompt, timeout=timeout, **options)) as chunks:
            async for chunk in chunks:
                if chunk.kind == "text" and chunk.text:
                    yield chunk.text

    async def generate_many(
        self,
        prompts: Iterable[Prompt | GenerationRequest],
        *,
        concurrency: int = 8,
        progress: BatchProgressCallback | None = None,
        models: Sequence[str] | None = None,
        model_timeout: float | None = None,
        **options: Any,
    ) -> list[BatchItem]:
        """Answer every prompt, at most ``concurrency`` at once: one ``BatchItem`` each, in input order,
        a failed prompt's typed error in its item (see ``ultra_llm._batch``). With ``models``, every
        prompt on every model (prompt by prompt, each prompt's models in the order given), scheduled
        around model loads (``ultra_llm._fan_out``; ``model_timeout``: each model's seconds)."""
        self._check_open()  # one refusal for the batch, not one per prompt
        if models is None:
            from ._batch import generate_many

            return await generate_many(self, prompts, concurrency=concurrency, progress=progress, **options)
        from ._fan_out import Work, run_work

        if isinstance(prompts, str):
            from .errors import InvalidOptionsError

            raise InvalidOptionsError(
                "generate_many takes a list of prompts, got a single string.", fix="Pass [prompt], or use fan_out()."
            )
        names = self._fan_out_models(models)
        width = len(names)
        work = [Work(i * width + j, prompt, name) for i, prompt in enumerate(prompts) for j, name in enumerate(names)]
        return await run_work(
            self,
            work,
            concurrency=concurrency,
            held=self.config.models_held,
            model_timeout=model_timeout,
            progress=progress,
            options=options,
        )

    async def fan_out(
        self,
        prompt: Prompt,
        models: Sequence[str],
        *,
        concurrency: int = 8,
        model_timeout: float | None = None,
        **options: Any,
    ) -> list[BatchItem]:
        """``prompt`` answered by each of ``models``: one ``BatchItem`` per model, in the order given
        (``item.model``; its ``result``, or its typed ``error``: one model failing fails only its own).
        The models run side by side where their servers can hold them, else one after another with the
        next preloaded (``ultra_llm._fan_out``, ``ULTRA_LLM_MODELS_HELD``); ``model_timeout`` bounds
        each model's seconds, ``options`` are every call's."""
        return await self.generate_many(
            [prompt], models=models, concurrency=concurrency, model_timeout=model_timeout, **options
        )

    async def stream_fan_out(
        self,
        prompt: Prompt,
        models: Sequence[str],
        *,
        concurrency: int = 8,
        model_timeout: float | None = None,
        **options: Any,
    ) -> AsyncGenerator[FanOutEvent, None]:
        """``fan_out`` streamed: ``FanOutEvent``s labelled by model (``index``, ``model``) as the answers
        arrive, interleaved: each model's ``chunk``s in order, then its ``done`` or its ``error``."""
        self._check_open()
        from ._fan_out import Work, stream_work

        names = self._fan_out_models(models)
        work = [Work(index, prompt, name) for index, name in enumerate(names)]
        events = stream_work(
            self,
            work,
            concurrency=concurrency,
            held=self.config.models_held,
            model_timeout=model_timeout,
            options=options,
        )
        try:
            async for event in events:
                yield event
        finally:
            await events.aclose()  # type: ignore[attr-defined]

    def _fan_out_models(self, models: Sequence[str]) -> list[str]:
        """``models`` as canonical names, each once; ``InvalidOptionsError`` for none or a bare string."""
        from .errors import InvalidOptionsError

        if isinstance(models, str) or not models:
            raise InvalidOptionsError(
                f"models must be a list of one or more model names, got {_quoted(models)}.",
                fix="Pass e.g. models=['ai/llama3.2', 'ai/qwen3'].",
            )
        return list(dict.fromkeys(self.backend.canonical_model(name) for name in models))

    async def embed(
        self,
        inputs: str | Sequence[str],
        *,
        model: str | None = None,
        timeout: float | _Configured | None = CONFIGURED,
    ) -> EmbeddingResult:
        """Embed one text or several; one vector per input, in order (a backend that is an ``Embedder``).
        ``timeout``: the seconds the call may take instead of ``ULTRA_LLM_TIMEOUT``, ``None`` for no limit."""
        from ._capabilities import Embedder, refusal

        if not isinstance(self.backend, Embedder):
            raise refusal(self.name, Embedder, "embed texts")
        texts = (inputs,) if isinstance(inputs, str) else tuple(inputs)
        require_text(texts, "the input")
        clock = CallClock(self._call_deadline(timeout), first_token=False)
        request = EmbeddingRequest(self.backend.canonical_model(model or self.model), texts, self.name, clock.deadline)
        result = await self._guard(self.chain.embed, request, clock=clock, what="Embedding", timeout=timeout)
        return self._returned(result, "embed", EmbeddingResult)

    async def pull(
        self,
        model: str | None = None,
        progress: ProgressCallback | None = None,
        *,
        timeout: float | None = None,
        runners: Sequence[str] = (),
    ) -> None:
        """Download ``model`` (default: the adapter's), reporting progress to ``progress``. A pull of
        several GB takes as long as it takes: no total by default (``timeout=SECONDS`` sets one); the
        backend fails it when nothing arrives for its own pull-idle setting. ``runners``: only to these
        of a backend's servers (their URLs), not to every one."""
        store = self._store("pull models", runners)
        name = self.backend.canonical_model(model or self.model)
        await self._guard(store.pull, name, progress, what="Pulling", timeout=timeout)

    async def remove(self, model: str) -> None:
        """Delete a local model, within ``ULTRA_LLM_TIMEOUT`` (``GenerationTimeoutError`` after it)."""
        store = self._store("remove models")
        name = self.backend.canonical_model(model)
        await self._guard(store.remove, name, what="Removing")

    # -- model lifecycle (loaded models on the server) --------------------------------------------

    async def running_models(self) -> list[RunningModel]:
        """The models loaded now (``ultra-llm ps``), within ``ULTRA_LLM_TIMEOUT``."""
        from ._lifecycle import RunningModel

        loaded = self._loaded_models("list loaded models")
        running = await self._guard(loaded.running_models, what="Listing loaded models")
        return self._returned_each(running, "running_models", RunningModel)

    async def preload(
        self,
        model: str | None = None,
        *,
        timeout: float | _Configured | None = CONFIGURED,
        runners: Sequence[str] = (),
    ) -> str:
        """Load ``model`` (default: the adapter's) without generating; its canonical name. A cold load
        takes tens of seconds: it is bounded by ``ULTRA_LLM_TIMEOUT``, or ``timeout=`` (``None``: none).
        A backend with several servers loads it on each that has it, or on ``runners`` (URLs)."""
        loaded = self._loaded_models("preload models", runners)
        name = self.backend.canonical_model(model or self.model)
        await self._guard(loaded.preload, name, what="Preloading", timeout=timeout)
        return name

    async def unload(self, models: Sequence[str] = (), *, all: bool = False, runners: Sequence[str] = ()) -> int:
        """Unload ``models`` (names canonicalised), or every loaded model with ``all``; how many the
        server unloaded (on every server of a backend that has several, or on ``runners``).
        Unloading cuts requests the model is serving for anyone."""
        from .errors import InvalidOptionsError

        if all and models:
            raise InvalidOptionsError(
                "Name models to unload, or all of them, not both.", fix="Drop the names or --all."
            )
        if not all and not models:
            raise InvalidOptionsError("Name the models to unload.", fix="Give MODEL..., or --all for every one.")
        loaded = self._loaded_models("unload models", runners)
        names = [self.backend.canonical_model(model) for model in models]
        return self._returned(await self._guard(self._unload, loaded, names, all, what="Unloading"), "unload", int)

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
        runners: Sequence[str] = (),
    ) -> str:
        """Set ``model``'s context size (tokens; -1 for the whole trained context), keep-alive (a Go
        duration, ``0`` or ``-1``) and whether it thinks (a reasoning model; per request, the
        ``reasoning=`` option overrides it); its canonical name. On a model server these are per-model
        settings the server applies at the next load (it loads the model again at once). While the
        model is busy the server refuses: ``ModelLoadedError``; ``unload=True`` unloads it first, on
        purpose (cutting requests it serves). A backend with several servers configures it on each
        that has it, or on ``runners`` (URLs)."""
        from ._lifecycle import ModelSettings
        from .errors import ModelLoadedError

        loaded = self._loaded_models("configure models", runners)
        settings = loaded.check_settings(ModelSettings(context_size=context_size, keep_alive=keep_alive, think=think))
        name = self.backend.canonical_model(model)
        if unload:
            await self._guard(self._unload, loaded, [name], False, what="Unloading")
        try:
            await self._guard(loaded.configure, name, settings, what="Configuring")
        except ModelLoadedError as error:
            if unload:  # unloaded on purpose, still refused: the server keeps a model serving a request
                error.fix = "It is serving a request, which keeps it loaded even through unload: retry once it is done."
            raise
        return name

    async def inspect(self, model: str | None = None) -> ModelInfo:
        """Everything the backend knows of ``model`` (default: the adapter's), its context window included."""
        name = self.backend.canonical_model(model or self.model)
        return self._returned(await self._guard(self.backend.inspect, name, what="Inspecting"), "inspect", ModelInfo)

    async def disk_usage(self) -> DiskUsage:
        """What the backend's models take on disk (``ultra-llm df``)."""
        from ._lifecycle import DiskUsage

        loaded = self._loaded_models("report disk usage")
        usage = await self._guard(loaded.disk_usage, what="Reading disk usage")
        return self._returned(usage, "disk_usage", DiskUsage)

    # -- lifecycle ------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the backend (its clients, pools, processes); safe to call twice. Every call after it
        raises ``AdapterClosedError`` (``check_availability``, listing, generation, management ...)."""
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
        stamped = copy.copy(prompt)  # validated and frozen already: no replace() running it all again
        object.__setattr__(stamped, "deadline", deadline)
        return stamped

    def _store(self, asked: str, runners: Sequence[str] = ()) -> ModelStore:
        """The backend as a ``ModelStore`` for a management call (``asked``: "pull models" ...), acting
        on ``runners`` only when named (``Backend.on_runners``)."""
        self._check_not_standing_in()
        if not isinstance(self.backend, ModelStore):
            raise refusal(self.name, ModelStore, asked)
        return self._on(runners)  # type: ignore[return-value]  # a view of the same class

    def _loaded_models(self, asked: str, runners: Sequence[str] = ()) -> LoadedModels:
        """The backend as ``LoadedModels`` for a management call (``asked``: "preload models" ...),
        acting on ``runners`` only when named (``Backend.on_runners``)."""
        self._check_not_standing_in()
        if not isinstance(self.backend, LoadedModels):
            raise refusal(self.name, LoadedModels, asked)
        return self._on(runners)  # type: ignore[return-value]  # a view of the same class

    def _on(self, runners: Sequence[str]) -> Backend:
        """The backend, or its view acting on ``runners`` only (a plugin's failure is a ``PluginError``)."""
        if not runners:
            return self.backend
        try:
            view = self.backend.on_runners(list(runners))
        except UltraLLMError:
            raise
        except PASS_THROUGH:
            raise
        except BaseException as exc:  # a plugin may raise anything
            raise self._plugin_error(exc) from exc
        return self._returned(view, "on_runners", type(self.backend))

    def _check_not_standing_in(self) -> None:
        """A backend serving as the fallback for an unavailable one manages nothing in its place: the
        call fails with the unavailable backend's error, so nothing reports work that was not done."""
        error = self.selection.requested_error
        if self.selection.fell_back and error is not None:
            raise copy.copy(error)

    def _check_open(self) -> None:
        """The one check that the adapter is not closed (``AdapterClosedError``). Every call reaches it
        before the backend: through ``_now`` (each call's deadline starts there), or directly for the
        calls that make no deadline (``check_availability``, ``generate_many``)."""
        if self._closed:
            raise AdapterClosedError(self.name)

    def _now(self) -> float:
        """The loop time a call starts at, the adapter checked open first."""
        self._check_open()
        return asyncio.get_running_loop().time()

    def _returned(self, value: Any, where: str, kind: type[T]) -> T:
        """``value``, what the backend's ``where`` returned, if it is a ``kind``; else ``_wrong_type``."""
        if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
            return value
        raise self._wrong_type(where, f"a {type(value).__name__} ({_quoted(value)})", f"a {kind.__name__}")

    def _returned_each(self, value: Any, where: str, kind: type[T]) -> list[T]:
        """``value``, what the backend's ``where`` returned, if it is a list of ``kind``; else ``_wrong_type``."""
        if not isinstance(value, list):
            raise self._wrong_type(where, f"a {type(value).__name__}", f"a list of {kind.__name__}")
        for item in value:
            if not isinstance(item, kind):
                got = f"a list holding a {type(item).__name__} ({_quoted(item)})"
                raise self._wrong_type(where, got, f"a list of {kind.__name__}")
        return value

    def _wrong_type(self, where: str, got: str, wanted: str) -> PluginError:
        """The one error for a backend answering ``where`` with the wrong type: a ``PluginError`` naming
        the backend, what it returned where and its plugin (a bug there, never a traceback of ours)."""
        plugin = self._plugin_name(None)
        return PluginError(
            f"Backend '{self.name}' returned {got} from {where}, where {wanted} belongs: a bug in plugin '{plugin}'.",
            plugin=plugin,
            fix=f"Report it to the authors of plugin '{plugin}' with this line, and upgrade it when fixed; "
            "meanwhile use another backend (-b, ULTRA_LLM_BACKEND).",
        )

    def _total(self, timeout: float | _Configured | None) -> float:
        """A call's total in seconds: ``ULTRA_LLM_TIMEOUT``, else its ``timeout=`` checked (``inf``: none)."""
        return self.config.timeout if timeout is CONFIGURED else call_timeout(timeout)

    def _call_deadline(self, timeout: float | _Configured | None) -> Deadline:
        """The deadline of a call starting now with its total only (no answer to begin: management)."""
        return Deadline.starting(self._now(), self._total(timeout))

    def _generation_deadline(self, timeout: float | _Configured | None) -> Deadline:
        """The deadline of a generation starting now: its total and ``ULTRA_LLM_FIRST_TOKEN_TIMEOUT``."""
        return Deadline.starting(self._now(), self._total(timeout), self.config.first_token_timeout)

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
        clock: CallClock | None = None,
        what: str = "Generation",
        timeout: float | _Configured | None = CONFIGURED,
    ) -> T:
        """Await ``func(*args)`` on ``clock`` (given with a request, which carries its deadline), else on
        a new one (the call's total only, from ``timeout``) whose deadline is ``current_deadline()``: a
        ``GenerationTimeoutError`` saying ``what`` took too long once it passes. Untyped plugin
        exceptions (any ``BaseException`` but ``PASS_THROUGH``) become a ``PluginError`` naming the
        plugin."""
        carried = clock is not None  # a request carries its deadline; other calls read current_deadline()
        if clock is None:
            clock = CallClock(self._call_deadline(timeout), first_token=False)
        try:
            clock.enter(current=not carried)
            return await func(*args)
        except UltraLLMError:
            raise
        except asyncio.CancelledError as exc:
            if clock.expired():
                raise self._deadline_error(clock, TimeoutError(), what, timeout=timeout) from exc
            raise
        except PASS_THROUGH:
            raise
        except TimeoutError as exc:
            raise self._deadline_error(clock, exc, what, timeout=timeout) from exc
        except BaseException as exc:  # a plugin may raise anything, SystemExit included
            raise self._plugin_error(exc) from exc
        finally:
            clock.leave()
            clock.close()

    def _deadline_error(
        self,
        clock: CallClock,
        exc: TimeoutError,
        what: str = "Generation",
        *,
        timeout: float | _Configured | None = CONFIGURED,
    ) -> UltraLLMError:
        """The one error for ``clock``'s deadline passing: the first-token one when nothing had arrived
        (quoting why the backend said it waited), else the total's (quoting it too for a call with no
        answer to begin: a pull, a listing). A ``TimeoutError`` a backend let out before any deadline
        passed is its own fault, a ``PluginError``."""
        if not clock.passed():
            return self._plugin_error(exc)
        total = self._total(timeout)
        if clock.first_token_missed():
            return GenerationTimeoutError.first_token(
                f"backend '{self.name}'",
                first_token_timeout=self.config.first_token_timeout,
                total_timeout=total,
                backend=self.name,
                total_setting="ULTRA_LLM_TIMEOUT" if timeout is CONFIGURED else "the call's timeout",
                waiting=clock.deadline.waiting,
            )
        fix = None
        if timeout is not CONFIGURED:
            fix = "Give the call a longer timeout (timeout=, --timeout, the request's timeout field), or ask for less."
        waiting = clock.deadline.waiting if not clock.answers else None  # a generation's may be stale
        why = f" ({waiting})" if waiting else ""
        message = f"{what} on backend '{self.name}' took longer than {total:g} s{why}."
        return GenerationTimeoutError(message, timeout=total, fix=fix, backend=self.name)


def _plain_text(messages: tuple[Message, ...]) -> bool:
    """True when every message is plain valid text (no parts, tool calls or call id to walk): the
    common prompt is checked without building the structure ``require_text`` walks."""
    for message in messages:
        content = message.content
        if type(content) is not str or message.tool_calls or message.tool_call_id is not None:
            return False
        if not is_text(content):
            return False
    return True


MAX_CONVERSATION_ID = 256
"""The longest conversation id, in characters."""


def _conversation_id(value: object) -> str | None:
    """A call's ``conversation=`` as the request carries it: a text of 1 to ``MAX_CONVERSATION_ID``
    characters, or ``None``; else ``InvalidOptionsError``."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_CONVERSATION_ID:
        from .errors import InvalidOptionsError

        raise InvalidOptionsError(
            f"conversation must be a text id of 1 to {MAX_CONVERSATION_ID} characters, got {_quoted(value)}.",
            fix="Pass the same id (a session or thread id) with every request of one conversation.",
        )
    require_text(value, "the conversation id")
    return value


async def _close(iterator: AsyncIterator[Chunk] | None) -> None:
    """Close a stream left early (a plugin's failure to close it is not the call's)."""
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


def _log_fallback(model: str, following: str, error: UltraLLMError) -> None:
    """One INFO line for each step down a chain: which model failed, why, and which is tried next."""
    import logging

    logging.getLogger("ultra_llm").info("%s did not answer (%s); trying %s", model, error.message, following)


def _quoted(value: object) -> str:
    """A short ``repr`` of a wrong value for an error line (at most 60 characters)."""
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


LLMAdapter = Adapter
"""The seed's name for the adapter contract."""
