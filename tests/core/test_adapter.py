"""The adapter over the mock backend: contract, options, typed plugin faults, timeouts (middleware: test_middleware)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest

from ultra_llm import Chunk, Message, ModelInfo, Result, create_adapter_sync
from ultra_llm._adapter import Adapter
from ultra_llm._host import PluginHost
from ultra_llm.errors import GenerationTimeoutError, InvalidOptionsError, PluginError
from ultra_llm.plugin import Availability, Backend, GenerationRequest, hookimpl


def adapter_for(host: PluginHost | None = None, model: str = "mock/echo", **overrides: Any) -> Adapter:
    return create_adapter_sync(model, host=host or PluginHost(), **overrides)


def test_generate_stream_and_complete_agree() -> None:
    with adapter_for() as adapter:
        whole = adapter.generate("the quick brown fox")
        streamed = [chunk for chunk in adapter.stream("the quick brown fox")]
        result = adapter.complete("the quick brown fox")
    assert whole == "the quick brown fox"
    assert "".join(c.text for c in streamed) == whole
    assert len([c for c in streamed if c.text]) == 4, "word-sized chunks"
    assert isinstance(result, Result) and result.backend == "mock" and result.model == "mock/echo"
    assert result.finish_reason == "stop" and result.usage and result.usage.completion_tokens == 4


def test_chat_messages_and_system_message() -> None:
    messages = [{"role": "user", "content": "first"}, Message("assistant", "ok"), {"role": "user", "content": "last"}]
    with adapter_for() as adapter:
        assert adapter.generate(messages) == "last"
        request = adapter.build_request("hi", {"system_message": "be brief"})
    assert request.messages[0] == Message("system", "be brief")
    with pytest.raises(InvalidOptionsError, match="role"), adapter_for() as adapter:
        adapter.generate([{"role": "wizard", "content": "x"}])


def test_model_option_overrides_for_one_call() -> None:
    with adapter_for(model="ai/smollm2") as adapter:
        assert adapter.generate("echo me", model="mock/echo") == "echo me"
        assert "mock response" in adapter.generate("echo me")


def test_options_are_validated_against_the_backend_model() -> None:
    with adapter_for() as adapter:
        with pytest.raises(InvalidOptionsError) as caught:
            adapter.generate("x", mirostat=2)
        assert "mirostat" in caught.value.message and "temperature" in caught.value.message
        with pytest.raises(InvalidOptionsError, match="temperature"):
            adapter.generate("x", temperature=9)
        assert adapter.complete("a b c d", max_tokens=2).finish_reason == "length"
        assert adapter.generate("a b c d", max_tokens="2") == "a b "


class Misbehaving(Backend):
    """A hostile third-party backend: wrong types and untyped exceptions."""

    name: ClassVar[str] = "hostile"
    mode: ClassVar[str] = "wrong-type"

    async def check_availability(self) -> Availability:
        return Availability(True)

    async def list_models(self) -> list[ModelInfo]:
        raise KeyError("models")

    async def generate(self, request: GenerationRequest) -> Result:
        return "just a string"  # type: ignore[return-value]

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        yield Chunk("ok")
        if self.mode == "wrong-type":
            yield "not a chunk"  # type: ignore[misc]
        raise ZeroDivisionError("mid-stream")


class HostilePlugin:
    @hookimpl
    def ultra_llm_register_backends(self, register):  # type: ignore[no-untyped-def]
        register("hostile", Misbehaving)


def test_a_hostile_backend_only_ever_raises_typed_errors() -> None:
    host = PluginHost()
    host.register(HostilePlugin(), name="hostile")
    with adapter_for(host, backend="hostile") as adapter:
        with pytest.raises(PluginError, match=r"returned a str .* from generate, where a Result belongs"):
            adapter.generate("x")
        with pytest.raises(PluginError, match="from stream, where a Chunk belongs"):
            list(adapter.stream("x"))
        with pytest.raises(PluginError, match="KeyError"):
            adapter.list_models()
        Misbehaving.mode = "raise"
        try:
            with pytest.raises(PluginError, match="ZeroDivisionError"):
                list(adapter.stream("x"))
        finally:
            Misbehaving.mode = "wrong-type"


def test_a_hanging_backend_hits_the_total_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_FAULT", "hang")
    with adapter_for(timeout=0.2) as adapter:
        with pytest.raises(GenerationTimeoutError) as caught:
            adapter.generate("x")
        assert caught.value.timeout == 0.2
        with pytest.raises(GenerationTimeoutError):
            list(adapter.stream("x"))


def test_breaking_out_of_a_stream_closes_the_backend_stream(mock_stream_closes: list[bool]) -> None:
    with adapter_for() as adapter:
        for _chunk in adapter.stream("a b c d e f"):
            break
        assert mock_stream_closes == [True]
        assert adapter.generate("still works") == "still works"


def test_embeddings_and_capabilities() -> None:
    with adapter_for() as adapter:
        result = adapter.embed(["alpha", "beta", "alpha"])
        caps = adapter.get_capabilities()
    assert len(result.vectors) == 3 and result.vectors[0] == result.vectors[2] != result.vectors[1]
    assert caps["name"] == "mock" and caps["supports_streaming"] and caps["embeddings"] and caps["max_tokens"]
    assert caps["source"] == "local"


def test_fallback_logs_are_visible_to_applications(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.core.plugins import ServerStandIns
    from ultra_llm._selection import _warned

    monkeypatch.setenv("ULTRA_LLM_BACKEND", "off")  # the stand-in whose server is down
    host = PluginHost(environ={"ULTRA_LLM_LOAD_PLUGINS": "mock"})
    host.register(ServerStandIns(), name="standins")
    _warned.clear()
    with caplog.at_level(logging.WARNING, logger="ultra_llm"), adapter_for(host) as adapter:
        assert adapter.selection.fell_back
    assert "Backend 'offline' is unavailable, using 'mock' instead" in caplog.text


def test_generate_many_keeps_order_and_per_item_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with adapter_for() as adapter:
        items = adapter.generate_many(["one", "two", [{"role": "wizard", "content": "x"}], "four"], concurrency=2)
    assert [item.result.text if item.result else None for item in items] == ["one", "two", None, "four"]
    assert isinstance(items[2].error, InvalidOptionsError)


def test_a_conversation_id_reaches_the_request_and_a_bad_one_is_refused() -> None:
    with adapter_for() as adapter:
        assert adapter.build_request("hi", {"conversation": "thread-7"}).conversation == "thread-7"
        assert adapter.build_request("hi", {}).conversation is None
        for bad in ("", "   ", 7, "x" * 257, "bad\ud800"):
            with pytest.raises(InvalidOptionsError, match="conversation"):
                adapter.build_request("hi", {"conversation": bad})
    from ultra_llm._options import check_caller_options

    with pytest.raises(InvalidOptionsError, match="conversation cannot be set through -o"):
        check_caller_options({"conversation": "x"}, "-o")
