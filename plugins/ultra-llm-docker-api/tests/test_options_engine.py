"""docker-api's options reach the real engine (issue 30): llama-server b9878 behind the runner proxy,
with the tiny random-weight model the tests write.

``top_k=1`` keeps only the most likely token, so at ``temperature=2`` any seed gives the greedy
(``temperature=0``) answer; without it the same seeds sample other tokens. That difference can only
come from the option reaching the sampler, through Python and through the CLI. And llama-server takes
every option at once, each at a value other than its default, without refusing one.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from ultra_llm_docker.testing.engine.fixtures import DMRRunner

from ultra_llm import create_adapter

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
PROMPT = "hello world"
SHORT = {"max_tokens": 6}

pytestmark = pytest.mark.engine


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def answers(runner: DMRRunner, *calls: dict[str, Any]) -> list[str]:
    async with await create_adapter("tiny", backend="docker-api", settings={"url": runner.url}) as llm:
        return [await llm.generate(PROMPT, **SHORT, **options) for options in calls]


def test_top_k_1_is_greedy_at_any_temperature_and_seed(dmr_runner: DMRRunner) -> None:
    greedy, *top_k_1, free_1, free_2 = run(
        answers(
            dmr_runner,
            {"temperature": 0},
            {"temperature": 2, "top_k": 1, "seed": 1},
            {"temperature": 2, "top_k": 1, "seed": 2},
            {"temperature": 2, "seed": 1},
            {"temperature": 2, "seed": 2},
        )
    )
    assert greedy
    assert top_k_1 == [greedy, greedy]
    assert greedy not in (free_1, free_2) or free_1 != free_2, "without top_k=1 the seeds must sample otherwise"


def _cli(runner: DMRRunner, *options: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ULTRA_LLM_", "MODEL_RUNNER_", "USE_MODEL"))}
    env.update(MODEL_RUNNER_URL=runner.url, ULTRA_LLM_FALLBACK="none")
    args = ["generate", "-b", "docker-api", "-m", "tiny", "-o", "max_tokens=6", *options, PROMPT]
    return subprocess.run(
        [str(Path(sys.executable).with_name("ultra-llm")), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_the_cli_option_top_k_reaches_the_engine(dmr_runner: DMRRunner) -> None:
    greedy = _cli(dmr_runner, "-o", "temperature=0")
    top_k_1 = _cli(dmr_runner, "-o", "top_k=1", "-o", "temperature=2", "-o", "seed=3")
    free = [_cli(dmr_runner, "-o", "temperature=2", "-o", f"seed={seed}") for seed in (3, 4)]
    for done in (greedy, top_k_1, *free):
        assert done.returncode == 0, done.stderr
    assert greedy.stdout.strip()
    assert top_k_1.stdout == greedy.stdout
    assert any(done.stdout != greedy.stdout for done in free), "without top_k=1 the seeds must sample otherwise"


def test_llama_server_takes_every_option_at_once(dmr_runner: DMRRunner) -> None:
    """Names and types as the engine reads them: a wrong one would be a 400 (a hard limit, a bad
    type) or a 500; ``grammar`` then pins the answer, proving the body was read."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("options_cases", Path(__file__).with_name("test_options.py"))
    assert spec is not None and spec.loader is not None
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    options = {**cases.EVERY_OPTION, "n": 1, "max_tokens": 8, "stop": ["\n\n"], "extra": {"return_progress": False}}

    async def case() -> tuple[Any, list[str]]:
        async with await create_adapter("tiny", backend="docker-api", settings={"url": dmr_runner.url}) as llm:
            whole = await llm.complete(PROMPT, **options)
            pieces = [c.text async for c in llm.stream(PROMPT, **options, stream_options={"include_usage": True})]
            return whole, pieces

    whole, pieces = run(case())
    assert whole.text == "hi"
    assert "".join(pieces) == "hi"
