"""Token log probabilities and several answers from the real engine (issue 30): llama-server b9878
behind the runner proxy (started with 4 slots, ``--parallel 4``, so ``n=2`` fits), the tiny model.

llama-server answers ``logprobs`` in OpenAI's shape (``choices[i].logprobs.content``), whole and in
each streamed delta (``tools/server/server-task.cpp``, ``completion_token_output::to_json`` and the
chat ``to_json_oaicompat_chat*``), and ``n`` as several ``choices`` with their ``index``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from ultra_llm_docker.testing.engine.fixtures import DMRRunner

from ultra_llm import Chunk, Result, create_adapter

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
PROMPT = "hello world"
GREEDY = {"max_tokens": 6, "temperature": 0}

pytestmark = pytest.mark.engine


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def whole_and_streamed(runner: DMRRunner, **options: Any) -> tuple[Result, list[Chunk]]:
    async with await create_adapter("tiny", backend="docker-api", settings={"url": runner.url}) as llm:
        whole = await llm.complete(PROMPT, **GREEDY, **options)
        return whole, [chunk async for chunk in llm.stream(PROMPT, **GREEDY, **options)]


def test_logprobs_arrive_whole_and_streamed(dmr_runner: DMRRunner) -> None:
    whole, chunks = run(whole_and_streamed(dmr_runner, logprobs=True, top_logprobs=3))
    tokens = whole.logprobs
    assert tokens, whole
    assert whole.usage is not None and len(tokens) == whole.usage.completion_tokens
    for token in tokens:
        assert token.logprob <= 0
        alternatives = token.top_logprobs
        assert len(alternatives) == 3
        assert [a.logprob for a in alternatives] == sorted((a.logprob for a in alternatives), reverse=True)
        assert alternatives[0].token == token.token, "at temperature 0 the chosen token is the most likely one"
    streamed = [token for chunk in chunks for token in chunk.logprobs]
    assert [(t.token, round(t.logprob, 3)) for t in streamed] == [(t.token, round(t.logprob, 3)) for t in tokens]


def test_two_answers_whole_and_streamed(dmr_runner: DMRRunner) -> None:
    whole, chunks = run(whole_and_streamed(dmr_runner, n=2))
    assert [choice.index for choice in whole.choices] == [0, 1]
    assert all(choice.text for choice in whole.choices) and whole.text == whole.choices[0].text
    assert {chunk.index for chunk in chunks} == {0, 1}
    streamed = {i: "".join(c.text for c in chunks if c.index == i) for i in (0, 1)}
    assert streamed == {0: whole.choices[0].text, 1: whole.choices[1].text}  # temperature 0: the same answers


def test_the_cli_shows_logprobs_with_llama_server_samplers(dmr_runner: DMRRunner) -> None:
    """Issue 30's "done when": `generate -o top_k=40 -o min_p=0.05 -o logprobs=true -o top_logprobs=3 --json`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ULTRA_LLM_", "MODEL_RUNNER_", "USE_MODEL"))}
    env.update(MODEL_RUNNER_URL=dmr_runner.url, ULTRA_LLM_FALLBACK="none")
    options = [
        "-o",
        "top_k=40",
        "-o",
        "min_p=0.05",
        "-o",
        "logprobs=true",
        "-o",
        "top_logprobs=3",
        "-o",
        "max_tokens=6",
    ]
    command = [str(Path(sys.executable).with_name("ultra-llm")), "generate", "-b", "docker-api", "-m", "tiny"]
    done = subprocess.run(
        [*command, *options, "--json", PROMPT],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["backend"] == "docker-api" and printed["logprobs"]
    assert all(len(token["top_logprobs"]) == 3 for token in printed["logprobs"])
