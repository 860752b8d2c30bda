"""Fan-out across models, scheduled around model loads (issue 33), on runner doubles with memory.

``runner_with_memory`` gives the runner's routes and its loader's memory (``slots`` resident models,
every idle one evicted when a load needs a slot, ``loads`` counted) before a canned engine. The
counts are the runner's own: how many loads a schedule costs is what these tests pin (the time it
takes is the ``orchestration`` bench's).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from ultra_llm_docker.testing.engine.fixtures import RouterEngine
from ultra_llm_docker.testing.engine.memory_runner import MemoryRunner

from ultra_llm._adapter import Adapter
from ultra_llm._cli.app import build_cli
from ultra_llm.errors import GenerationTimeoutError, ModelNotFoundError
from ultra_llm.testing.adapters import adapter_over
from ultra_llm.testing.waiting import until_async

A, B, C = "ai/a:latest", "ai/b:latest", "ai/c:latest"
REPLY = "Hello from the canned"
FAST = {"max_tokens": 4}
PROMPTS = [f"question {n}" for n in range(6)]


def chats(runner: MemoryRunner) -> int:
    return sum(1 for method, path in runner.proxy.requests if method == "POST" and path.endswith("/chat/completions"))


def adapter_on(make_backend: Callable[..., Any], *runners: MemoryRunner, held: int = 1, **settings: Any) -> Adapter:
    from ultra_llm._config import load_config

    backend = make_backend(",".join(r.url for r in runners), health_interval=0, **settings)
    adapter = adapter_over(backend)
    adapter.config = load_config(models_held=held)
    return adapter


def test_six_prompts_on_three_models_on_a_runner_holding_one_take_three_loads(
    make_memory_runner: Callable[..., MemoryRunner], make_backend: Callable[..., Any]
) -> None:
    runner = make_memory_runner(("ai/a", "ai/b", "ai/c"), slots=1, load_time=0.05)
    adapter = adapter_on(make_backend, runner)

    async def run() -> list[Any]:
        async with adapter:
            return await adapter.generate_many(PROMPTS, models=["a", "b", "c"], **FAST)

    items = asyncio.run(run())
    assert [(item.index, item.model, item.ok) for item in items] == [
        (i * 3 + j, model, True) for i in range(6) for j, model in enumerate((A, B, C))
    ]
    assert all(item.text == REPLY for item in items)
    assert runner.proxy.loads == 3 and runner.proxy.load_counts == {A: 1, B: 1, C: 1}
    assert chats(runner) == 18


def test_the_order_as_it_comes_pays_a_load_at_every_switch(
    make_memory_runner: Callable[..., MemoryRunner], make_backend: Callable[..., Any]
) -> None:
    """The baseline the scheduler beats, on the same double: the same 18 entries one by one, each
    prompt's models in turn (what ``generate_many`` with a model per entry does), load 18 times."""
    runner = make_memory_runner(("ai/a", "ai/b", "ai/c"), slots=1)
    adapter = adapter_on(make_backend, runner)

    async def run() -> None:
        async with adapter:
            for prompt in PROMPTS:
                for model in ("a", "b", "c"):
                    await adapter.complete(prompt, model=model, **FAST)

    asyncio.run(run())
    assert runner.proxy.loads == 18


def test_the_model_loaded_goes_first(
    make_memory_runner: Callable[..., MemoryRunner], make_backend: Callable[..., Any]
) -> None:
    runner = make_memory_runner(("ai/a", "ai/b", "ai/c"), slots=1)
    runner.proxy.hold(C)
    runner.proxy.hold(C, busy=False)
    adapter = adapter_on(make_backend, runner)

    async def run() -> list[Any]:
        async with adapter:
            return await adapter.fan_out("hi", ["a", "b", "c"], **FAST)

    items = asyncio.run(run())
    assert [item.model for item in items] == [A, B, C]  # the results keep the order given ...
    assert runner.proxy.load_counts == {A: 1, B: 1, C: 1}  # ... but c, loaded, ran first: no load again


def test_two_runners_with_different_models_run_side_by_side_each_loading_its_own_once(
    make_memory_runner: Callable[..., MemoryRunner], make_backend: Callable[..., Any]
) -> None:
    one = make_memory_runner(("ai/a", "ai/b"), slots=1)
    two = make_memory_runner(("ai/c",), slots=1)
    adapter = adapter_on(make_backend, one, two)

    async def run() -> list[Any]:
        async with adapter:
            return await adapter.generate_many(PROMPTS, models=["a", "b", "c"], **FAST)

    items = asyncio.run(run())
    assert all(item.ok for item in items)
    assert one.proxy.load_counts == {A: 1, B: 1} and two.proxy.load_counts == {C: 1}
    assert chats(one) == 12 and chats(two) == 6


def test_with_two_held_the_next_model_is_preloaded_and_loads_stay_one_each(
    make_memory_runner: Callable[..., MemoryRunner], make_backend: Callable[..., Any]
) -> None:
    runner = make_memory_runner(("ai/a", "ai/b", "ai/c"), slots=2, load_time=0.05)
    adapter = adapter_on(make_backend, runner, held=2)

    async def run() -> list[Any]:
        async with adapter:
            return await adapter.generate_many(PROMPTS, models=["a", "b", "c"], **FAST)

    assert all(item.ok for item in asyncio.run(run()))
    assert runner.proxy.load_counts == {A: 1, B: 1, C: 1}


def test_a_model_that_is_missing_fails_only_its_own_entries_and_is_asked_once(
    make_memory_runner: Callable[..., MemoryRunner], make_backend: Callable[..., Any]
) -> None:
    runner = make_memory_runner(("ai/a", "ai/b"), slots=1)
    adapter = adapter_on(make_backend, runner)

    async def run() -> list[Any]:
        async with adapter:
            return await adapter.generate_many(PROMPTS, models=["a", "ghost", "b"], concurrency=1, **FAST)

    items = asyncio.run(run())
    ghost = [item for item in items if item.model == "ai/ghost:latest"]
    assert len(ghost) == 6 and all(isinstance(item.error, ModelNotFoundError) for item in ghost)
    assert all(item.ok for item in items if item.model != "ai/ghost:latest")
    assert chats(runner) == 12 + 1  # ghost's 404 once; its other entries answered with that error at once


def test_a_model_past_its_time_fails_only_its_own_entries(
    make_memory_runner: Callable[..., MemoryRunner], make_backend: Callable[..., Any]
) -> None:
    slow = make_memory_runner(("ai/a",), slots=1, delay=0.6)
    fast = make_memory_runner(("ai/b",), slots=1)
    adapter = adapter_on(make_backend, slow, fast)

    async def run() -> list[Any]:
        async with adapter:
            return await adapter.generate_many(PROMPTS[:3], models=["a", "b"], model_timeout=0.3, **FAST)

    items = asyncio.run(run())
    assert all(isinstance(item.error, GenerationTimeoutError) for item in items if item.model == A)
    assert all(item.ok for item in items if item.model == B)


def test_a_runner_refusing_for_load_slows_the_fan_out_down_without_failing_it(
    make_memory_runner: Callable[..., MemoryRunner], make_backend: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ultra_llm import _fan_out

    monkeypatch.setattr(_fan_out, "OVERLOAD_PAUSE", 0.05)
    runner = make_memory_runner(("ai/a", "ai/b"), slots=1)
    runner.proxy.inject(429, "too many requests", times=4)  # two entries' two attempts each
    adapter = adapter_on(make_backend, runner, retries=2)

    async def run() -> list[Any]:
        async with adapter:
            return await adapter.fan_out("hi", ["a", "b"], **FAST)

    items = asyncio.run(run())
    assert [item.ok for item in items] == [True, True]
    assert chats(runner) == 4 + 2


def test_cancelling_the_caller_cancels_every_generation_in_flight(
    make_memory_runner: Callable[..., MemoryRunner], make_backend: Callable[..., Any]
) -> None:
    one = make_memory_runner(("ai/a",), slots=1, delay=30)
    two = make_memory_runner(("ai/b",), slots=1, delay=30)
    adapter = adapter_on(make_backend, one, two)

    async def run() -> None:
        async with adapter:
            task = asyncio.ensure_future(adapter.fan_out("hi", ["a", "b"], **FAST))
            assert await until_async(lambda: one.engine.active == 1 and two.engine.active == 1, within=10)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 5)  # at once, not after the engines' 30 s
            # every request was ended on this side (the double notices a closed client only when it writes)
            states = adapter.backend.endpoint_states()  # type: ignore[attr-defined]
            assert [state["in_flight"] for state in states] == [0, 0]

    asyncio.run(run())


def test_the_streamed_fan_out_labels_each_event_by_model(
    make_memory_runner: Callable[..., MemoryRunner], make_backend: Callable[..., Any]
) -> None:
    runner = make_memory_runner(("ai/a", "ai/b"), slots=1)
    adapter = adapter_on(make_backend, runner)

    async def run() -> list[Any]:
        async with adapter:
            return [event async for event in adapter.stream_fan_out("hi", ["b", "ghost", "a"], **FAST)]

    events = asyncio.run(run())
    by_model: dict[str, list[Any]] = {}
    for event in events:
        by_model.setdefault(event.model, []).append(event)
    for index, model in enumerate((B, A)):
        mine = by_model[model]
        assert "".join(e.chunk.text for e in mine if e.chunk is not None) == REPLY
        assert mine[-1].done and all(e.index == (0 if model == B else 2) for e in mine), index
    ghost = by_model["ai/ghost:latest"]
    assert len(ghost) == 1 and isinstance(ghost[0].error, ModelNotFoundError) and ghost[0].index == 1
    assert runner.proxy.loads == 2


def invoke(monkeypatch: pytest.MonkeyPatch, runner: MemoryRunner, *args: str) -> tuple[int, str, str]:
    for key, value in {
        "ULTRA_LLM_BACKEND": "docker-api",
        "ULTRA_LLM_FALLBACK": "none",
        "MODEL_RUNNER_URL": runner.url,
    }.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(build_cli(), list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_generate_with_several_models_labels_each_answer(
    make_memory_runner: Callable[..., MemoryRunner], monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = make_memory_runner(("ai/a", "ai/b"), slots=1)
    code, out, err = invoke(monkeypatch, runner, "generate", "-m", "a", "-m", "b", "-o", "max_tokens=4", "hi")
    assert (code, out) == (0, f"{REPLY}\n{REPLY}\n"), err
    assert err.index(f"[{A}]") < err.index(f"[{B}]")
    code, out, _ = invoke(monkeypatch, runner, "generate", "-m", "a", "-m", "b", "-o", "max_tokens=4", "--json", "hi")
    answers = json.loads(out)
    assert [(a["model"], a["ok"], a["result"]["text"]) for a in answers] == [(A, True, REPLY), (B, True, REPLY)]
    code, out, _ = invoke(monkeypatch, runner, "generate", "-m", "a", "-o", "max_tokens=4", "--json", "hi")
    assert json.loads(out)["model"] == A  # one -m: the object, as before
    code, out, err = invoke(monkeypatch, runner, "generate", "-m", "a", "-m", "ghost", "-o", "max_tokens=4", "-s", "hi")
    assert code == 4 and out == f"{REPLY}\n" and "[ai/ghost:latest failed: Model 'ai/ghost:latest' was not found" in err


def test_batch_with_several_models_answers_every_line_on_each(
    make_memory_runner: Callable[..., MemoryRunner], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    runner = make_memory_runner(("ai/a", "ai/b", "ai/c"), slots=1)
    lines = [{"prompt": "one", "id": "x"}, {"prompt": "two", "model": "c"}, {"prompt": "three"}]
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    code, out, err = invoke(
        monkeypatch, runner, "batch", str(path), "-m", "a", "-m", "b", "-o", "max_tokens=4", "--no-progress"
    )
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["index"], r["id"], r["model"], r["ok"]) for r in rows] == [
        (0, "x", A, True),
        (1, "x", B, True),
        (2, None, C, True),  # its own model only
        (3, None, A, True),
        (4, None, B, True),
    ]
    assert runner.proxy.loads == 3


@pytest.mark.engine
def test_a_fan_out_on_llama_servers_router_mode_runs_the_loaded_model_first(
    router_engine: RouterEngine, make_backend: Callable[..., Any]
) -> None:
    """The real multi-model engine (``--models-max 1``, ``tiny-a`` and ``tiny-b``): with ``tiny-b``
    loaded, a fan-out over ``[tiny-a, tiny-b]`` answers both in the order given, but runs ``tiny-b``
    first (read from the router's per-model ``status``) and ``tiny-a`` last, so ``tiny-a`` is the
    one loaded at the end: two prompts on two models cost one load, not three."""
    router_engine.unload_all()
    backend = make_backend(router_engine.url)

    async def run() -> list[Any]:
        async with adapter_over(backend) as adapter:
            await adapter.complete("warm", model="tiny-b", max_tokens=1)
            return await adapter.generate_many(["one", "two"], models=["tiny-a", "tiny-b"], max_tokens=2)

    items = asyncio.run(run())
    assert [(item.model, item.ok) for item in items] == [("tiny-a", True), ("tiny-b", True)] * 2
    assert router_engine.statuses() == {"tiny-a": "loaded", "tiny-b": "unloaded"}
