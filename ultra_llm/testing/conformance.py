"""The backend conformance suite: subclass ``BackendConformance`` to check a backend's contract.

A plugin author writes::

    class TestMyBackend(BackendConformance):
        backend = "my-backend"  # the name your plugin registers
        model = "my-model"

and pytest runs every check below against it: the backend is loaded through its installed entry
point (as users get it: a wrong ``"module:Class"`` or a plugin failing at import fails the suite),
then discovery, availability, whole and streamed generation agreeing, option validation, typed
errors, cancellation, embeddings where declared. Per-test settings (a test server's URL) come from
the ``backend_settings`` fixture, which may depend on others (a test double, a server): that is
how real boundaries stay real. A failed check says which values it compared.
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
from ..selection import Selection, instantiate
from ..types import Availability, Chunk, EmbeddingRequest, GenerationRequest, ModelInfo, Result, to_messages

__all__ = ["BackendConformance", "BackendFactory"]

T = TypeVar("T")
BackendFactory = Callable[..., Backend]
"""Builds a backend from an ``UltraConfig`` (a ``Backend`` subclass is one)."""


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class BackendConformance:
    """Checks every backend must pass. Set ``backend`` (its registered name) and ``model``.

    Class attributes tune the suite: ``prompt`` and ``options`` for the generation checks
    (``options`` should make the backend deterministic, e.g. ``{"temperature": 0}``);
    ``deterministic = False`` when two runs may differ; ``unknown_model`` names a model the
    backend must answer with ``ModelNotFoundError`` (``None`` skips that check). Override the
    ``backend_settings`` fixture to set the backend's own settings for the run.
    """

    backend: ClassVar[str]
    model: ClassVar[str]
    prompt: ClassVar[str] = "Say hello in one short sentence."
    options: ClassVar[dict[str, Any]] = {}
    deterministic: ClassVar[bool] = True
    unknown_model: ClassVar[str | None] = "ai/no-such-model-ultra-llm:latest"

    @pytest.fixture
    def backend_settings(self) -> dict[str, Any] | None:
        """Override: the backend's settings for this run (fields of its ``settings_model``), or ``None``."""
        return None

    @pytest.fixture
    def conformance_host(self) -> PluginHost:
        """A host over the installed entry points, with ``backend`` registered (the check fails
        with the plugin's own error otherwise)."""
        host = PluginHost()
        host.load()
        if self.backend not in host.backends():
            pytest.fail(_not_registered(host, self.backend), pytrace=False)
        return host

    @pytest.fixture
    def backend_factory(self, conformance_host: PluginHost, backend_settings: dict[str, Any] | None) -> BackendFactory:
        """Builds ``backend`` as the host does for users: the class its entry point registers, with
        ``backend_settings``."""
        return lambda config: instantiate(conformance_host, self.backend, config, backend_settings)

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

    def test_loads_through_its_entry_point(self, conformance_host: PluginHost) -> None:
        spec = conformance_host.backend_spec(self.backend)
        record = conformance_host.records[spec.plugin]
        assert record.status == "loaded", f"plugin {record.name!r} is {record.status}: {record.error}"
        backend_cls = spec.load()  # PluginError naming the plugin when its "module:Class" is wrong
        assert backend_cls.name == self.backend, (
            f"the class registered as {self.backend!r} ({spec.target!r}) says its name is {backend_cls.name!r}"
        )

    def test_declares_a_name(self, backend_factory: BackendFactory) -> None:
        backend = self.make(backend_factory)
        assert isinstance(backend.name, str) and backend.name, f"backend name {backend.name!r}"
        caps = backend.capabilities()
        missing = {"streaming", "embeddings", "pull", "remove", "options"} - set(caps)
        assert not missing, f"capabilities() lacks {sorted(missing)}: {caps!r}"

    def test_availability_is_typed(self, backend_factory: BackendFactory) -> None:
        async def case() -> Availability:
            backend = self.make(backend_factory)
            try:
                return await backend.check_availability()
            finally:
                await backend.aclose()

        availability = _run(case())
        assert isinstance(availability, Availability), f"check_availability returned {availability!r}"
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
            assert isinstance(model, ModelInfo), f"list_models returned {model!r}, not a ModelInfo"
            canonical = backend.canonical_model(model.name)
            assert canonical == model.name, f"{model.name!r} is not canonical (canonical: {canonical!r})"
        names = sorted(m.name for m in models)
        wanted = backend.canonical_model(self.model)
        assert wanted in names, f"model {wanted!r} is not among the listed {names!r}"

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
        assert isinstance(whole, Result) and whole.text, f"generate returned {whole!r}"
        strays = [chunk for chunk in chunks if not isinstance(chunk, Chunk)]
        assert not strays, f"the stream yielded non-Chunk items {strays[:3]!r}"
        streamed = "".join(chunk.text for chunk in chunks if chunk.kind == "text")
        assert streamed, f"the stream produced no text: {chunks!r}"
        if self.deterministic:
            assert streamed == whole.text, f"streamed {streamed!r} != whole {whole.text!r}"

    def test_unknown_option_is_a_typed_error(self, backend_factory: BackendFactory) -> None:
        backend = self.make(backend_factory)
        with pytest.raises(InvalidOptionsError) as caught:
            self.request(backend, no_such_option_ultra_llm=1)
        assert "no_such_option_ultra_llm" in caught.value.message, f"the message does not name it: {caught.value}"

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

        answer = _run(case())
        assert answer, f"the backend answered {answer!r} after a stream was closed early"

    def test_through_the_host_and_adapter(self, backend_factory: BackendFactory, conformance_host: PluginHost) -> None:
        async def case() -> tuple[str, str]:
            backend = self.make(backend_factory)
            adapter = Adapter(
                conformance_host,
                backend,
                model=self.model,
                config=load_config(),
                selection=Selection(backend.name, "conformance", backend.name),
            )
            async with adapter:
                whole = await adapter.generate(self.prompt, **self.options)
                streamed = "".join([text async for text in adapter.stream_generate(self.prompt, **self.options)])
            return whole, streamed

        whole, streamed = _run(case())
        assert whole, f"the adapter's generate answered {whole!r}"
        if self.deterministic:
            assert whole == streamed, f"adapter: whole {whole!r} != streamed {streamed!r}"

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
        assert len(result.vectors) == 2, f"2 inputs gave {len(result.vectors)} vectors"
        for vector in result.vectors:
            assert vector and all(isinstance(x, float) for x in vector), f"not a vector of floats: {vector[:5]!r}"

    def test_lifecycle_when_declared(self, backend_factory: BackendFactory) -> None:
        """Without ``supports_lifecycle`` the lifecycle is an ``UnsupportedOperationError``; with it,
        ``running_models`` lists ``RunningModel`` rows (or is unsupported by this server, typed) and
        ``inspect(model)`` describes the model under its canonical name."""
        from ..lifecycle import RunningModel

        async def case() -> tuple[Backend, Any, Any]:
            backend = self.make(backend_factory)
            try:
                try:
                    running: Any = await backend.running_models()
                except UnsupportedOperationError as exc:
                    running = exc
                try:
                    info: Any = await backend.inspect(backend.canonical_model(self.model))
                except UnsupportedOperationError as exc:
                    info = exc
                return backend, running, info
            finally:
                await backend.aclose()

        backend, running, info = _run(case())
        if not backend.supports_lifecycle:
            assert isinstance(running, UnsupportedOperationError), f"running_models gave {running!r} undeclared"
            assert isinstance(info, UnsupportedOperationError), f"inspect gave {info!r} undeclared"
            return
        if not isinstance(running, UnsupportedOperationError):
            assert all(isinstance(row, RunningModel) for row in running), f"running_models gave {running!r}"
        assert isinstance(info, ModelInfo), f"inspect gave {info!r}, not a ModelInfo"
        assert info.name == backend.canonical_model(self.model), f"inspect named {info.name!r}"

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


def _not_registered(host: PluginHost, backend: str) -> str:
    """Why ``backend`` is not registered: the failed plugins' errors, and what is registered."""
    lines = [f"no installed plugin registers the backend {backend!r}."]
    failed = [record for record in host.records.values() if record.status != "loaded"]
    lines += [f"  plugin {r.name!r} ({r.distribution or '?'}): {r.status}: {r.error or ''}" for r in failed]
    lines.append(f"  registered: {', '.join(sorted(host.backends())) or 'none'}")
    lines.append("  Is the plugin installed (`pip install -e .`) and its entry point in the `ultra_llm` group?")
    return "\n".join(lines)
