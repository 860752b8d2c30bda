"""The timing wrapper: every generation, on every backend, is timed and logged once.

``ultra_llm_host`` (from ``ultra_llm.testing``) is a fresh host over the installed plugins, so the
wrapper is active through its entry point; ``register_plugin`` adds a test-only plugin for one
test (and removes it afterwards) to show the wrapper times other plugins' backends too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import ClassVar

import pytest
from ultra_llm import PluginHost, create_adapter
from ultra_llm.errors import GenerationError
from ultra_llm.plugin import Availability, Backend, BackendRegistrar, Chunk, GenerationRequest, ModelInfo, hookimpl

from ultra_llm_example.timing import LOGGER_NAME, Timing

PAUSE = 0.05


class SlowBackend(Backend):
    """Waits ``PAUSE`` seconds before its first word; model ``boom`` fails after one word."""

    name: ClassVar[str] = "slow-test"

    async def check_availability(self) -> Availability:
        return Availability(True)

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("slow", self.name), ModelInfo("boom", self.name)]

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        await asyncio.sleep(PAUSE)
        yield Chunk("slow")
        if request.model == "boom":
            raise GenerationError("The slow backend broke on purpose.", backend=self.name)
        yield Chunk(" answer")


class SlowPlugin:
    @hookimpl
    def ultra_llm_register_backends(self, register: BackendRegistrar) -> None:
        register("slow-test", SlowBackend)


@pytest.fixture
def timings(caplog: pytest.LogCaptureFixture) -> Callable[[], list[Timing]]:
    """A function returning the ``Timing`` of every record the wrapper logged so far."""
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)

    def collected() -> list[Timing]:
        return [record.timing for record in caplog.records if record.name == LOGGER_NAME]  # type: ignore[attr-defined]

    return collected


def run_whole(host: PluginHost, backend: str, model: str) -> str:
    async def case() -> str:
        async with await create_adapter(model, backend=backend, host=host) as adapter:
            return await adapter.generate("hello world")

    return asyncio.run(case())


def run_stream(host: PluginHost, backend: str, model: str, take: int | None = None) -> list[str]:
    async def case() -> list[str]:
        texts: list[str] = []
        adapter = await create_adapter(model, backend=backend, host=host)
        async with adapter, contextlib.aclosing(adapter.stream("hello big world")) as stream:
            async for chunk in stream:
                texts.append(chunk.text)
                if take is not None and len(texts) == take:
                    break
        return texts

    return asyncio.run(case())


def test_a_whole_generation_is_timed_once(ultra_llm_host: PluginHost, timings: Callable[[], list[Timing]]) -> None:
    assert run_whole(ultra_llm_host, "shout", "shout/upper") == "HELLO WORLD!"
    [timing] = timings()
    assert (timing.kind, timing.backend, timing.model, timing.error) == ("generate", "shout", "shout/upper", None)
    assert timing.seconds >= 0


def test_a_stream_is_timed_with_its_chunks(ultra_llm_host: PluginHost, timings: Callable[[], list[Timing]]) -> None:
    texts = run_stream(ultra_llm_host, "shout", "shout/upper")
    assert "".join(texts) == "HELLO BIG WORLD!"
    [timing] = timings()
    assert timing.kind == "stream" and timing.chunks == len(texts)
    assert timing.first_chunk_seconds is not None and timing.first_chunk_seconds <= timing.seconds


# --8<-- [start:other-plugins]
def test_other_plugins_backends_are_timed_too(
    ultra_llm_host: PluginHost, register_plugin: Callable[..., str], timings: Callable[[], list[Timing]]
) -> None:
    register_plugin(SlowPlugin(), name="slow-test-plugin")
    assert run_whole(ultra_llm_host, "slow-test", "slow") == "slow answer"
    assert run_stream(ultra_llm_host, "slow-test", "slow") == ["slow", " answer"]
    whole, streamed = timings()
    assert whole.backend == streamed.backend == "slow-test"
    assert whole.seconds >= PAUSE
    assert streamed.first_chunk_seconds is not None and streamed.first_chunk_seconds >= PAUSE


# --8<-- [end:other-plugins]


def test_a_failure_is_timed_and_still_raised(
    ultra_llm_host: PluginHost, register_plugin: Callable[..., str], timings: Callable[[], list[Timing]]
) -> None:
    register_plugin(SlowPlugin(), name="slow-test-plugin")
    with pytest.raises(GenerationError, match="on purpose"):
        run_whole(ultra_llm_host, "slow-test", "boom")
    with pytest.raises(GenerationError, match="on purpose"):
        run_stream(ultra_llm_host, "slow-test", "boom")
    whole, streamed = timings()
    assert whole.error == streamed.error == "GenerationError"
    assert streamed.chunks == 1


def test_a_stream_closed_early_is_timed_without_error(
    ultra_llm_host: PluginHost, timings: Callable[[], list[Timing]]
) -> None:
    assert run_stream(ultra_llm_host, "shout", "shout/upper", take=1) == ["HELLO"]
    [timing] = timings()
    assert timing.chunks == 1 and timing.error is None


def test_the_plugin_can_be_disabled(ultra_llm_clean_env: pytest.MonkeyPatch) -> None:
    ultra_llm_clean_env.setenv("ULTRA_LLM_DISABLE_PLUGINS", "example")
    host = PluginHost()
    host.load()
    assert host.records["example"].status == "disabled"
    assert "shout" not in host.backends()
