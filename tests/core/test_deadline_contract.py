"""The deadline contract between the adapter and a backend (``ultra_llm._deadline``): the adapter stamps
one ``Deadline`` on every call (requests carry it; calls that take none read ``current_deadline()``),
enforces it, and words its one error; a backend sizes its waits by it, says why it is late
(``waiting_for``), and lets ``TimeoutError`` out when a wait it sized runs out. A ``TimeoutError``
before any deadline passed is the backend's own fault. Pulls have no total unless asked."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest

from ultra_llm._adapter import Adapter
from ultra_llm._backend import Backend
from ultra_llm._config import load_config
from ultra_llm._deadline import Deadline, current_deadline
from ultra_llm._host import PluginHost
from ultra_llm._selection import Selection
from ultra_llm._types import (
    Availability,
    Chunk,
    EmbeddingRequest,
    EmbeddingResult,
    GenerationRequest,
    ModelInfo,
    ProgressCallback,
    Result,
)
from ultra_llm.errors import GenerationTimeoutError, PluginError

LOADING = "the test server is still loading the model"


class Waiter(Backend):
    """A backend that says it waits for a model load, then waits as its ``behaviour`` says:
    ``"hang"`` (until cancelled), ``"sized"`` (its own wait sized by the deadline, then
    ``TimeoutError``), ``"early"`` (a ``TimeoutError`` of its own at once)."""

    name = "waiter"
    default_model = "m"
    behaviour: ClassVar[str] = "hang"
    seen: ClassVar[list[Deadline | None]] = []

    async def check_availability(self) -> Availability:
        return Availability(True, "here")

    async def list_models(self) -> list[ModelInfo]:
        self.seen.append(current_deadline())
        return [ModelInfo("m", "waiter")]

    async def _wait(self, deadline: Deadline | None) -> None:
        assert deadline is not None
        deadline.waiting_for(LOADING)
        if self.behaviour == "early":
            raise TimeoutError
        if self.behaviour == "sized":
            await asyncio.sleep(deadline.remaining())
            raise TimeoutError
        await asyncio.sleep(3600)

    async def generate(self, request: GenerationRequest) -> Result:
        await self._wait(request.deadline)
        return Result("never", request.model, self.name)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        await self._wait(request.deadline)
        yield Chunk("never")

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        self.seen.append(request.deadline)
        return EmbeddingResult(((1.0,),), request.model, self.name)

    async def pull(self, model: str, progress: ProgressCallback | None = None) -> None:
        self.seen.append(current_deadline())

    async def remove(self, model: str) -> None:
        deadline = current_deadline()
        self.seen.append(deadline)
        if self.behaviour == "hang" and model == "busy":
            assert deadline is not None
            deadline.waiting_for("the store is busy")
            await asyncio.sleep(3600)


def run(call: Any, behaviour: str = "hang", **config: float) -> Any:
    Waiter.behaviour = behaviour
    Waiter.seen = []

    async def go() -> Any:
        settings = load_config(**config)
        backend = Waiter(settings)
        adapter = Adapter(
            PluginHost(entry_points=lambda: []),
            backend,
            config=settings,
            selection=Selection("waiter", "test", "waiter"),
        )
        async with adapter:
            return await call(adapter)

    return asyncio.run(go())


async def streamed(adapter: Adapter) -> str:
    return "".join([piece async for piece in adapter.stream_generate("hi")])


EXPECTED = (
    f"No answer from backend 'waiter' within the 0.2 s first-token timeout (ULTRA_LLM_FIRST_TOKEN_TIMEOUT): {LOADING}."
)


@pytest.mark.parametrize("behaviour", ["hang", "sized"])
def test_a_late_stream_fails_with_the_one_first_token_error_quoting_the_backend(behaviour: str) -> None:
    with pytest.raises(GenerationTimeoutError) as caught:
        run(streamed, behaviour, timeout=30, first_token_timeout=0.2)
    assert caught.value.message == EXPECTED


def test_a_whole_call_of_a_backend_with_its_own_generate_is_bounded_by_the_total() -> None:
    """The adapter does not see such a call begin, so only the total applies."""
    with pytest.raises(GenerationTimeoutError) as caught:
        run(lambda adapter: adapter.generate("hi"), "hang", timeout=0.3, first_token_timeout=0.1)
    assert caught.value.message == "Generation on backend 'waiter' took longer than 0.3 s."


def test_a_whole_call_whose_backend_sized_its_wait_by_the_first_token_gets_the_first_token_error() -> None:
    with pytest.raises(GenerationTimeoutError) as caught:
        run(lambda adapter: adapter.generate("hi"), "sized", timeout=30, first_token_timeout=0.2)
    assert caught.value.message == EXPECTED


@pytest.mark.parametrize("call", ["stream", "whole"])
def test_a_timeout_error_before_any_deadline_is_the_backends_fault(call: str) -> None:
    calls = {"stream": streamed, "whole": lambda adapter: adapter.generate("hi")}
    with pytest.raises(PluginError) as caught:
        run(calls[call], "early", timeout=30, first_token_timeout=10)
    assert "untyped TimeoutError" in caught.value.message


def test_management_calls_read_their_deadline_and_pulls_have_no_total() -> None:
    async def calls(adapter: Adapter) -> float:
        started = asyncio.get_running_loop().time()
        await adapter.list_models()
        await adapter.remove("m")
        await adapter.pull("m")
        await adapter.pull("m", timeout=7)
        await adapter.embed("x", timeout=None)
        return started

    started = run(calls, timeout=40)
    listing, removing, pulling, pulling_limited, embedding = Waiter.seen
    assert listing is not None and removing is not None and pulling_limited is not None
    assert started + 40 <= listing.total < started + 45
    assert started + 40 <= removing.total < started + 45
    assert pulling is not None and pulling.total == math.inf
    assert started + 7 <= pulling_limited.total < started + 12
    assert embedding is not None and embedding.total == math.inf
    assert current_deadline() is None  # only inside a call


def test_a_deadline_remaining_runs_to_the_first_token_then_to_the_total() -> None:
    async def go() -> tuple[float, float]:
        now = asyncio.get_running_loop().time()
        deadline = Deadline.starting(now, 100.0, 10.0)
        before = deadline.remaining()
        deadline.answered()
        return before, deadline.remaining()

    before, after = asyncio.run(go())
    assert 9 < before <= 10 and 99 < after <= 100


def test_a_management_calls_total_error_quotes_why_the_backend_waited() -> None:
    """A call with no answer to begin (here remove) has the total only, and its error says why."""
    with pytest.raises(GenerationTimeoutError) as caught:
        run(lambda adapter: adapter.remove("busy"), "hang", timeout=0.3)
    assert caught.value.message == "Removing on backend 'waiter' took longer than 0.3 s (the store is busy)."
