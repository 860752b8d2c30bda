"""Fault-catalogue rows of the kernel no other test proves: hostile third-party plugins (hanging,
raising in a hook, returning the wrong type) and middleware that raises, on the mock. See
docs/fault-catalogue.md; a plugin's backends' rows are proved in that plugin's suite."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any, ClassVar, TypeVar

import pytest

from ultra_llm import Chunk, EmbeddingResult, ModelInfo, Result, create_adapter_sync
from ultra_llm._host import PluginHost
from ultra_llm._middleware import Middleware
from ultra_llm._sync import SyncAdapter
from ultra_llm._types import EmbeddingRequest
from ultra_llm.errors import GenerationTimeoutError, PluginError
from ultra_llm.plugin import Availability, Backend, GenerationRequest, hookimpl

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def adapter_for(host: PluginHost, model: str = "mock/echo", **overrides: Any) -> SyncAdapter:
    return create_adapter_sync(model, host=host, **overrides)


# -- hostile third-party plugins ------------------------------------------------------------------


class Hanging(Backend):
    """A third-party backend that never answers: every call awaits forever."""

    name: ClassVar[str] = "hanging"
    forever: ClassVar[float] = 3600.0

    async def check_availability(self) -> Availability:
        return Availability(True)

    async def list_models(self) -> list[ModelInfo]:
        await asyncio.sleep(self.forever)
        return []

    async def generate(self, request: GenerationRequest) -> Result:
        await asyncio.sleep(self.forever)
        raise AssertionError("unreachable")

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        yield Chunk("first ")
        await asyncio.sleep(self.forever)

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        await asyncio.sleep(self.forever)
        raise AssertionError("unreachable")


class HangingPlugin:
    @hookimpl
    def ultra_llm_register_backends(self, register):  # type: ignore[no-untyped-def]
        register("hanging", Hanging)


def test_a_hanging_third_party_backend_hits_the_hosts_deadline() -> None:
    host = PluginHost()
    host.register(HangingPlugin(), name="hanging-plugin")
    with adapter_for(host, backend="hanging", timeout=0.3) as adapter:
        started = time.monotonic()
        with pytest.raises(GenerationTimeoutError) as whole:
            adapter.generate("x")
        got: list[str] = []
        with pytest.raises(GenerationTimeoutError):
            for chunk in adapter.stream("x"):
                got.append(chunk.text)
        with pytest.raises(GenerationTimeoutError):
            adapter.embed("x")
        elapsed = time.monotonic() - started
    assert whole.value.timeout == 0.3 and whole.value.backend == "hanging"
    assert got == ["first "], "chunks before the hang are delivered"
    assert elapsed < 3.0, f"three 0.3 s deadlines took {elapsed:.2f} s"


def test_a_hanging_third_party_model_listing_hits_the_hosts_deadline() -> None:
    host = PluginHost()
    host.register(HangingPlugin(), name="hanging-plugin")
    with adapter_for(host, backend="hanging", timeout=0.3) as adapter:
        started = time.monotonic()
        with pytest.raises(GenerationTimeoutError):
            adapter.list_models()
    assert time.monotonic() - started < 2.0


def test_a_plugin_raising_in_register_models_is_recorded_and_skipped() -> None:
    class RaisingModels:
        @hookimpl
        def ultra_llm_register_models(self, backend, register):  # type: ignore[no-untyped-def]
            register("mock/extra-before-the-bug")
            raise RuntimeError("models hook bug")

    class GoodModels:
        @hookimpl
        def ultra_llm_register_models(self, backend, register):  # type: ignore[no-untyped-def]
            register("mock/contributed")

    host = PluginHost()
    host.register(RaisingModels(), name="raising-models")
    host.register(GoodModels(), name="good-models")
    with adapter_for(host) as adapter:
        names = adapter.list_models()
    listed = [m.name for m in names]
    assert "mock/contributed" in listed and "mock/echo" in listed
    assert "mock/extra-before-the-bug" not in listed, "a failing hook's partial entries are dropped"
    assert "models hook bug" in (host.records["raising-models"].error or "")


def test_a_raising_register_models_hook_is_fatal_in_strict_mode() -> None:
    class RaisingModels:
        @hookimpl
        def ultra_llm_register_models(self, backend, register):  # type: ignore[no-untyped-def]
            raise KeyError("strict")

    host = PluginHost(environ={"ULTRA_LLM_STRICT_PLUGINS": "1"})
    host.register(RaisingModels(), name="raising-models")
    with adapter_for(host) as adapter, pytest.raises(PluginError) as caught:
        adapter.list_models()
    assert caught.value.plugin == "raising-models"


@pytest.mark.parametrize("returned", [42, "not middleware", {"generate": None}])
def test_a_middleware_hook_returning_the_wrong_type_fails_its_plugin(returned: object) -> None:
    class WrongType:
        @hookimpl(tryfirst=True)
        def ultra_llm_middleware(self):  # type: ignore[no-untyped-def]
            return returned

    host = PluginHost()
    host.register(WrongType(), name="wrong-type")
    with adapter_for(host) as adapter:
        assert adapter.generate("x") == "x"
    record = host.records["wrong-type"]
    assert record.status == "failed" and "none of the methods" in (record.error or "")


def test_a_middleware_stream_giving_no_iterator_is_a_plugin_error() -> None:
    class NoIterator(Middleware):
        def stream(self, request, call_next):  # type: ignore[no-untyped-def]
            return [Chunk("a list, not an async iterator")]

    class Plugin:
        @hookimpl(tryfirst=True)
        def ultra_llm_middleware(self):  # type: ignore[no-untyped-def]
            return NoIterator()

    host = PluginHost()
    host.register(Plugin(), name="no-iterator")
    with adapter_for(host) as adapter:
        with pytest.raises(PluginError, match="AttributeError"):
            list(adapter.stream("x"))
        assert adapter.generate("whole still works") == "whole still works"


def test_middleware_raising_mid_stream_is_a_plugin_error_and_closes_the_backend(
    mock_stream_closes: list[bool],
) -> None:
    class RaisesMidStream(Middleware):
        async def stream(self, request, call_next):  # type: ignore[no-untyped-def]
            async with contextlib.aclosing(call_next(request)) as chunks:
                async for chunk in chunks:
                    yield chunk
                    raise ValueError("middleware bug mid-stream")

    class Plugin:
        @hookimpl
        def ultra_llm_middleware(self):  # type: ignore[no-untyped-def]
            return RaisesMidStream()

    host = PluginHost()
    host.register(Plugin(), name="raises-mid-stream")
    got: list[str] = []
    with adapter_for(host) as adapter, pytest.raises(PluginError, match="middleware bug mid-stream") as caught:
        for chunk in adapter.stream("one two three"):
            got.append(chunk.text)
    assert got == ["one "] and mock_stream_closes == [True]
    assert caught.value.plugin == "raises-mid-stream"


def test_middleware_raising_before_streaming_and_in_embed() -> None:
    class RaisesAtCallTime(Middleware):
        def stream(self, request, call_next):  # type: ignore[no-untyped-def]
            raise OSError("before the stream")

        async def embed(self, request, call_next):  # type: ignore[no-untyped-def]
            await call_next(request)
            raise LookupError("embed middleware bug")

    class Plugin:
        @hookimpl
        def ultra_llm_middleware(self):  # type: ignore[no-untyped-def]
            return RaisesAtCallTime()

    host = PluginHost()
    host.register(Plugin(), name="raises-at-call-time")
    with adapter_for(host) as adapter:
        with pytest.raises(PluginError, match="before the stream") as at_call:
            list(adapter.stream("x"))
        with pytest.raises(PluginError, match="embed middleware bug") as in_embed:
            adapter.embed("x")
        assert adapter.generate("the rest works") == "the rest works"
    assert at_call.value.plugin == in_embed.value.plugin == "raises-at-call-time"
