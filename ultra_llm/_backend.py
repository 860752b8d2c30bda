"""What a backend is: the base class every backend plugin subclasses.

A backend is behaviour on a class (simonw/llm's lesson): hooks only register it. The host builds
one instance per adapter, passes it the core ``UltraConfig``, and calls ``aclose()`` when done.
Nothing here imports pydantic or any client library: backends import what they need lazily.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from ._tools import ToolCallAssembler
from ._types import (
    Availability,
    Check,
    Choice,
    Chunk,
    GenerationRequest,
    ModelInfo,
    Result,
    TokenLogprob,
    Usage,
)
from .errors import ModelNotFoundError

if TYPE_CHECKING:
    from ._config import UltraConfig
    from ._deadline import Deadline
    from ._settings import Settings

__all__ = ["Backend", "closing_stream", "collect_result"]

ItemT = TypeVar("ItemT")


class Backend(abc.ABC):
    """Base class of a backend: availability, discovery, generation.

    Subclasses set ``name`` and implement ``check_availability``, ``list_models`` and ``stream``;
    they may override ``generate`` (whole answers) and ``inspect``. A backend that can do more
    implements the matching Protocol of ``ultra_llm.plugin`` as well (``ModelStore``: pull,
    remove; ``LoadedModels``: the models loaded in memory; ``Embedder``: embeddings): its methods
    are the whole declaration. A request's tools, response format, images and reasoning control
    reach a backend only when it sets the matching ``supports_*`` flag: the adapter refuses them
    otherwise, with ``unsupported_hint`` as the fix. ``options_model`` is a pydantic model (``extra="forbid"``) of
    the generation options the backend accepts, or better for start-up time its ``"module:Class"``
    name, imported only when a call passes options; ``None`` means it accepts none.
    ``settings_model`` is an optional ``ultra_llm.plugin.Settings`` class of the backend's own
    environment variables, shown by ``ultra-llm config``; the host reads it (with per-adapter
    overrides) and passes it as ``settings=``, and ``self.settings`` holds it (read from the
    environment when ``None`` is passed).
    Errors raised must be ``ultra_llm.errors`` types, with the fix that fits this backend.
    """

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    options_model: ClassVar[type[Any] | str | None] = None
    options_hint: ClassVar[str] = ""
    """Shown as the fix when a caller passes options the backend does not accept."""
    settings_model: ClassVar[type[Settings] | None] = None
    supports_tools: ClassVar[bool] = False
    """Reads ``request.tools`` and ``tool_choice`` and returns the calls (``Result.tool_calls``)."""
    supports_response_format: ClassVar[bool] = False
    """Reads ``request.response_format`` and answers with JSON that follows it."""
    supports_images: ClassVar[bool] = False
    """Sends the images of ``request.messages`` to the model."""
    supports_reasoning_control: ClassVar[bool] = False
    """Reads ``request.reasoning`` and ``reasoning_budget``."""
    unsupported_hint: ClassVar[str] = ""
    """Shown as the fix when a call asks for a feature above the backend does not declare."""
    default_model: ClassVar[str | None] = None
    """The model a call gets when it names none and ``DEFAULT_MODEL`` is unset."""

    def __init__(self, config: UltraConfig, *, settings: Settings | None = None) -> None:
        """``config`` is the core configuration; ``settings`` an instance of ``settings_model``
        (``None``: read from the environment now; always ``None`` without a ``settings_model``)."""
        self.config = config
        if settings is None and self.settings_model is not None:
            settings = self.settings_model.load()
        self.settings: Settings | None = settings

    @abc.abstractmethod
    async def check_availability(self) -> Availability:
        """Cheaply tell whether the backend can serve now; never raise for an unavailable server."""

    @abc.abstractmethod
    async def list_models(self) -> list[ModelInfo]:
        """The models this backend can serve now, names canonical; raise a typed error on failure."""

    @abc.abstractmethod
    def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        """Yield the answer as chunks as they arrive; closing the iterator must cancel the work."""

    async def generate(self, request: GenerationRequest) -> Result:
        """The whole answer; by default the stream collected into one ``Result``, its first chunk told
        to the request's deadline (so whole calls keep the first-token limit too)."""
        return await collect_result(
            self.stream(request), model=request.model, backend=self.name, deadline=request.deadline
        )

    async def inspect(self, model: str) -> ModelInfo:
        """Everything known of one model (``details`` filled, ``context_window`` when known);
        ``ModelNotFoundError`` when it is not there. By default its entry in ``list_models()``: a
        backend that knows more of one model than its listing says overrides this."""
        for info in await self.list_models():
            if info.name == model:
                return info
        raise self.model_missing(model)

    def canonical_model(self, name: str) -> str:
        """The canonical form of a model name for this backend (the name itself by default); raise
        ``InvalidModelNameError`` for a name the backend cannot accept."""
        return name

    async def doctor_checks(self, model: str) -> list[Check]:
        """What ``ultra-llm doctor`` checks after the availability check, in order, each with its
        fix when it fails: by default that the backend lists its models and ``model`` among them."""
        names = [info.name for info in await self.list_models()]
        checks = [Check("models", True, f"{len(names)} found" + (f": {', '.join(names[:8])}" if names else ""))]
        if model not in names:
            error = self.model_missing(model)
            checks.append(Check(f"default model '{model}'", False, "not found", error.fix, required=False))
        return checks

    def model_missing(self, model: str, detail: str | None = None) -> ModelNotFoundError:
        """The error for a model this backend does not have, with this backend's way to get it."""
        return ModelNotFoundError(model, backend=self.name, detail=detail)

    def served_from(self) -> str | None:
        """Where this backend's answers come from when that can differ between instances, else ``None``
        (the default): everything that decides where a request goes and as whom (a server's URL and
        API path, a digest of its credentials, never the credentials in clear). Caches key answers by
        it. Must not do I/O or raise."""
        return None

    def on_runners(self, urls: Sequence[str]) -> Backend:
        """This backend acting only on the named runners (servers) for model management and lifecycle
        calls (``--runner URL``, ``runners=``): a backend that spreads requests over several servers
        returns a view of itself sharing its connections; ``InvalidOptionsError`` for a URL it does not
        use. The default: one server, so ``UnsupportedOperationError``."""
        from .errors import UnsupportedOperationError

        raise UnsupportedOperationError(
            f"Backend '{self.name}' talks to one server: there is no runner to name.",
            fix="Leave out --runner (runners=); it names one of the several servers a backend may be given.",
            backend=self.name,
        )

    def diagnostics(self) -> dict[str, Any]:
        """Backend-specific state worth showing, JSON-ready (``{}`` by default), for ``ultra-llm
        backends --json`` and the web API. Must not do I/O or raise."""
        return {}

    async def aclose(self) -> None:  # noqa: B027 - optional hook with a no-op default
        """Release clients, pools and processes; called once when the adapter closes."""

    @classmethod
    def options_class(cls) -> type[Any] | None:
        """The options model, imported now if ``options_model`` names it (``PluginError`` if that fails)."""
        model = cls.options_model
        if isinstance(model, str):
            from ._targets import import_target

            model = import_target(model, plugin=cls.name)
            cls.options_model = model  # once: later calls find the class
        return model

    @classmethod
    def capabilities(cls) -> dict[str, Any]:
        """What the backend offers: streaming; the optional capabilities it implements (``store``,
        ``lifecycle``, ``embeddings``: the Protocols of ``ultra_llm.plugin``); the request features it declares
        (tools, response formats, images, reasoning control); its option names."""
        from ._capabilities import capabilities_of

        options = cls.options_class()
        return {
            "streaming": True,
            **capabilities_of(cls),
            "tools": cls.supports_tools,
            "response_format": cls.supports_response_format,
            "images": cls.supports_images,
            "reasoning_control": cls.supports_reasoning_control,
            "options": sorted(options.model_fields) if options is not None else [],
        }


class closing_stream(Generic[ItemT]):  # named like contextlib.aclosing, which it generalises
    """``async with closing_stream(call()) as chunks:``: the stream, closed on exit however the block
    ends (``contextlib.aclosing`` for any async iterator, ``aclose`` or not), so an early stop
    cancels the backend's work.

    A class rather than an ``asynccontextmanager``: used inside an async generator left unclosed
    until its loop shuts down, it adds no inner generator the loop could finalize first.
    """

    def __init__(self, stream: AsyncIterator[ItemT]) -> None:
        self.stream = stream

    async def __aenter__(self) -> AsyncIterator[ItemT]:
        return self.stream

    async def __aexit__(self, *exc_info: object) -> None:
        aclose = getattr(self.stream, "aclose", None)
        if aclose is not None:
            await aclose()


class StreamedWrongType(TypeError):
    """A backend streamed something that is not a ``Chunk``: the backend's bug, whichever middleware
    the stream passed through on its way (``Chain.blame`` names the backend's plugin for it)."""


class _Answer:
    """One answer's pieces while a stream is collected (one per ``Chunk.index``)."""

    __slots__ = ("calls", "finish_reason", "logprobs", "reasoning", "text")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.calls = ToolCallAssembler()
        self.finish_reason: str | None = None
        self.logprobs: list[TokenLogprob] = []

    def choice(self, index: int) -> Choice:
        return Choice(
            index,
            "".join(self.text),
            self.finish_reason,
            "".join(self.reasoning) or None,
            self.calls.calls(),
            tuple(self.logprobs),
        )


async def collect_result(
    stream: AsyncIterator[Chunk], *, model: str, backend: str, deadline: Deadline | None = None
) -> Result:
    """Drain ``stream`` into one ``Result``: text and reasoning joined, tool-call pieces assembled,
    log probabilities kept, last finish reason and usage kept; the first chunk tells ``deadline`` the
    answer began. Chunks of several answers (``Chunk.index``, the ``n`` option) are kept apart: the
    result is the first's, and ``choices`` holds them all. Anything streamed that is not a ``Chunk``
    is a ``TypeError`` saying so (the backend's bug)."""
    answers: dict[int, _Answer] = {0: _Answer()}
    usage: Usage | None = None
    async with closing_stream(stream) as chunks:
        async for chunk in chunks:
            if deadline is not None and not deadline.has_answered:
                deadline.answered()
            if type(chunk) is not Chunk and not isinstance(chunk, Chunk):  # the adapter makes it a PluginError
                raise StreamedWrongType(f"backend '{backend}' streamed a {type(chunk).__name__}, where a Chunk belongs")
            answer = answers.get(chunk.index)
            if answer is None:
                answer = answers[chunk.index] = _Answer()
            (answer.reasoning if chunk.kind == "reasoning" else answer.text).append(chunk.text)
            for delta in chunk.tool_call_deltas:
                answer.calls.add(delta)
            if chunk.logprobs:
                answer.logprobs.extend(chunk.logprobs)
            answer.finish_reason = chunk.finish_reason or answer.finish_reason
            usage = chunk.usage or usage
    first = answers[0].choice(0)
    return Result(
        text=first.text,
        model=model,
        backend=backend,
        finish_reason=first.finish_reason,
        usage=usage,
        reasoning=first.reasoning,
        tool_calls=first.tool_calls,
        logprobs=first.logprobs,
        choices=tuple(answers[index].choice(index) for index in sorted(answers)) if len(answers) > 1 else (),
    )
