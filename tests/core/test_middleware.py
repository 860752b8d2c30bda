"""Middleware: composed once per adapter, errors reach its ``try``, order, skipping, blame, failure."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest

from ultra_llm import Chunk, EmbeddingResult, ModelInfo, Result, SyncAdapter, create_adapter_sync
from ultra_llm._host import PluginHost
from ultra_llm._middleware import EmbedNext, GenerateNext, Middleware, StreamNext
from ultra_llm.errors import GenerationError, PluginError
from ultra_llm.plugin import Availability, Backend, EmbeddingRequest, GenerationRequest, hookimpl


def shipped_only() -> PluginHost:
    """A host loading only the mock among installed plugins (an installed example plugin adds
    its own middleware), so each test's middleware is all there is."""
    return PluginHost(environ={"ULTRA_LLM_LOAD_PLUGINS": "mock"})


def adapter_for(host: PluginHost, backend: str = "mock", model: str = "mock/echo") -> SyncAdapter:
    return create_adapter_sync(model, host=host, backend=backend)


class Recorder(Middleware):
    """Notes each call going in and out, and every error ``call_next`` raised, under ``label``."""

    def __init__(self, label: str, log: list[str]) -> None:
        self.label = label
        self.log = log

    async def generate(self, request: GenerationRequest, call_next: GenerateNext) -> Result:
        self.log.append(f"{self.label}>")
        try:
            return await call_next(request)
        except Exception as exc:
            self.log.append(f"{self.label} saw {type(exc).__name__}")
            raise
        finally:
            self.log.append(f"<{self.label}")

    async def stream(self, request: GenerationRequest, call_next: StreamNext) -> AsyncIterator[Chunk]:
        self.log.append(f"{self.label}>")
        try:
            async with contextlib.aclosing(call_next(request)) as chunks:  # type: ignore[type-var]
                async for chunk in chunks:
                    yield chunk
        except Exception as exc:
            self.log.append(f"{self.label} saw {type(exc).__name__}")
            raise
        finally:
            self.log.append(f"<{self.label}")

    async def embed(self, request: EmbeddingRequest, call_next: EmbedNext) -> EmbeddingResult:
        self.log.append(f"{self.label} embed")
        return await call_next(request)


class RecorderPlugin:
    """Returns a ``Recorder`` for every adapter and counts how often the hook is called."""

    def __init__(self, label: str, log: list[str]) -> None:
        self.label = label
        self.log = log
        self.hook_calls = 0

    @hookimpl
    def ultra_llm_middleware(self, backend: Backend) -> Middleware:
        self.hook_calls += 1
        return Recorder(self.label, self.log)


def test_middleware_is_composed_once_per_adapter_not_per_request() -> None:
    host = shipped_only()
    log: list[str] = []
    plugin = RecorderPlugin("r", log)
    host.register(plugin, name="recorder")
    with adapter_for(host) as adapter:
        for _ in range(5):
            adapter.generate("hi")
        list(adapter.stream("hi"))
        adapter.embed("hi")
    assert plugin.hook_calls == 1
    assert log.count("r>") == 6 and log.count("<r") == 6 and log.count("r embed") == 1


def test_a_try_around_call_next_sees_the_generation_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_FAULT", "fail")
    host = shipped_only()
    log: list[str] = []
    host.register(RecorderPlugin("timer", log), name="timer")
    with adapter_for(host) as adapter:
        with pytest.raises(GenerationError):
            adapter.generate("hi")
        with pytest.raises(GenerationError):
            list(adapter.stream("hi"))
    assert log == ["timer>", "timer saw GenerationError", "<timer"] * 2


def test_the_first_plugin_called_is_outermost_and_tryfirst_wins() -> None:
    log: list[str] = []

    class Outer:
        @hookimpl(tryfirst=True)
        def ultra_llm_middleware(self) -> Middleware:
            return Recorder("outer", log)

    class Inner:
        @hookimpl(trylast=True)
        def ultra_llm_middleware(self) -> Middleware:
            return Recorder("inner", log)

    host = shipped_only()
    host.register(Inner(), name="inner")  # registered first, and last: order comes from the marks
    host.register(Outer(), name="outer")
    host.register(RecorderPlugin("middle", log), name="middle")
    with adapter_for(host) as adapter:
        adapter.generate("hi")
        assert [layer.plugin for layer in adapter.adapter.chain.layers] == ["outer", "middle", "inner"]
    assert log == ["outer>", "middle>", "inner>", "<inner", "<middle", "<outer"]


def test_middleware_can_answer_without_the_backend_and_change_the_request() -> None:
    class Canned(Middleware):
        async def generate(self, request: GenerationRequest, call_next: GenerateNext) -> Result:
            if request.prompt == "cached?":
                return Result("from cache", request.model, request.backend)
            return await call_next(dataclasses.replace(request, model="mock/fixed"))

    class CannedPlugin:
        @hookimpl
        def ultra_llm_middleware(self) -> Middleware:
            return Canned()

    host = shipped_only()
    host.register(CannedPlugin(), name="canned")
    with adapter_for(host) as adapter:
        assert adapter.generate("cached?") == "from cache"
        assert adapter.generate("abc").startswith("This is a mock response")  # mock/fixed answered


def test_operations_a_middleware_leaves_out_are_not_in_the_chain() -> None:
    class OnlyEmbed:  # a plain object, no base class: only what it has is used
        async def embed(self, request: EmbeddingRequest, call_next: EmbedNext) -> EmbeddingResult:
            return await call_next(request)

    class Plugin:
        @hookimpl
        def ultra_llm_middleware(self) -> OnlyEmbed:
            return OnlyEmbed()

    host = shipped_only()
    host.register(Plugin(), name="only-embed")
    with adapter_for(host) as adapter:
        chain = adapter.adapter.chain
        backend = adapter.backend
        assert chain.generate == backend.generate and chain.stream == backend.stream  # bound methods, no layer
        assert chain.embed != backend.embed
        assert adapter.embed("x").vectors


def test_returning_none_adds_nothing() -> None:
    class Off:
        @hookimpl
        def ultra_llm_middleware(self, backend: Backend) -> None:
            assert backend.name == "mock"

    host = shipped_only()
    host.register(Off(), name="off")
    with adapter_for(host) as adapter:
        assert adapter.adapter.chain.layers == ()
        assert host.records["off"].status == "loaded"


class _Faulty(Middleware):
    async def generate(self, request: GenerationRequest, call_next: GenerateNext) -> Result:
        raise RuntimeError("middleware bug")


def test_an_untyped_error_from_middleware_names_its_plugin() -> None:
    class Plugin:
        @hookimpl
        def ultra_llm_middleware(self) -> Middleware:
            return _Faulty()

    host = shipped_only()
    host.register(Plugin(), name="faulty-middleware")
    with adapter_for(host) as adapter, pytest.raises(PluginError) as caught:
        adapter.generate("x")
    assert caught.value.plugin == "faulty-middleware"
    assert "faulty-middleware" in caught.value.message and "middleware bug" in caught.value.message


class Broken(Backend):
    """A third-party backend raising untyped errors."""

    name: ClassVar[str] = "broken"

    async def check_availability(self) -> Availability:
        return Availability(True)

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("m", self.name)]

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        yield Chunk("partial")
        raise ZeroDivisionError("backend bug")


def test_an_untyped_error_from_the_backend_names_the_backends_plugin_not_the_middleware() -> None:
    log: list[str] = []

    class BrokenPlugin:
        @hookimpl
        def ultra_llm_register_backends(self, register: Any) -> None:
            register("broken", Broken)

    host = shipped_only()
    host.register(BrokenPlugin(), name="broken-plugin")
    host.register(RecorderPlugin("timer", log), name="timer")
    with adapter_for(host, backend="broken", model="m") as adapter, pytest.raises(PluginError) as caught:
        list(adapter.stream("x"))
    assert caught.value.plugin == "broken-plugin", caught.value.message
    assert "timer saw ZeroDivisionError" in log  # the middleware saw the raw error pass


class SyncGenerate:
    def generate(self, request: GenerationRequest, call_next: GenerateNext) -> None:
        return None


class CoroutineStream:
    async def stream(self, request: GenerationRequest, call_next: StreamNext) -> None:
        return None


@pytest.mark.parametrize(
    ("returned", "reason"),
    [(object(), "none of the methods"), (SyncGenerate(), "async def"), (CoroutineStream(), "async generator")],
)
def test_returning_something_that_is_not_middleware_fails_the_plugin(returned: object, reason: str) -> None:
    class Plugin:
        @hookimpl
        def ultra_llm_middleware(self) -> object:
            return returned

    host = shipped_only()
    host.register(Plugin(), name="not-middleware")
    with adapter_for(host) as adapter:
        assert adapter.adapter.chain.layers == ()
        assert adapter.generate("still works") == "still works"
    record = host.records["not-middleware"]
    assert record.status == "failed" and reason in (record.error or ""), record.error
    assert not host.pm.has_plugin("not-middleware")


def test_a_middleware_hook_that_raises_fails_its_plugin_only() -> None:
    log: list[str] = []

    class Raising:
        @hookimpl(tryfirst=True)
        def ultra_llm_middleware(self) -> Middleware:
            raise ValueError("hook bug")

    host = shipped_only()
    host.register(RecorderPlugin("good", log), name="good")
    host.register(Raising(), name="raising")
    with adapter_for(host) as adapter:
        assert [layer.plugin for layer in adapter.adapter.chain.layers] == ["good"]
        adapter.generate("x")
    assert host.records["raising"].status == "failed"
    assert "ultra_llm_middleware failed: ValueError: hook bug" in (host.records["raising"].error or "")
    assert log == ["good>", "<good"]


def test_a_stream_closed_early_closes_every_layer_and_the_backend(mock_stream_closes: list[bool]) -> None:
    log: list[str] = []
    host = shipped_only()
    host.register(RecorderPlugin("outer", log), name="outer")
    with adapter_for(host) as adapter:
        for _chunk in adapter.stream("a b c d e f"):
            break
    assert mock_stream_closes == [True]
    assert log == ["outer>", "<outer"]


class LeavesItOpen(Middleware):
    """Iterates ``call_next`` without ``closing_stream``: stopping early leaves the inner stream open."""

    async def stream(self, request: GenerationRequest, call_next: StreamNext) -> AsyncIterator[Chunk]:
        async for chunk in call_next(request):
            yield chunk


class LeavesItOpenPlugin:
    @hookimpl
    def ultra_llm_middleware(self, backend: Backend) -> Middleware:
        return LeavesItOpen()


def test_a_stream_a_middleware_left_open_is_closed_and_its_plugin_named_once(
    mock_stream_closes: list[bool], caplog: pytest.LogCaptureFixture
) -> None:
    """Without the kernel, the backend's stream stays open until the garbage collector closes it in
    another task: tests checking it is closed right away (other plugins' too) fail, naming no one."""
    log: list[str] = []
    host = shipped_only()
    host.register(RecorderPlugin("outer", log), name="outer")  # closes what it opens: nothing said
    host.register(LeavesItOpenPlugin(), name="leaky")
    with caplog.at_level("WARNING", logger="ultra_llm"), adapter_for(host) as adapter:
        for count in (1, 2):
            for _chunk in adapter.stream("a b c d e f"):
                break
            assert mock_stream_closes == [True] * count  # closed by the time the caller's loop ends
        assert "".join(adapter.stream_generate("a b")) == "a b"  # read to its end: nothing left open
    assert mock_stream_closes == [True, True, True]
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1, warned
    assert "Plugin 'leaky': LeavesItOpen.stream stopped without closing" in warned[0]
    assert "closing_stream(call_next(request))" in warned[0]
    assert host.records["leaky"].warnings == warned and host.records["leaky"].status == "loaded"
    assert host.records["outer"].warnings == []
