"""Middleware: what a plugin puts around every call an adapter makes to its backend.

A plugin's ``ultra_llm_middleware`` hook returns an object with any of three methods (subclass
``Middleware`` to get the types and leave out what you do not need)::

    async def generate(self, request, call_next) -> Result
    def stream(self, request, call_next) -> AsyncIterator[Chunk]      # an async generator
    async def embed(self, request, call_next) -> EmbeddingResult

``call_next(request)`` runs the rest of the chain (the inner middleware, then the backend), so an
error the backend raises reaches the middleware's ``try`` and the middleware may answer without
calling it (a cache). ``Chain`` is built once, when the adapter is made: a request pays
no hook dispatch, and a layer that leaves an operation out costs nothing for it. The first
layer is the outermost.

A layer's ``stream`` must close the stream ``call_next`` gave it when it stops early (``async with
closing_stream(call_next(request)) as chunks:``). One that does not would leave the backend
working after the caller stopped, to be closed whenever the garbage collector gets to it: when
the caller closes the chain's stream, the chain closes what each layer left open and names the
layer's plugin (``on_left_open``, a WARNING once per plugin through the host).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from types import CodeType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._backend import Backend
    from ._types import Chunk, EmbeddingRequest, EmbeddingResult, GenerationRequest, Result

__all__ = ["OPERATIONS", "Chain", "EmbedNext", "GenerateNext", "Layer", "Middleware", "StreamNext"]

GenerateNext = Callable[["GenerationRequest"], Awaitable["Result"]]
"""The rest of the chain for a whole answer: ``await call_next(request)``."""

StreamNext = Callable[["GenerationRequest"], AsyncIterator["Chunk"]]
"""The rest of the chain for a stream: ``async for chunk in call_next(request)``."""

EmbedNext = Callable[["EmbeddingRequest"], Awaitable["EmbeddingResult"]]
"""The rest of the chain for embeddings: ``await call_next(request)``."""

OPERATIONS = ("generate", "stream", "embed")


class Middleware:
    """Base class of middleware. Override any of ``generate``, ``stream`` and ``embed``; the ones
    left as they are here are skipped when the chain is composed (they would only forward).

    A ``stream`` override is an async generator that iterates ``call_next(request)`` and yields
    chunks; close the inner stream when you stop early (``async with closing_stream(...)``).
    """

    async def generate(self, request: GenerationRequest, call_next: GenerateNext) -> Result:
        """Produce the whole answer for ``request``, usually by ``await call_next(request)``."""
        return await call_next(request)

    def stream(self, request: GenerationRequest, call_next: StreamNext) -> AsyncIterator[Chunk]:
        """Produce the answer's chunks for ``request``, usually from ``call_next(request)``."""
        return call_next(request)

    async def embed(self, request: EmbeddingRequest, call_next: EmbedNext) -> EmbeddingResult:
        """Produce the embeddings for ``request``, usually by ``await call_next(request)``."""
        return await call_next(request)


class Layer:
    """One plugin's middleware in a chain (a plain class: a dataclass costs milliseconds at import)."""

    __slots__ = ("middleware", "plugin")

    def __init__(self, plugin: str, middleware: object) -> None:
        self.plugin = plugin
        self.middleware = middleware

    def __repr__(self) -> str:
        return f"Layer(plugin={self.plugin!r}, middleware={self.middleware!r})"

    def method(self, operation: str) -> Callable[..., object] | None:
        """The bound method implementing ``operation``, or ``None`` when the layer leaves it out."""
        inherited = getattr(Middleware, operation)
        found = getattr(type(self.middleware), operation, None)
        if found is None or found is inherited:
            return None
        method: Callable[..., object] = getattr(self.middleware, operation)
        return method

    def check(self) -> None:
        """Raise ``TypeError`` (saying what to change) unless the middleware is well-formed."""
        methods = {operation: self.method(operation) for operation in OPERATIONS}
        if not any(methods.values()):
            raise TypeError(
                f"{type(self.middleware).__name__} has none of the methods generate, stream, embed "
                "(return None from ultra_llm_middleware to add nothing)"
            )
        for operation in ("generate", "embed"):
            method = methods[operation]
            if method is not None and not inspect.iscoroutinefunction(method):
                raise TypeError(f"{type(self.middleware).__name__}.{operation} must be an `async def` method")
        stream = methods["stream"]
        if stream is not None and inspect.iscoroutinefunction(stream):
            raise TypeError(
                f"{type(self.middleware).__name__}.stream must be an async generator (`async def` with "
                "`yield`) or return an async iterator, not a coroutine"
            )


def _bind(method: Callable[..., Any], call_next: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` with ``call_next`` fixed as its second argument: what the next outer layer calls."""

    def bound(request: Any) -> Any:
        return method(request, call_next)

    return bound


def _bind_stream(
    method: Callable[..., Any], call_next: StreamNext, layer: Layer, on_left_open: Callable[[str, str], None]
) -> StreamNext:
    """``_bind`` for ``stream``: each call is a ``_LayerStream`` that closes what the layer leaves open."""

    def bound(request: GenerationRequest) -> AsyncIterator[Chunk]:
        return _LayerStream(method, request, call_next, layer, on_left_open)

    return bound


class _LayerStream:
    """One layer's stream for one request: the layer's own iterator, and the streams it opened
    through ``call_next``. ``aclose`` closes the layer's iterator, then each stream it opened: one
    it left open (it stopped without ``closing_stream``) is closed here and reported once to
    ``on_left_open`` with the layer's plugin. Iterating costs one call per chunk."""

    __slots__ = ("_layer", "_on_left_open", "_opened", "_stream")

    def __init__(
        self,
        method: Callable[..., Any],
        request: GenerationRequest,
        call_next: StreamNext,
        layer: Layer,
        on_left_open: Callable[[str, str], None],
    ) -> None:
        self._layer = layer
        self._on_left_open = on_left_open
        self._opened: list[AsyncIterator[Chunk]] = []

        def tracked(request: GenerationRequest) -> AsyncIterator[Chunk]:
            stream = call_next(request)
            self._opened.append(stream)
            return stream

        self._stream: AsyncIterator[Chunk] = method(request, tracked)

    def __aiter__(self) -> _LayerStream:
        return self

    def __anext__(self) -> Awaitable[Chunk]:
        return self._stream.__anext__()

    async def aclose(self) -> None:
        """Close the layer's stream, then whatever it opened and left open (reported once)."""
        try:
            aclose = getattr(self._stream, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            opened, self._opened = self._opened, []
            for stream in opened:
                if stream is self._stream:  # the layer handed the inner stream on: closed above
                    continue
                if _left_open(stream):
                    name = f"{type(self._layer.middleware).__name__}.stream"
                    self._on_left_open(
                        self._layer.plugin,
                        f"Plugin '{self._layer.plugin}': {name} stopped without closing the stream "
                        "call_next(request) gave it, so the backend went on working after the caller "
                        "stopped (and tests that check a stream is closed, other plugins' too, fail). "
                        "ultra-llm closed it. Iterate it inside `async with closing_stream(call_next(request)) "
                        "as chunks:` (from ultra_llm.plugin import closing_stream).",
                    )
                close = getattr(stream, "aclose", None)
                if close is not None:
                    await close()


def _left_open(stream: AsyncIterator[Chunk]) -> bool:
    """Whether ``stream`` (an async generator, or the next layer's stream) is neither finished nor
    closed; another kind of iterator cannot tell, and counts as closed."""
    while isinstance(stream, _LayerStream):
        stream = stream._stream
    return inspect.isasyncgen(stream) and stream.ag_frame is not None


def _warn_left_open(plugin: str, message: str) -> None:
    """The default ``on_left_open`` of a chain built without a host: a WARNING each time."""
    logging.getLogger("ultra_llm").warning("%s", message)


class Chain:
    """The composed calls of one adapter: ``generate``, ``stream`` and ``embed``, each the backend's
    own method wrapped by the layers that implement that operation, outermost first.

    ``on_left_open(plugin, message)`` hears of a layer whose ``stream`` left the stream
    ``call_next`` gave it open (``_LayerStream``); the host's ``warn`` says it once per plugin."""

    def __init__(
        self,
        backend: Backend,
        layers: Sequence[Layer],
        *,
        backend_plugin: str | None,
        on_left_open: Callable[[str, str], None] = _warn_left_open,
    ) -> None:
        self.layers = tuple(layers)
        self.backend_plugin = backend_plugin
        self.generate: GenerateNext = self._compose("generate", backend.generate)
        self.stream: StreamNext = self._compose_stream(backend.stream, on_left_open)
        self.embed: EmbedNext = self._compose("embed", _embed_of(backend))
        self._owners = [(type(layer.middleware), layer.plugin) for layer in self.layers]
        if backend_plugin is not None:
            self._owners.append((type(backend), backend_plugin))
        self._codes: dict[CodeType, str] | None = None

    def _compose(self, operation: str, innermost: Callable[..., Any]) -> Any:
        call = innermost
        for layer in reversed(self.layers):
            method = layer.method(operation)
            if method is not None:
                call = _bind(method, call)
        return call

    def _compose_stream(self, innermost: StreamNext, on_left_open: Callable[[str, str], None]) -> StreamNext:
        call = innermost
        for layer in reversed(self.layers):
            method = layer.method("stream")
            if method is not None:
                call = _bind_stream(method, call, layer, on_left_open)
        return call

    def blame(self, exc: BaseException) -> str | None:
        """The plugin whose code raised ``exc``: the innermost traceback frame running a method of a
        layer's or the backend's class; failing that, the innermost frame in one of their packages.
        ``None`` for a chunk of the wrong type the kernel's collector found (the backend's bug)."""
        from ._backend import StreamedWrongType

        if isinstance(exc, StreamedWrongType):
            return None  # the backend's own bug: the adapter names the backend's plugin
        if self._codes is None:
            self._codes = {code: plugin for cls, plugin in reversed(self._owners) for code in _codes_of(cls)}
        packages = {_package(cls.__module__): plugin for cls, plugin in reversed(self._owners)}
        packages.pop("ultra_llm", None)  # the core's own frames blame no plugin
        by_code: str | None = None
        by_package: str | None = None
        tb = exc.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            by_code = self._codes.get(frame.f_code, by_code)
            by_package = packages.get(_package(frame.f_globals.get("__name__", "")), by_package)
            tb = tb.tb_next
        return by_code or by_package


def _embed_of(backend: Backend) -> EmbedNext:
    """The backend's ``embed`` (``ultra_llm.plugin.Embedder``), or the typed refusal."""
    embed: EmbedNext | None = getattr(backend, "embed", None)
    if embed is not None:
        return embed

    async def refuse(request: EmbeddingRequest) -> EmbeddingResult:
        from ._capabilities import Embedder, refusal

        raise refusal(backend.name, Embedder, "embed texts")

    return refuse


def _codes_of(cls: type) -> Iterator[CodeType]:
    """The code objects of ``cls``'s own functions and its bases' (the core's excepted), nested
    functions included."""
    for klass in cls.__mro__:
        if klass is object or _package(klass.__module__) == "ultra_llm":
            continue
        for value in vars(klass).values():
            function = getattr(value, "__func__", value)
            code = getattr(function, "__code__", None)
            if isinstance(code, CodeType):
                yield from _nested(code)


def _nested(code: CodeType) -> Iterator[CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _nested(const)


def _package(module: str) -> str:
    return module.split(".", 1)[0]
