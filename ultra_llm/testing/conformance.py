"""The backend conformance suite: subclass ``BackendConformance`` to check a backend's contract.

A plugin author writes::

    class TestMyBackend(BackendConformance):
        model = "my-model"

        @pytest.fixture
        def backend_factory(self):
            return MyBackend

and pytest runs every check below against it: discovery, availability, whole and streamed
generation agreeing, option validation, typed errors, cancellation, embeddings where declared.
The fixture may depend on others (a test double, a server), which is how real boundaries stay real.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, TypeVar

import pytest

from ..adapter import Adapter
from ..backend import Backend
from ..config import load_config
from ..errors import InvalidOptionsError, ModelNotFoundError, UltraLLMError, UnsupportedOperationError
from ..host import PluginHost
from ..selection import Selection
from ..types import Availability, Chunk, EmbeddingRequest, GenerationRequest, ModelInfo, Result, to_messages

__all__ = ["BackendConformance", "BackendFactory"]

T = TypeVar("T")
BackendFactory = Callable[..., Backend]
"""Builds a backend from an ``UltraConfig`` (a ``Backend`` subclass is one)."""


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class BackendConformance:
    """Checks every backend must pass. Set ``model`` and override the ``backend_factory`` fixture.

    Class attributes tune the suite: ``prompt`` and ``options`` for the generation checks
    (``options`` should make the backend deterministic, e.g. ``{"temperature": 0}``);
    ``deterministic = False`` when two runs may differ; ``unknown_model`` names a model the
    backend must answer with ``ModelNotFoundError`` (``None`` skips that check).
    """

    model: ClassVar[str]
    prompt: ClassVar[str] = "Say hello in one short sentence."
    options: ClassVar[dict[str, Any]] = {}
    deterministic: ClassVar[bool] = True
    unknown_model: ClassVar[str | None] = "ai/no-such-model-ultra-llm:latest"

    @pytest.fixture
    def backend_factory(self) -> BackendFactory:
        """Override: return a callable building the backend from an ``UltraConfig``."""
        raise NotImplementedError("override the backend_factory fixture in your subclass")

    # -- helpers ------------------------------------------------------------------------------

    def make(self, factory: BackendFactory) -> Backend:
        """A backend built with the environment's configuration."""
        return factory(load_config())

    def request(self, backend: Backend, **options: Any) -> GenerationRequest:
        """A validated request for ``self.model`` with ``self.options`` plus ``options``."""
        from ..options import validate_options

        merged = {**self.options, **options}
        instance, as_dict = validate_options(type(backend), merged)
        return GenerationRequest(
            backend.canonical_model(self.model), to_messages(self.prompt), instance, backend.name, as_dict
        )

    # -- the checks ---------------------------------------------------------------------------

    def test_declares_a_name(self, backend_factory: BackendFactory) -> None:
        backend = self.make(backend_factory)
        assert isinstance(backend.name, str) and backend.name
        caps = backend.capabilities()
        assert set(caps) >= {"streaming", "embeddings", "pull", "remove", "options"}

    def test_availability_is_typed(self, backend_factory: BackendFactory) -> None:
        async def case() -> Availability:
            backend = self.make(backend_factory)
            try:
                return await backend.check_availability()
            finally:
                await backend.aclose()

        availability = _run(case())
        assert isinstance(availability, Availability)
        assert availability.available, f"backend unavailable in its own conformance run: {availability.reason}"

    def test_lists_models_with_canonical_names(self, backend_factory: BackendFactory) -> None:
        async def case() -> tuple[Backend, list[ModelInfo]]:
            backend = self.make(backend_factory)
            try:
                return backend, await backend.list_models()
            finally:
                await backend.aclose()

        backend, models = _run(case())
        assert models, "list_models returned nothing"
        for model in models:
            assert isinstance(model, ModelInfo)
            assert backend.canonical_model(model.name) == model.name, f"{model.name!r} is not canonical"
        assert backend.canonical_model(self.model) in {m.name for m in models}

    def test_whole_and_streamed_generation_agree(self, backend_factory: BackendFactory) -> None:
        async def case() -> tuple[Result, list[Chunk]]:
            backend = self.make(backend_factory)
            try:
                whole = await backend.generate(self.request(backend))
                chunks = [chunk async for chunk in backend.stream(self.request(backend))]
                return whole, chunks
            finally:
                await backend.aclose()

        whole, chunks = _run(case())
        assert isinstance(whole, Result) and whole.text
        assert all(isinstance(chunk, Chunk) for chunk in chunks)
        streamed = "".join(chunk.text for chunk in chunks if chunk.kind == "text")
        assert streamed, "the stream produced no text"
        if self.deterministic:
            assert streamed == whole.text

    def test_unknown_option_is_a_typed_error(self, backend_factory: BackendFactory) -> None:
        backend = self.make(backend_factory)
        with pytest.raises(InvalidOptionsError) as caught:
            self.request(backend, no_such_option_ultra_llm=1)
        assert "no_such_option_ultra_llm" in caught.value.message

    def test_unknown_model_is_a_typed_error(self, backend_factory: BackendFactory) -> None:
        if self.unknown_model is None:
            pytest.skip("this backend serves any model name")

        async def case() -> None:
            backend = self.make(backend_factory)
            try:
                request = self.request(backend)
                request = GenerationRequest(
                    backend.canonical_model(self.unknown_model or ""),
                    request.messages,
                    request.options,
                    request.backend,
                    request.options_dict,
                )
                await backend.generate(request)
            finally:
                await backend.aclose()

        with pytest.raises(ModelNotFoundError):
            _run(case())

    def test_closing_a_stream_early_cancels_it(self, backend_factory: BackendFactory) -> None:
        async def case() -> str:
            backend = self.make(backend_factory)
            try:
                stream = backend.stream(self.request(backend))
                async with contextlib.aclosing(stream):  # type: ignore[type-var]
                    async for _chunk in stream:
                        break
                return (await backend.generate(self.request(backend))).text
            finally:
                await backend.aclose()

        assert _run(case()), "the backend did not answer after a stream was closed early"

    def test_through_the_host_and_adapter(self, backend_factory: BackendFactory) -> None:
        async def case() -> tuple[str, str]:
            backend = self.make(backend_factory)
            config = load_config()
            host = PluginHost(entry_points=lambda: [])
            adapter = Adapter(
                host,
                backend,
                model=self.model,
                config=config,
                selection=Selection(backend.name, "conformance", backend.name),
            )
            async with adapter:
                whole = await adapter.generate(self.prompt, **self.options)
                streamed = "".join([text async for text in adapter.stream_generate(self.prompt, **self.options)])
            return whole, streamed

        whole, streamed = _run(case())
        assert whole
        if self.deterministic:
            assert whole == streamed

    def test_embeddings_when_declared(self, backend_factory: BackendFactory) -> None:
        async def case() -> Any:
            backend = self.make(backend_factory)
            try:
                request = EmbeddingRequest(backend.canonical_model(self.model), ("one", "two"), backend.name)
                return await backend.embed(request)
            finally:
                await backend.aclose()

        backend_cls = type(self.make(backend_factory))
        if not backend_cls.supports_embeddings:
            with pytest.raises(UnsupportedOperationError):
                _run(case())
            return
        result = _run(case())
        assert len(result.vectors) == 2
        assert all(len(vector) > 0 and all(isinstance(x, float) for x in vector) for vector in result.vectors)

    def test_errors_are_typed(self, backend_factory: BackendFactory) -> None:
        """A request with an empty model name fails with an ultra-llm error, never a bare exception."""

        async def case() -> None:
            backend = self.make(backend_factory)
            try:
                request = self.request(backend)
                bad = GenerationRequest("", request.messages, request.options, request.backend, request.options_dict)
                await backend.generate(bad)
            finally:
                await backend.aclose()

        try:
            _run(case())
        except UltraLLMError:
            return
        except Exception as exc:  # the check itself: anything untyped fails it
            pytest.fail(f"untyped {type(exc).__name__} for an empty model name: {exc}")
