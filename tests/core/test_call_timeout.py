"""A per-call timeout: ``timeout=`` in Python (``generate``, ``complete``, ``stream``,
``stream_generate``, ``embed``) overrides the adapter's total for that call, ``None`` means no total,
and a bad value is an ``InvalidOptionsError`` naming it; ``ultra-llm generate --timeout SECONDS``
(exit 5 past it, exit 2 for a bad value)."""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from ultra_llm import create_adapter
from ultra_llm._adapter import Adapter
from ultra_llm._config import load_config
from ultra_llm._host import PluginHost
from ultra_llm.errors import GenerationTimeoutError, InvalidOptionsError
from ultra_llm.testing.serve import SCRIPT


def on_mock(call: Callable[[Adapter], Awaitable[Any]], **config: float) -> Any:
    async def run() -> Any:
        host = PluginHost(environ={"ULTRA_LLM_LOAD_PLUGINS": "mock"})
        adapter = await create_adapter("mock/echo", backend="mock", host=host, config=load_config(**config))
        async with adapter:
            return await call(adapter)

    return asyncio.run(run())


async def streamed(adapter: Adapter, **kwargs: Any) -> str:
    return "".join([piece async for piece in adapter.stream_generate("one two three", **kwargs)])


CALLS: dict[str, Callable[..., Awaitable[Any]]] = {
    "generate": lambda adapter, **kw: adapter.generate("one two three", **kw),
    "complete": lambda adapter, **kw: adapter.complete("one two three", **kw),
    "stream_generate": streamed,
    "built": lambda adapter, **kw: adapter.complete(adapter.build_request("one two three", {}), **kw),
}


@pytest.mark.parametrize("call", CALLS)
def test_a_call_timeout_shorter_than_the_adapters_cuts_the_call(monkeypatch: pytest.MonkeyPatch, call: str) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_DELAY", "0.5")  # the first chunk at once, the others slow
    started = time.monotonic()
    with pytest.raises(GenerationTimeoutError) as caught:
        on_mock(lambda adapter: CALLS[call](adapter, timeout=0.3), timeout=60)
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 1.5, elapsed
    error = caught.value
    assert error.message == "Generation on backend 'mock' took longer than 0.3 s." and error.timeout == 0.3
    assert "timeout=" in (error.fix or "") and "--timeout" in (error.fix or "")


@pytest.mark.parametrize("call", CALLS)
def test_a_call_timeout_longer_than_the_adapters_lets_it_finish(monkeypatch: pytest.MonkeyPatch, call: str) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_DELAY", "0.25")
    answer = on_mock(lambda adapter: CALLS[call](adapter, timeout=10), timeout=0.3)
    text = answer if isinstance(answer, str) else answer.text
    assert text.split() == ["one", "two", "three"]


@pytest.mark.parametrize("call", CALLS)
def test_timeout_none_means_no_total(monkeypatch: pytest.MonkeyPatch, call: str) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_DELAY", "0.25")
    answer = on_mock(lambda adapter: CALLS[call](adapter, timeout=None), timeout=0.3)
    text = answer if isinstance(answer, str) else answer.text
    assert text.split() == ["one", "two", "three"]


def test_without_a_call_timeout_the_adapters_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_DELAY", "0.25")
    with pytest.raises(GenerationTimeoutError) as caught:
        on_mock(lambda adapter: adapter.generate("one two three"), timeout=0.3)
    assert caught.value.message == "Generation on backend 'mock' took longer than 0.3 s."
    assert "ULTRA_LLM_TIMEOUT" in (caught.value.fix or "")


def test_timeout_none_keeps_the_first_token_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_FIRST_TOKEN_DELAY", "3")
    with pytest.raises(GenerationTimeoutError) as caught:
        on_mock(lambda adapter: streamed(adapter, timeout=None), first_token_timeout=0.3)
    assert caught.value.message == (
        "No answer from backend 'mock' within the 0.3 s first-token timeout (ULTRA_LLM_FIRST_TOKEN_TIMEOUT)."
    )


def test_a_call_timeout_capping_the_first_token_limit_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_FIRST_TOKEN_DELAY", "3")
    with pytest.raises(GenerationTimeoutError) as caught:
        on_mock(lambda adapter: streamed(adapter, timeout=0.3), first_token_timeout=60)
    assert caught.value.message == (
        "No answer from backend 'mock' within the 0.3 s first-token timeout "
        "(the call's timeout, which caps ULTRA_LLM_FIRST_TOKEN_TIMEOUT)."
    )


@pytest.mark.parametrize("bad", [0, -1, "5", True, math.nan, math.inf, [1]], ids=repr)
@pytest.mark.parametrize("call", [*CALLS, "stream", "embed"])
def test_a_bad_timeout_is_refused_naming_it(call: str, bad: object) -> None:
    calls = {
        **CALLS,
        "stream": lambda adapter, **kw: adapter.stream("x", **kw).__anext__(),
        "embed": lambda adapter, **kw: adapter.embed("x", **kw),
    }
    with pytest.raises(InvalidOptionsError) as caught:
        on_mock(lambda adapter: calls[call](adapter, timeout=bad))
    assert caught.value.message.startswith(f"timeout={bad!r} is not a timeout"), caught.value.message
    assert caught.value.exit_code == 2


def test_embed_takes_a_timeout() -> None:
    result = on_mock(lambda adapter: adapter.embed(["a", "b"], timeout=5))
    assert len(result.vectors) == 2
    assert len(on_mock(lambda adapter: adapter.embed("a", timeout=None)).vectors) == 1


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "ULTRA_LLM_BACKEND": "mock", **env}
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60, env=environ)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_the_cli_timeout_cuts_the_call(stream: bool) -> None:
    args = ["generate", *(["--stream"] if stream else []), "--timeout", "0.3", "-m", "mock/echo", "one two three"]
    done = run_cli(*args, ULTRA_LLM_MOCK_DELAY="0.5")
    assert done.returncode == 5, done
    assert done.stderr.splitlines()[-1].startswith("Error: Generation on backend 'mock' took longer than 0.3 s.")


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_the_cli_timeout_overrides_ultra_llm_timeout(stream: bool) -> None:
    args = ["generate", *(["--stream"] if stream else []), "--timeout", "10", "-m", "mock/echo", "one two three"]
    done = run_cli(*args, ULTRA_LLM_MOCK_DELAY="0.25", ULTRA_LLM_TIMEOUT="0.3")
    assert done.returncode == 0, done
    assert done.stdout.split() == ["one", "two", "three"]


@pytest.mark.parametrize(("value", "named"), [("-1", "timeout=-1.0"), ("0", "timeout=0.0"), ("nan", "timeout=nan")])
def test_a_bad_cli_timeout_is_exit_2_naming_it(value: str, named: str) -> None:
    done = run_cli("generate", "--timeout", value, "hello")
    assert done.returncode == 2, done
    assert named in done.stderr and "Traceback" not in done.stderr


def test_a_cli_timeout_that_is_no_number_is_exit_2_naming_it() -> None:
    done = run_cli("generate", "--timeout", "soon", "hello")
    assert done.returncode == 2 and "'soon'" in done.stderr, done


def test_the_cli_timeout_is_not_a_backend_option() -> None:
    done = run_cli("generate", "-o", "timeout=5", "hello")
    assert done.returncode == 2 and "--timeout SECONDS" in done.stderr, done
