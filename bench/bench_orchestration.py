"""Fan-out across models, scheduled around loads (issue 33), against the lower bound and the naive order.

The runners are doubles with the runner's memory (``runner_with_memory``: Docker Model Runner's
loader, ``slots`` models resident, each load ``LOAD`` seconds, every idle model evicted when a load
needs a slot) before a canned engine answering each request after ``ANSWER`` seconds, any number
at once. The work is N prompts on M models through the docker-api backend:

- **subject**: ``generate_many(prompts, models=...)`` (grouped by runner and model, loaded first);
- **naive**: the same entries in the order they come (each prompt's models in turn), through
  ``generate_many`` with a model per entry, as every client does without a scheduler;
- **lower bound**: per runner, one load per model and no idle time: ``sum over its models of
  (LOAD + ceil(N / CONCURRENCY) x ANSWER)``, the slowest runner's.

Two setups: one runner holding one model (the issue's goal: 6 x 3 in 3 loads, within 1.3x of the
bound), and two runners holding different model sets side by side. Each reports the loads and the
wall time; ratios are wall time over the bound. The doubles run in this process's threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
import urllib.request
from collections.abc import Iterator, Sequence
from typing import Any

from .runner import Measurement, case

LOAD = 0.3
ANSWER = 0.1
CONCURRENCY = 8
PROMPTS = [f"question {n}" for n in range(6)]


@contextlib.contextmanager
def _runners(sets: Sequence[Sequence[str]]) -> Iterator[list[Any]]:
    from ultra_llm_docker.testing.engine.memory_runner import runner_with_memory

    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(runner_with_memory(models, slots=1, load_time=LOAD, delay=ANSWER)) for models in sets
        ]


def _run(runners: list[Any], models: list[str], *, naive: bool) -> tuple[float, int]:
    """Wall seconds and loads of the work on fresh runners (nothing loaded)."""
    from ultra_llm_docker_api.backend import DockerAPIBackend
    from ultra_llm_docker_api.settings import DockerAPISettings

    from ultra_llm._config import load_config
    from ultra_llm.testing.adapters import adapter_over

    for runner in runners:  # the runner's own route: every idle model unloaded
        request = urllib.request.Request(
            runner.url + "/engines/unload", data=json.dumps({"all": True}).encode(), method="POST"
        )
        urllib.request.urlopen(request, timeout=10).close()
    before = sum(runner.proxy.loads for runner in runners)
    settings = DockerAPISettings.load(url=",".join(r.url for r in runners), health_interval=0)

    async def work() -> float:
        backend = DockerAPIBackend(load_config(models_held=1), settings=settings)
        async with adapter_over(backend) as adapter:
            await backend.pool.know_models()  # the maps are read before the clock starts, in both orders
            start = time.perf_counter()
            if naive:
                entries = [adapter.build_request(p, {"model": m, "max_tokens": 4}) for p in PROMPTS for m in models]
                items = await adapter.generate_many(entries, concurrency=CONCURRENCY)
            else:
                items = await adapter.generate_many(PROMPTS, models=models, concurrency=CONCURRENCY, max_tokens=4)
            seconds = time.perf_counter() - start
        failed = [item.error for item in items if item.error is not None]
        if failed:
            raise RuntimeError(f"the orchestration bench's work failed: {failed[0]}")
        return seconds

    seconds = asyncio.run(work())
    return seconds, sum(runner.proxy.loads for runner in runners) - before


def _bound(sets: Sequence[Sequence[str]]) -> float:
    waves = math.ceil(len(PROMPTS) / CONCURRENCY)
    return max(len(models) * (LOAD + waves * ANSWER) for models in sets)


@case("orchestration")
def orchestration() -> list[Measurement]:
    results: list[Measurement] = []
    setups = [
        ("6x3, one runner holding one", [["ai/a", "ai/b", "ai/c"]], ["a", "b", "c"], 1.3),
        ("6x3, two runners (a,b | c)", [["ai/a", "ai/b"], ["ai/c"]], ["a", "b", "c"], None),
    ]
    for name, sets, models, limit in setups:
        with _runners(sets) as runners:
            bound = _bound(sets)
            scheduled, loads = _run(runners, models, naive=False)
            naive, naive_loads = _run(runners, models, naive=True)
        floor = sum(len(s) for s in sets)
        print(
            f"  orchestration {name}: scheduled {loads} loads {scheduled:.2f} s; naive {naive_loads} loads "
            f"{naive:.2f} s; lower bound {floor} loads {bound:.2f} s"
        )
        results.append(
            Measurement(
                "orchestration", f"{name}: scheduled", scheduled * 1000, "lower bound", bound * 1000, limit=limit
            )
        )
        results.append(Measurement("orchestration", f"{name}: naive", naive * 1000, "lower bound", bound * 1000))
        results.append(
            Measurement("orchestration", f"{name}: loads", loads, "M per runner", floor, unit="loads", limit=1.0)
        )
    return results
