"""Model fallback chains (issue 32) through the adapter, in Python: each trigger, the ones that are not,
never after a first chunk, the context-window rule, the cooldown on an injected clock, the setting.

The backend is scripted by model name (``Scripted``): each name fails the way a server would, as
the docker-api backend raises it (its own tests cover those errors at the HTTP boundary).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest

from ultra_llm import Fallback, Result
from ultra_llm._adapter import Adapter
from ultra_llm._config import load_config
from ultra_llm._host import PluginHost
from ultra_llm._selection import Selection
from ultra_llm.errors import (
    BackendUnavailableError,
    BadRequestError,
    ConfigurationError,
    ContextLengthExceededError,
    InvalidOptionsError,
    ModelNotFoundError,
    OverloadedError,
)
from ultra_llm.plugin import Availability, Backend, Chunk, GenerationRequest, ModelInfo
from ultra_llm.testing.clock import FakeClock

WINDOWS = {"small": 100, "mid": 300, "big": 1000}


class Scripted(Backend):
    """Answers ``<model> says hi`` in two chunks, or fails as its model's name says."""

    name: ClassVar[str] = "scripted"
    default_model: ClassVar[str] = "fine"

    def __init__(self) -> None:
        super().__init__(load_config())
        self.calls: list[str] = []

    async def check_availability(self) -> Availability:
        return Availability(True)

    async def list_models(self) -> list[ModelInfo]:
        names = ["fine", "spare", "gone", "busy", "down", "late", "bad", *WINDOWS]
        return [ModelInfo(name, self.name, context_window=WINDOWS.get(name)) for name in names]

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        model = request.model
        self.calls.append(model)
        if model == "gone":
            raise ModelNotFoundError(model, backend=self.name, detail="no runner has it")
        if model == "busy":
            raise OverloadedError("every runner answered 429 after 3 attempts.", backend=self.name)
        if model == "down":
            raise BackendUnavailableError("no runner of it answers.", backend=self.name)
        if model == "bad":
            raise BadRequestError("The server refused the request: 400 bad grammar", backend=self.name)
        if model in ("small", "mid"):
            raise ContextLengthExceededError(
                f"request (500 tokens) exceeds the available context size ({WINDOWS[model]} tokens)",
                requested=500,
                available=WINDOWS[model],
                backend=self.name,
            )
        yield Chunk(f"{model} says")
        if model == "late":
            raise BackendUnavailableError("the runner went away mid-answer.", backend=self.name)
        yield Chunk(" hi", finish_reason="stop")


def adapter_over(backend: Scripted, clock: FakeClock | None = None, **config: Any) -> Adapter:
    return Adapter(
        PluginHost(entry_points=lambda: []),
        backend,
        config=load_config(**config),
        selection=Selection(backend.name, "a test", backend.name),
        **({"clock": clock} if clock is not None else {}),
    )


async def streamed(adapter: Adapter, **options: Any) -> list[Chunk]:
    return [chunk async for chunk in adapter.stream("hi", **options)]


@pytest.mark.parametrize(
    ("failing", "reason"),
    [("gone", "not_found"), ("busy", "overloaded"), ("down", "unavailable")],
)
def test_each_trigger_moves_on_whole_and_streamed(failing: str, reason: str) -> None:
    backend = Scripted()
    adapter = adapter_over(backend, model_cooldown=0)

    async def run() -> tuple[Result, list[Chunk]]:
        whole = await adapter.complete("hi", model=failing, fallback_models=["fine"])
        return whole, await streamed(adapter, model=failing, fallback_models=["fine"])

    whole, chunks = asyncio.run(run())
    assert whole.text == "fine says hi" and whole.model == "fine"
    assert whole.fallback is not None
    assert (whole.fallback.requested, whole.fallback.model, whole.fallback.reason) == (failing, "fine", reason)
    assert whole.fallback.passed == (failing,) and whole.fallback.message
    assert whole.to_dict()["fallback"]["reason"] == reason
    assert "".join(c.text for c in chunks) == "fine says hi"
    assert chunks[0].fallback == whole.fallback and all(c.fallback is None for c in chunks[1:])
    assert backend.calls == [failing, "fine", failing, "fine"]


def test_a_chain_is_walked_in_order_and_the_last_failure_is_the_answer() -> None:
    backend = Scripted()
    adapter = adapter_over(backend, model_cooldown=0)
    result = asyncio.run(adapter.complete("hi", model="gone", fallback_models=["down", "busy", "spare"]))
    assert result.model == "spare" and result.fallback is not None
    assert result.fallback.reason == "not_found" and result.fallback.passed == ("gone", "down", "busy")
    with pytest.raises(OverloadedError):
        asyncio.run(adapter.complete("hi", model="gone", fallback_models=["down", "busy"]))
    assert backend.calls == ["gone", "down", "busy", "spare", "gone", "down", "busy"]


def test_failures_that_are_not_a_models_fault_are_the_answer() -> None:
    backend = Scripted()
    adapter = adapter_over(backend)
    with pytest.raises(BadRequestError):
        asyncio.run(adapter.complete("hi", model="bad", fallback_models=["fine"]))
    assert backend.calls == ["bad"]


def test_never_after_the_first_chunk() -> None:
    backend = Scripted()
    adapter = adapter_over(backend)
    got: list[str] = []

    async def run() -> None:
        async for chunk in adapter.stream("hi", model="late", fallback_models=["fine"]):
            got.append(chunk.text)

    with pytest.raises(BackendUnavailableError, match="mid-answer"):
        asyncio.run(run())
    assert got == ["late says"] and backend.calls == ["late"]


def test_a_prompt_too_long_goes_to_the_next_model_with_a_larger_window() -> None:
    backend = Scripted()
    adapter = adapter_over(backend)
    result = asyncio.run(adapter.complete("hi", model="small", fallback_models=["mid", "fine", "big"]))
    # mid (300 tokens) cannot hold a 500-token prompt: passed over unasked; fine's window is not known: tried
    assert result.model == "fine" and backend.calls == ["small", "fine"]
    assert result.fallback == Fallback(
        "small", "fine", "context_length", result.fallback.message if result.fallback else "", ("small", "mid")
    )
    backend.calls.clear()
    with pytest.raises(ContextLengthExceededError):  # only smaller windows left: the prompt's error stands
        asyncio.run(adapter.complete("hi", model="small", fallback_models=["mid"]))
    assert backend.calls == ["small"]
    assert adapter.cooldowns.cooling("small") is None, "a prompt too long is no fault of the model"


def test_a_failing_model_cools_down_on_the_adapters_clock() -> None:
    backend = Scripted()
    clock = FakeClock()
    adapter = adapter_over(backend, clock=clock, model_cooldown=30)

    def ask() -> Result:
        return asyncio.run(adapter.complete("hi", model="down", fallback_models=["fine"]))

    first = ask()
    assert first.fallback is not None and first.fallback.reason == "unavailable"
    clock.advance(29)
    second = ask()  # within the cooldown: down is passed over without being asked
    assert second.fallback is not None and second.fallback.reason == "cooling_down"
    assert "skipped for 1 s more" in second.fallback.message and "no runner of it answers" in second.fallback.message
    assert backend.calls == ["down", "fine", "fine"]
    clock.advance(1)
    ask()  # the cooldown is over: asked again (and it fails again: a new cooldown)
    assert backend.calls[-2:] == ["down", "fine"]
    # the last model of a chain is asked even while it cools down: nothing else could answer
    assert adapter.cooldowns.cooling("down") is not None
    with pytest.raises(BackendUnavailableError):
        asyncio.run(adapter.complete("hi", model="gone", fallback_models=["down"]))
    assert backend.calls[-2:] == ["gone", "down"]


def test_the_setting_gives_each_models_chain_and_a_call_replaces_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_MODEL_FALLBACKS", "gone=down,spare ; busy=fine")
    backend = Scripted()
    adapter = adapter_over(backend, model_cooldown=0)

    async def run() -> list[str]:
        return [
            (await adapter.complete("hi", model="gone")).model,
            (await adapter.complete("hi", model="busy")).model,
            (await adapter.complete("hi", model="gone", fallback_models=["fine"])).model,
        ]

    assert asyncio.run(run()) == ["spare", "fine", "fine"]
    with pytest.raises(ModelNotFoundError):  # an empty list: no chain for this call
        asyncio.run(adapter.complete("hi", model="gone", fallback_models=[]))
    assert adapter.build_request("hi", {"model": "gone"}).fallback_models == ("down", "spare")
    assert adapter.build_request("hi", {"model": "fine"}).fallback_models == ()


@pytest.mark.parametrize("value", ["gone", "gone=", "=fine", "gone=fine;gone=spare"])
def test_a_malformed_setting_is_a_configuration_error_naming_it(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ULTRA_LLM_MODEL_FALLBACKS", value)
    with pytest.raises(ConfigurationError, match="ULTRA_LLM_MODEL_FALLBACKS"):
        load_config()


@pytest.mark.parametrize("value", ["fine", [1], [""], {"fine": 1}])
def test_fallback_models_must_be_a_list_of_names(value: object) -> None:
    adapter = adapter_over(Scripted())
    with pytest.raises(InvalidOptionsError, match="fallback_models"):
        adapter.build_request("hi", {"fallback_models": value})


def test_each_step_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    adapter = adapter_over(Scripted(), model_cooldown=0)
    with caplog.at_level(logging.INFO, logger="ultra_llm"):
        asyncio.run(adapter.complete("hi", model="gone", fallback_models=["down", "fine"]))
    steps = [r.getMessage() for r in caplog.records if "did not answer" in r.getMessage()]
    assert len(steps) == 2 and steps[0].startswith("gone did not answer") and steps[1].endswith("trying fine")
