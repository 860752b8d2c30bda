"""What an integrator found using the adapter of 0.3 (issue 29): a closed adapter still answered (N4),
and a backend answering with the wrong type gave a raw traceback (F3). Both async and sync."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, ClassVar

import pytest

from ultra_llm import Chunk, ModelInfo, create_adapter, create_adapter_sync
from ultra_llm._adapter import Adapter
from ultra_llm._host import PluginHost
from ultra_llm._lifecycle import DiskUsage, ModelSettings, RunningModel
from ultra_llm.errors import AdapterClosedError, PluginError, UltraLLMError
from ultra_llm.plugin import (
    Availability,
    Backend,
    BackendRegistrar,
    EmbeddingRequest,
    EmbeddingResult,
    GenerationRequest,
    hookimpl,
)


class Ledger(Backend):
    """A backend that counts every call reaching it; ``wrong`` makes each answer the wrong type."""

    name: ClassVar[str] = "ledger"
    default_model: ClassVar[str] = "ledger/one"
    calls: ClassVar[list[str]] = []
    wrong: ClassVar[bool] = False

    async def check_availability(self) -> Availability:
        return Availability(True, "up")

    async def list_models(self) -> list[ModelInfo]:
        self.calls.append("list_models")
        return ["ledger/one", "ledger/two"] if self.wrong else [ModelInfo("ledger/one", self.name)]  # type: ignore[list-item]

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        self.calls.append("stream")
        yield ("a", "tuple") if self.wrong else Chunk("ok", finish_reason="stop")  # type: ignore[misc]

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        self.calls.append("embed")
        if self.wrong:
            return [[0.5, 0.5]]  # type: ignore[return-value]
        return EmbeddingResult(((0.5, 0.5),) * len(request.inputs), request.model, self.name)

    async def inspect(self, model: str) -> ModelInfo:
        self.calls.append("inspect")
        return {"name": model} if self.wrong else ModelInfo(model, self.name)  # type: ignore[return-value]

    async def running_models(self) -> list[RunningModel]:
        self.calls.append("running_models")
        return "ledger/one" if self.wrong else []  # type: ignore[return-value]

    async def preload(self, model: str) -> None:
        self.calls.append("preload")

    async def unload(self, models: Sequence[str] = (), *, all: bool = False) -> int:
        self.calls.append("unload")
        return "1" if self.wrong else 1  # type: ignore[return-value]

    @classmethod
    def check_settings(cls, settings: ModelSettings) -> ModelSettings:
        return settings

    async def configure(self, model: str, settings: ModelSettings) -> None:
        self.calls.append("configure")

    async def disk_usage(self) -> DiskUsage:
        self.calls.append("disk_usage")
        return 42 if self.wrong else DiskUsage(self.name, models_bytes=1)  # type: ignore[return-value]


class LedgerPlugin:
    @hookimpl
    def ultra_llm_register_backends(self, register: BackendRegistrar) -> None:
        register("ledger", Ledger)


@pytest.fixture
def ledger(ultra_llm_host: PluginHost, monkeypatch: pytest.MonkeyPatch) -> PluginHost:
    ultra_llm_host.register(LedgerPlugin(), name="ledger-plugin")
    monkeypatch.setattr(Ledger, "calls", [])
    monkeypatch.setattr(Ledger, "wrong", False)
    return ultra_llm_host


async def _collect(stream: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in stream]


CALLS: dict[str, Callable[[Adapter], Awaitable[Any]]] = {
    "generate": lambda a: a.generate("hi"),
    "complete": lambda a: a.complete("hi"),
    "stream": lambda a: _collect(a.stream("hi")),
    "stream_generate": lambda a: _collect(a.stream_generate("hi")),
    "generate_many": lambda a: a.generate_many(["hi", "ho"]),
    "embed": lambda a: a.embed("hi"),
    "list_models": lambda a: a.list_models(),
    "get_available_models": lambda a: a.get_available_models(),
    "check_availability": lambda a: a.check_availability(),
    "inspect": lambda a: a.inspect(),
    "running_models": lambda a: a.running_models(),
    "preload": lambda a: a.preload(),
    "unload": lambda a: a.unload(all=True),
    "configure": lambda a: a.configure("ledger/one", context_size=8),
    "disk_usage": lambda a: a.disk_usage(),
}


# -- N4: a closed adapter refuses every call -----------------------------------------------------------


@pytest.mark.parametrize("call", sorted(CALLS))
def test_a_closed_adapter_refuses_every_call_and_reaches_no_backend(ledger: PluginHost, call: str) -> None:
    async def run() -> None:
        adapter = await create_adapter(backend="ledger", host=ledger)
        await CALLS[call](adapter)  # open: it answers
        assert Ledger.calls or call == "check_availability"
        Ledger.calls.clear()
        await adapter.aclose()
        with pytest.raises(AdapterClosedError) as caught:
            await CALLS[call](adapter)
        assert Ledger.calls == [], "nothing reached the backend"
        assert caught.value.message == "The adapter for backend 'ledger' is closed: it makes no more calls."
        assert "new adapter" in caught.value.fix and caught.value.backend == "ledger"
        await adapter.aclose()  # still safe twice

    asyncio.run(run())


def test_a_closed_sync_adapter_refuses_every_call(ledger: PluginHost) -> None:
    llm = create_adapter_sync(backend="ledger", host=ledger)
    assert llm.generate("hi") == "ok"
    llm.close()
    refused: list[str] = []
    for name, call in {
        "generate": lambda: llm.generate("hi"),
        "complete": lambda: llm.complete("hi"),
        "stream": lambda: list(llm.stream("hi")),
        "stream_generate": lambda: list(llm.stream_generate("hi")),
        "embed": lambda: llm.embed("hi"),
        "list_models": llm.list_models,
        "check_availability": llm.check_availability,
        "inspect": llm.inspect,
        "running_models": llm.running_models,
        "disk_usage": llm.disk_usage,
    }.items():
        with pytest.raises(AdapterClosedError):
            call()
        refused.append(name)
    assert len(refused) == 10 and Ledger.calls == ["stream"], "only the call before close() reached it"
    llm.close()  # stops the loop thread the refused calls ran on
    assert not [t for t in threading.enumerate() if t.name == "ultra-llm-sync" and t.is_alive()]


# -- F3: a backend answering with the wrong type is a PluginError naming it --------------------------------

WRONG = {
    "stream": "a tuple (('a', 'tuple')) from stream, where a Chunk belongs",
    "embed": "a list ([[0.5, 0.5]]) from embed, where a EmbeddingResult belongs",
    "list_models": "a list holding a str ('ledger/one') from list_models, where a list of ModelInfo belongs",
    "inspect": "a dict ({'name': 'ledger/one'}) from inspect, where a ModelInfo belongs",
    "running_models": "a str from running_models, where a list of RunningModel belongs",
    "unload": "a str ('1') from unload, where a int belongs",
    "disk_usage": "a int (42) from disk_usage, where a DiskUsage belongs",
}


@pytest.mark.parametrize("call", sorted(WRONG))
def test_a_wrong_type_from_the_backend_is_a_plugin_error_naming_it(ledger: PluginHost, call: str) -> None:
    Ledger.wrong = True

    async def run() -> PluginError:
        async with await create_adapter(backend="ledger", host=ledger) as adapter:
            with pytest.raises(PluginError) as caught:
                await CALLS[call](adapter)
            return caught.value

    error = asyncio.run(run())
    assert error.message == f"Backend 'ledger' returned {WRONG[call]}: a bug in plugin 'ledger-plugin'."
    assert error.plugin == "ledger-plugin" and "Report it to the authors of plugin 'ledger-plugin'" in error.fix
    assert isinstance(error, UltraLLMError) and error.exit_code == 7


def test_a_wrong_chunk_in_a_collected_whole_answer_is_a_plugin_error_naming_it(ledger: PluginHost) -> None:
    """The whole answer of a backend keeping ``Backend.generate`` is its stream collected: the
    collector says what it was given, and the adapter blames the backend's plugin."""
    Ledger.wrong = True

    async def run() -> None:
        async with await create_adapter(backend="ledger", host=ledger) as adapter:
            await adapter.generate("hi")

    with pytest.raises(PluginError) as caught:
        asyncio.run(run())
    assert caught.value.plugin == "ledger-plugin"
    assert "backend 'ledger' streamed a tuple, where a Chunk belongs" in caught.value.message


def test_a_wrong_type_is_refused_through_the_sync_adapter_too(ledger: PluginHost) -> None:
    Ledger.wrong = True
    with create_adapter_sync(backend="ledger", host=ledger) as llm:
        with pytest.raises(PluginError, match="from list_models, where a list of ModelInfo belongs"):
            llm.list_models()
        with pytest.raises(PluginError, match="from stream, where a Chunk belongs"):
            list(llm.stream("hi"))
