"""generate_many: input order, bounded concurrency, per-item typed errors, progress, cancellation."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import pytest

from ultra_llm import Result, UltraLLMError, create_adapter_sync
from ultra_llm._adapter import Adapter
from ultra_llm._batch import BatchProgress, generate_many
from ultra_llm._factory import create_adapter
from ultra_llm._host import PluginHost
from ultra_llm._middleware import GenerateNext, Middleware
from ultra_llm.errors import GenerationError, InvalidOptionsError
from ultra_llm.plugin import GenerationRequest, hookimpl


class InFlight(Middleware):
    """Middleware that delays each generation and records how many run at once."""

    def __init__(self, delay: Callable[[str], float]) -> None:
        self.delay = delay
        self.current = 0
        self.peak = 0
        self.finished: list[str] = []
        self.cancelled = 0

    @hookimpl
    def ultra_llm_middleware(self) -> Middleware:
        return self

    async def generate(self, request: GenerationRequest, call_next: GenerateNext) -> Result:
        self.current += 1
        self.peak = max(self.peak, self.current)
        try:
            await asyncio.sleep(self.delay(request.prompt))
            result = await call_next(request)
            self.finished.append(request.prompt)
            return result
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.current -= 1


class Failing(Middleware):
    """Fails prompts by their text: "typed" raises GenerationError, "untyped" a bare ValueError."""

    @hookimpl
    def ultra_llm_middleware(self) -> Middleware:
        return self

    async def generate(self, request: GenerationRequest, call_next: GenerateNext) -> Result:
        if request.prompt.startswith("typed"):
            raise GenerationError(f"injected for {request.prompt}", backend=request.backend)
        if request.prompt.startswith("untyped"):
            raise ValueError(f"bare failure for {request.prompt}")
        return await call_next(request)


def make_adapter(host: PluginHost) -> Adapter:
    return create_adapter_sync("mock/echo", host=host)


async def with_adapter(host: PluginHost, func: Callable[[Adapter], Any]) -> Any:
    async with await create_adapter("mock/echo", host=host) as adapter:
        return await func(adapter)


def test_results_come_back_in_input_order_whatever_the_completion_order(
    ultra_llm_host: PluginHost, register_plugin: Callable[..., str]
) -> None:
    rng = random.Random(7)
    delays = {f"prompt {i}": rng.uniform(0.0, 0.02) for i in range(40)}
    plugin = InFlight(lambda prompt: delays[prompt])
    register_plugin(plugin, name="in-flight")
    prompts = list(delays)

    items = asyncio.run(with_adapter(ultra_llm_host, lambda a: generate_many(a, prompts, concurrency=8)))

    assert [item.index for item in items] == list(range(40))
    assert [item.text for item in items] == prompts, "mock/echo answers each prompt with itself"
    assert all(item.ok and item.error is None for item in items)
    assert plugin.finished != prompts, "the random delays must have reordered completion for this test to mean much"
    assert sorted(plugin.finished) == sorted(prompts)


@pytest.mark.parametrize("concurrency", [1, 3, 16])
def test_no_more_than_concurrency_generations_are_in_flight(
    ultra_llm_host: PluginHost, register_plugin: Callable[..., str], concurrency: int
) -> None:
    plugin = InFlight(lambda prompt: 0.005)
    register_plugin(plugin, name="in-flight")
    prompts = [f"p{i}" for i in range(40)]

    items = asyncio.run(with_adapter(ultra_llm_host, lambda a: generate_many(a, prompts, concurrency=concurrency)))

    assert len(items) == 40 and all(item.ok for item in items)
    assert plugin.peak == concurrency, f"peak in flight {plugin.peak} with concurrency {concurrency}"
    assert plugin.current == 0


def test_more_slots_than_prompts_starts_only_what_is_needed(
    ultra_llm_host: PluginHost, register_plugin: Callable[..., str]
) -> None:
    plugin = InFlight(lambda prompt: 0.005)
    register_plugin(plugin, name="in-flight")
    items = asyncio.run(with_adapter(ultra_llm_host, lambda a: generate_many(a, ["a", "b"], concurrency=50)))
    assert [item.text for item in items] == ["a", "b"] and plugin.peak == 2
    assert asyncio.run(with_adapter(ultra_llm_host, lambda a: generate_many(a, [], concurrency=4))) == []


def test_a_failing_prompt_keeps_its_typed_error_and_the_batch_goes_on(
    ultra_llm_host: PluginHost, register_plugin: Callable[..., str]
) -> None:
    register_plugin(Failing(), name="failing")
    prompts = ["ok 0", "typed 1", "ok 2", "untyped 3", "ok 4"]

    items = asyncio.run(with_adapter(ultra_llm_host, lambda a: generate_many(a, prompts, concurrency=2)))

    assert [item.ok for item in items] == [True, False, True, False, True]
    assert [item.text for item in items] == ["ok 0", None, "ok 2", None, "ok 4"]
    typed = items[1].error
    assert isinstance(typed, GenerationError) and "typed 1" in typed.message and items[1].result is None
    untyped = items[3].error
    assert isinstance(untyped, UltraLLMError), "an untyped failure is still a typed error in the item"
    assert "ValueError" in untyped.message and "untyped 3" in untyped.message
    assert untyped.to_dict()["error"] == "PluginError", "the adapter types a plugin's bare exception"
    assert items[1].to_dict()["error"]["error"] == "GenerationError" and items[1].to_dict()["result"] is None
    assert items[0].to_dict()["result"]["text"] == "ok 0"


def test_a_prompt_of_the_wrong_type_fails_alone_with_a_typed_error(ultra_llm_host: PluginHost) -> None:
    prompts: list[Any] = ["fine", 123]
    items = asyncio.run(with_adapter(ultra_llm_host, lambda a: generate_many(a, prompts)))
    assert items[0].text == "fine"
    error = items[1].error
    assert type(error) is UltraLLMError and "TypeError" in error.message and isinstance(error.__cause__, TypeError)
    assert error.backend == "mock"


def test_invalid_options_fail_each_item_not_the_batch(ultra_llm_host: PluginHost) -> None:
    items = asyncio.run(with_adapter(ultra_llm_host, lambda a: generate_many(a, ["a", "b"], bogus=1)))
    assert len(items) == 2
    assert all(isinstance(item.error, InvalidOptionsError) and "bogus" in item.error.message for item in items)


def test_options_reach_every_prompt(ultra_llm_host: PluginHost) -> None:
    items = asyncio.run(with_adapter(ultra_llm_host, lambda a: generate_many(a, ["a b c d", "e f g h"], max_tokens=2)))
    assert [item.text for item in items] == ["a b ", "e f "]
    assert all(item.result is not None and item.result.finish_reason == "length" for item in items)


def test_progress_reports_each_completion_up_to_the_total(
    ultra_llm_host: PluginHost, register_plugin: Callable[..., str]
) -> None:
    register_plugin(Failing(), name="failing")
    events: list[BatchProgress] = []
    prompts = ["ok a", "typed b", "ok c", "ok d", "typed e", "ok f", "ok g"]

    items = asyncio.run(
        with_adapter(ultra_llm_host, lambda a: generate_many(a, prompts, concurrency=3, progress=events.append))
    )

    assert events[0] == BatchProgress(0, 7, 0, None)
    assert [event.done for event in events] == list(range(8))
    assert all(event.total == 7 for event in events)
    assert events[-1].failed == 2 == sum(1 for item in items if not item.ok)
    failed_so_far = [event.failed for event in events]
    assert failed_so_far == sorted(failed_so_far), "the failed count never goes down"
    reported = {event.item.index: event.item for event in events if event.item is not None}
    assert sorted(reported) == list(range(7))
    assert [reported[i] for i in range(7)] == items, "each event carries the finished item"


def test_a_progress_callback_that_raises_cancels_the_batch(
    ultra_llm_host: PluginHost, register_plugin: Callable[..., str]
) -> None:
    plugin = InFlight(lambda prompt: 0.05 if prompt != "fast" else 0.0)
    register_plugin(plugin, name="in-flight")

    def explode(event: BatchProgress) -> None:
        if event.done:
            raise RuntimeError("progress broke")

    with pytest.raises(RuntimeError, match="progress broke"):
        asyncio.run(
            with_adapter(ultra_llm_host, lambda a: generate_many(a, ["fast", "s1", "s2", "s3"], progress=explode))
        )
    assert plugin.cancelled == 3 and plugin.current == 0


def test_cancelling_the_batch_cancels_the_prompts_in_flight(
    ultra_llm_host: PluginHost, register_plugin: Callable[..., str]
) -> None:
    plugin = InFlight(lambda prompt: 10.0)
    register_plugin(plugin, name="in-flight")

    async def run(adapter: Adapter) -> None:
        task = asyncio.ensure_future(generate_many(adapter, [f"p{i}" for i in range(10)], concurrency=4))
        while plugin.current < 4:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(with_adapter(ultra_llm_host, run))
    assert plugin.cancelled == 4 and plugin.current == 0 and plugin.finished == []


def test_bad_arguments_are_typed_errors(ultra_llm_host: PluginHost) -> None:
    with pytest.raises(InvalidOptionsError, match="concurrency"):
        asyncio.run(with_adapter(ultra_llm_host, lambda a: generate_many(a, ["x"], concurrency=0)))
    with pytest.raises(InvalidOptionsError, match="single string"):
        asyncio.run(with_adapter(ultra_llm_host, lambda a: generate_many(a, "not a list")))


def test_generator_input_and_chat_messages(ultra_llm_host: PluginHost) -> None:
    chats = ([{"role": "user", "content": f"chat {i}"}] for i in range(3))
    items = asyncio.run(with_adapter(ultra_llm_host, lambda a: generate_many(a, chats, concurrency=2)))
    assert [item.text for item in items] == ["chat 0", "chat 1", "chat 2"]


def test_the_sync_adapter_runs_a_batch_on_its_loop(
    ultra_llm_host: PluginHost, register_plugin: Callable[..., str]
) -> None:
    plugin = InFlight(lambda prompt: 0.002)
    register_plugin(plugin, name="in-flight")
    events: list[BatchProgress] = []
    with make_adapter(ultra_llm_host) as adapter:
        items = adapter.generate_many([f"s{i}" for i in range(12)], concurrency=5, progress=events.append)
        again = adapter.generate_many(["again"], concurrency=5)
    assert [item.text for item in items] == [f"s{i}" for i in range(12)]
    assert plugin.peak == 5 and events[-1].done == 12
    assert again[0].text == "again"
    assert all(item.seconds > 0 for item in items)
