"""The backend conformance suite: subclass ``BackendConformance`` to check a backend's contract.

A plugin author writes::

    class TestMyBackend(BackendConformance):
        backend = "my-backend"  # the name your plugin registers
        model = "my-model"

and pytest runs every check below against it: the backend is loaded through its installed entry
point (as users get it: a wrong ``"module:Class"`` or a plugin failing at import fails the suite),
then discovery, availability, whole and streamed generation agreeing, option validation, typed
errors, cancellation; the optional capabilities a backend implements (``ultra_llm._capabilities``:
whole Protocols with their signatures; embeddings and loaded models are exercised). Each request
feature is checked through the adapter, gated on what the backend declares: ``supports_tools``, a call with
``tool_choice="required"`` returns well-formed tool calls, whole and streamed as pieces;
``supports_response_format``, a schema answer parses; ``supports_images``, a request with an image
is answered; ``supports_reasoning_control``, ``reasoning``/``reasoning_budget`` are accepted. Every
feature not declared must be refused by the adapter with ``UnsupportedOperationError``.

Per-test settings (a test server's URL) come from the ``backend_settings`` fixture, which may
depend on others (a test double, a server): that is how real boundaries stay real. A failed check
says which values it compared.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from typing import Any, ClassVar, TypeVar

import pytest

from .._adapter import Adapter
from .._backend import Backend
from .._capabilities import CAPABILITIES, Embedder, LoadedModels, signature_mismatches
from .._config import load_config
from .._host import PluginHost
from .._selection import Selection, instantiate
from .._tools import ToolCall
from .._types import Availability, Chunk, EmbeddingRequest, GenerationRequest, ModelInfo, Result, to_messages
from ..errors import InvalidOptionsError, ModelNotFoundError, UltraLLMError, UnsupportedOperationError

__all__ = ["BackendConformance", "BackendFactory"]

T = TypeVar("T")
BackendFactory = Callable[..., Backend]
"""Builds a backend from an ``UltraConfig`` (a ``Backend`` subclass is one)."""


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEklEQVR4nGP4z8CAFWEXHbQSACj/P8Fu7N9hAAAAAElFTkSuQmCC"
)
"""An 8x8 red PNG, decodable by any image library (the image the images check sends)."""


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
    tools: ClassVar[list[dict[str, Any]]] = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The current weather in a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            },
        }
    ]
    """The tools the tools check offers (OpenAI's shape)."""
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"greeting": {"type": "string"}},
        "required": ["greeting"],
    }
    """The JSON Schema the response-format check asks for."""
    feature_options: ClassVar[dict[str, Any]] = {}
    """Options added to ``options`` for the feature checks (e.g. ``{"max_tokens": 400}`` so a whole
    JSON object fits)."""
    unchecked_features: ClassVar[Mapping[str, str]] = {}
    """Declared features this run cannot check, each with why (``{"tools": "a random-weight model
    calls no tool"}``): their check is skipped with that reason. Keys: tools, response_format,
    images, reasoning_control. Refusals of undeclared features are always checked."""

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
        from .._options import validate_options

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
        missing = {"streaming", *CAPABILITIES, "options", *_FEATURES} - set(caps)
        assert not missing, f"capabilities() lacks {sorted(missing)}: {caps!r}"

    def test_capabilities_are_whole_protocols(self, backend_factory: BackendFactory) -> None:
        """Each optional capability (``ultra_llm._capabilities``) is implemented whole or not at all,
        with the Protocol's signatures (``async def``, the same parameters; more only with defaults)."""
        backend_cls = type(self.make(backend_factory))
        for name, protocol in CAPABILITIES.items():
            members = [
                member for member in vars(protocol) if not member.startswith("_") and callable(vars(protocol)[member])
            ]
            present = [member for member in members if hasattr(backend_cls, member)]
            if not present:
                continue
            assert present == members, (
                f"{backend_cls.__name__} has {', '.join(present)} of {protocol.__name__} but not "
                f"{', '.join(sorted(set(members) - set(present)))}: implement all of {name} or none"
            )
            problems = signature_mismatches(backend_cls, protocol)
            assert not problems, f"{backend_cls.__name__} as {protocol.__name__}: {'; '.join(problems)}"

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
            async with self.adapter(backend_factory, conformance_host) as adapter:
                whole = await adapter.generate(self.prompt, **self.options)
                streamed = "".join([text async for text in adapter.stream_generate(self.prompt, **self.options)])
            return whole, streamed

        whole, streamed = _run(case())
        assert whole, f"the adapter's generate answered {whole!r}"
        if self.deterministic:
            assert whole == streamed, f"adapter: whole {whole!r} != streamed {streamed!r}"

    def test_embeddings_when_declared(self, backend_factory: BackendFactory) -> None:
        async def case() -> Any:
            backend: Any = self.make(backend_factory)
            try:
                request = EmbeddingRequest(backend.canonical_model(self.model), ("one", "two"), backend.name)
                return await backend.embed(request)
            finally:
                await backend.aclose()

        if not issubclass(type(self.make(backend_factory)), Embedder):
            pytest.skip("the backend is no Embedder (the adapter's refusal is the kernel's, tested there)")
        result = _run(case())
        assert len(result.vectors) == 2, f"2 inputs gave {len(result.vectors)} vectors"
        for vector in result.vectors:
            assert vector and all(isinstance(x, float) for x in vector), f"not a vector of floats: {vector[:5]!r}"

    def test_lifecycle_when_declared(self, backend_factory: BackendFactory) -> None:
        """``inspect(model)`` describes the model under its canonical name (every backend can: by
        default its listing's entry). A backend that implements ``LoadedModels``: ``running_models``
        lists ``RunningModel`` rows (or is unsupported by this server, typed)."""
        from .._lifecycle import RunningModel

        async def case() -> tuple[Backend, Any, Any]:
            backend = self.make(backend_factory)
            try:
                running: Any = None
                try:
                    if isinstance(backend, LoadedModels):
                        running = await backend.running_models()
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
        assert isinstance(info, ModelInfo), f"inspect gave {info!r}, not a ModelInfo"
        assert info.name == backend.canonical_model(self.model), f"inspect named {info.name!r}"
        if isinstance(backend, LoadedModels) and not isinstance(running, UnsupportedOperationError):
            assert all(isinstance(row, RunningModel) for row in running), f"running_models gave {running!r}"

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

    # -- request features, gated on what the backend declares ---------------------------------

    @contextlib.asynccontextmanager
    async def adapter(self, factory: BackendFactory, host: PluginHost) -> AsyncIterator[Adapter]:
        """An adapter over a backend built by ``factory``, as users get one; closed on exit."""
        backend = self.make(factory)
        selection = Selection(backend.name, "conformance", backend.name)
        adapter = Adapter(host, backend, model=self.model, config=load_config(), selection=selection)
        async with adapter:
            yield adapter

    def _feature_case(
        self, feature: str, factory: BackendFactory, host: PluginHost, prompt: Any, **options: Any
    ) -> tuple[Result, list[Chunk]] | None:
        """The whole and the streamed answer to ``prompt`` with ``options``, when the backend
        declares ``feature``; ``None`` after checking that the adapter refuses it, when it does not."""
        declared = type(self.make(factory)).capabilities()[feature]
        merged = {**self.options, **self.feature_options, **options}

        async def case() -> tuple[Result, list[Chunk]]:
            async with self.adapter(factory, host) as adapter:
                whole = await adapter.complete(prompt, **merged)
                chunks = [chunk async for chunk in adapter.stream(prompt, **merged)]
                return whole, chunks

        async def refused(streamed: bool) -> None:
            async with self.adapter(factory, host) as adapter:
                if streamed:
                    async with contextlib.aclosing(adapter.stream(prompt, **merged)) as chunks:
                        async for _chunk in chunks:
                            pass
                else:
                    await adapter.complete(prompt, **merged)

        if not declared:
            for streamed in (False, True):
                with pytest.raises(UnsupportedOperationError) as caught:
                    _run(refused(streamed))
                assert caught.value.fix, f"the refusal of {feature} says no fix: {caught.value}"
            return None
        if feature in self.unchecked_features:
            pytest.skip(f"{feature} declared but not checked here: {self.unchecked_features[feature]}")
        return _run(case())

    def test_tools_when_declared(self, backend_factory: BackendFactory, conformance_host: PluginHost) -> None:
        answers = self._feature_case(
            "tools", backend_factory, conformance_host, self.prompt, tools=self.tools, tool_choice="required"
        )
        if answers is None:
            return
        whole, chunks = answers
        names = {tool["function"]["name"] for tool in self.tools}
        _check_calls(whole.tool_calls, names, "complete()")
        assert all(not chunk.tool_calls for chunk in chunks[:-1]), (
            "the backend streamed assembled tool_calls: stream ToolCallDelta pieces (the adapter assembles them)"
        )
        assert any(chunk.tool_call_deltas for chunk in chunks), f"no ToolCallDelta in the stream: {chunks!r}"
        _check_calls(chunks[-1].tool_calls, names, "stream()'s last chunk")

    def test_response_format_when_declared(self, backend_factory: BackendFactory, conformance_host: PluginHost) -> None:
        answers = self._feature_case(
            "response_format", backend_factory, conformance_host, self.prompt, response_format=self.schema
        )
        if answers is None:
            return
        whole, chunks = answers
        required = set(self.schema.get("required", ()))
        for where, parsed in (("complete()", whole.parsed), ("stream()'s last chunk", chunks[-1].parsed)):
            assert isinstance(parsed, dict), f"{where}: parsed {parsed!r} is not a JSON object"
            assert required <= set(parsed), f"{where}: {parsed!r} lacks the required {sorted(required)}"
        if self.deterministic:
            assert whole.parsed == chunks[-1].parsed, f"whole {whole.parsed!r} != streamed {chunks[-1].parsed!r}"

    def test_images_when_declared(self, backend_factory: BackendFactory, conformance_host: PluginHost) -> None:
        from .._content import ImagePart, TextPart

        message = {"role": "user", "content": (TextPart("What colour is this image?"), ImagePart.from_bytes(TINY_PNG))}
        answers = self._feature_case("images", backend_factory, conformance_host, [message])
        if answers is None:
            return
        whole, chunks = answers
        assert isinstance(whole, Result) and (whole.text or whole.tool_calls), f"an image request gave {whole!r}"
        assert any(chunk.text for chunk in chunks), f"the streamed image request gave no text: {chunks!r}"

    def test_reasoning_control_when_declared(
        self, backend_factory: BackendFactory, conformance_host: PluginHost
    ) -> None:
        answers = self._feature_case(
            "reasoning_control", backend_factory, conformance_host, self.prompt, reasoning=False, reasoning_budget=0
        )
        if answers is None:
            return
        whole, _chunks = answers
        assert isinstance(whole, Result) and whole.text, f"reasoning=False gave {whole!r}"


_FEATURES = ("tools", "response_format", "images", "reasoning_control")
"""The request features ``capabilities()`` reports, each gated by a ``supports_*`` flag."""


def _check_calls(calls: tuple[ToolCall, ...], names: set[str], where: str) -> None:
    """Each call is a ``ToolCall`` with an id, one of ``names``, and arguments that are a JSON object."""
    assert calls, f"{where}: no tool call for tool_choice='required'"
    for call in calls:
        assert isinstance(call, ToolCall) and call.id, f"{where}: {call!r} is not a ToolCall with an id"
        assert call.name in names, f"{where}: {call.name!r} is none of the tools {sorted(names)}"
        assert isinstance(call.parsed_arguments, dict), f"{where}: arguments {call.arguments!r} are not a JSON object"


def _not_registered(host: PluginHost, backend: str) -> str:
    """Why ``backend`` is not registered: the failed plugins' errors, and what is registered."""
    lines = [f"no installed plugin registers the backend {backend!r}."]
    failed = [record for record in host.records.values() if record.status != "loaded"]
    lines += [f"  plugin {r.name!r} ({r.distribution or '?'}): {r.status}: {r.error or ''}" for r in failed]
    lines.append(f"  registered: {', '.join(sorted(host.backends())) or 'none'}")
    lines.append("  Is the plugin installed (`pip install -e .`) and its entry point in the `ultra_llm` group?")
    return "\n".join(lines)
