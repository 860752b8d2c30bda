"""The adapter owns the first-token deadline for every backend: the mock (which keeps no clock of its
own) with a late first token fails in the first-token time, with ``GenerationTimeoutError.first_token``'s
wording, through Python (a stream and a whole call, whose stream the adapter collects), and the real
``ultra-llm generate --stream``; a first token in time is not cut; slow later chunks are the total's."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time

import pytest

from ultra_llm import create_adapter
from ultra_llm._config import load_config
from ultra_llm._host import PluginHost
from ultra_llm.errors import GenerationTimeoutError
from ultra_llm.testing.serve import SCRIPT

FIRST_TOKEN_ERROR = (
    "No answer from backend 'mock' within the 0.3 s first-token timeout (ULTRA_LLM_FIRST_TOKEN_TIMEOUT)."
)


def mock_host() -> PluginHost:
    return PluginHost(environ={"ULTRA_LLM_LOAD_PLUGINS": "mock"})


async def answer(stream: bool, **config: float) -> str:
    adapter = await create_adapter("mock/echo", backend="mock", host=mock_host(), config=load_config(**config))
    async with adapter:
        if not stream:
            return await adapter.generate("one two three")
        return "".join([piece async for piece in adapter.stream_generate("one two three")])


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_a_late_first_token_fails_in_the_first_token_time(monkeypatch: pytest.MonkeyPatch, stream: bool) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_FIRST_TOKEN_DELAY", "3")
    started = time.monotonic()
    with pytest.raises(GenerationTimeoutError) as caught:
        asyncio.run(answer(stream, timeout=60, first_token_timeout=0.3))
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 1.5, elapsed
    error = caught.value
    assert error.message == FIRST_TOKEN_ERROR and error.timeout == 0.3 and error.backend == "mock"
    assert "raise ULTRA_LLM_FIRST_TOKEN_TIMEOUT" in (error.fix or "")


def test_a_total_shorter_than_the_first_token_limit_is_the_one_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_FIRST_TOKEN_DELAY", "3")
    with pytest.raises(GenerationTimeoutError) as caught:
        asyncio.run(answer(True, timeout=0.3, first_token_timeout=60))
    assert caught.value.message == (
        "No answer from backend 'mock' within the 0.3 s first-token timeout "
        "(ULTRA_LLM_TIMEOUT, which caps ULTRA_LLM_FIRST_TOKEN_TIMEOUT)."
    )


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_a_first_token_in_time_is_not_cut(monkeypatch: pytest.MonkeyPatch, stream: bool) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_FIRST_TOKEN_DELAY", "0.2")
    monkeypatch.setenv("ULTRA_LLM_MOCK_DELAY", "0.15")  # the answer runs on well past the first-token limit
    started = time.monotonic()
    text = asyncio.run(answer(stream, timeout=60, first_token_timeout=0.4))
    assert text.split() == ["one", "two", "three"]
    assert time.monotonic() - started >= 0.45


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_slow_later_chunks_are_governed_by_the_total(monkeypatch: pytest.MonkeyPatch, stream: bool) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_DELAY", "0.5")  # the first chunk at once, then slow ones
    started = time.monotonic()
    with pytest.raises(GenerationTimeoutError) as caught:
        asyncio.run(answer(stream, timeout=0.8, first_token_timeout=0.2))
    elapsed = time.monotonic() - started
    assert 0.8 <= elapsed < 2, elapsed  # not cut at 0.2 s: the first token came
    assert caught.value.message == "Generation on backend 'mock' took longer than 0.8 s."
    assert caught.value.timeout == 0.8


def test_the_cli_stream_fails_in_the_first_token_time() -> None:
    env = {
        **os.environ,
        "ULTRA_LLM_BACKEND": "mock",
        "ULTRA_LLM_MOCK_FIRST_TOKEN_DELAY": "3",
        "ULTRA_LLM_FIRST_TOKEN_TIMEOUT": "0.3",
    }
    started = time.monotonic()
    done = subprocess.run(
        [SCRIPT, "generate", "--stream", "hello"], capture_output=True, text=True, timeout=60, env=env
    )
    elapsed = time.monotonic() - started
    assert done.returncode == GenerationTimeoutError.exit_code == 5, (done.returncode, done.stderr)
    assert done.stdout == ""
    assert done.stderr.splitlines()[-1].startswith(f"Error: {FIRST_TOKEN_ERROR}"), done.stderr
    assert elapsed < 2.8, elapsed  # the answer would have come at 3 s (plus the CLI's start)
