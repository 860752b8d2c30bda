"""Routing by which runner has, and has loaded, a model (issue 31), on two runner doubles with memory.

Each runner is ``runner_with_memory`` (``ultra_llm_docker.testing.engine.memory_runner``): the
runner's routes in front of a canned engine, with its loader's memory (``slots`` resident models,
every idle one evicted when a load needs a slot) and counters (``loads``, ``load_counts``). The
backend is given both URLs (``MODEL_RUNNER_URL=a,b``). Requests go through one adapter, the CLI
in-process, and separate ``ultra-llm`` processes. Every runner a test starts is stopped by the fixture.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from ultra_llm_docker.testing.engine.fixtures import RealEngine, RouterEngine
from ultra_llm_docker.testing.engine.memory_runner import MemoryRunner

from ultra_llm._cli.app import build_cli
from ultra_llm.errors import ModelNotFoundError
from ultra_llm.testing.adapters import adapter_over
from ultra_llm.testing.clock import FakeClock
from ultra_llm.testing.serve import wait_ready

httpx2 = pytest.importorskip("httpx2")

ALPHA, BETA = "ai/alpha:latest", "ai/beta:latest"
FAST = {"max_tokens": 4}
REPLY = "Hello from the canned"
"""The canned engine's reply cut at 4 tokens (one per word)."""


def inference(runner: MemoryRunner) -> list[str]:
    """The models (as sent) of the chat requests ``runner`` answered, in order."""
    return [path for method, path in runner.proxy.requests if method == "POST" and path.endswith("/chat/completions")]


def env_for(*runners: MemoryRunner) -> dict[str, str]:
    return {
        "ULTRA_LLM_BACKEND": "docker-api",
        "ULTRA_LLM_FALLBACK": "none",
        "MODEL_RUNNER_URL": ",".join(r.url for r in runners),
    }


def invoke(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(build_cli(), list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def loaded_idle(runner: MemoryRunner, model: str) -> None:
    """Load ``model`` on ``runner`` as another client's finished request would, and leave it idle."""
    runner.proxy.hold(model)
    runner.proxy.hold(model, busy=False)


async def ask(backend: Any, models: list[str], **options: Any) -> list[str]:
    async with adapter_over(backend) as adapter:
        return [await adapter.generate("hi", model=model, **FAST, **options) for model in models]


def test_two_runners_with_different_models_answer_every_request_from_one_adapter(
    make_memory_runner: Callable[..., MemoryRunner], make_backend: Callable[..., Any]
) -> None:
    a = make_memory_runner(("ai/alpha",), slots=2)
    b = make_memory_runner(("ai/beta",), slots=2)
    backend = make_backend(f"{a.url},{b.url}", health_interval=0)
    answers = asyncio.run(ask(backend, ["beta"] * 6 + ["alpha"] * 6))
    assert answers == [REPLY] * 12
    assert a.proxy.load_counts == {ALPHA: 1} and b.proxy.load_counts == {BETA: 1}
    assert len(inference(a)) == 6 and len(inference(b)) == 6  # no "not found", no request for nothing
    state = {s["url"]: s for s in backend.endpoint_states()}
    assert state[a.url]["models"] == [ALPHA] and state[b.url]["models"] == [BETA]
    assert state[a.url]["loaded"] == [ALPHA] and state[b.url]["loaded"] == [BETA]


def test_two_runners_with_different_models_answer_separate_processes(
    make_memory_runner: Callable[..., MemoryRunner],
) -> None:
    a = make_memory_runner(("ai/alpha",), slots=2)
    b = make_memory_runner(("ai/beta",), slots=2)
    env = {**os.environ, **env_for(a, b)}
    command = [str(Path(sys.executable).with_name("ultra-llm")), "generate", "-m", "beta", "-o", "max_tokens=4", "hi"]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)
    ]
    try:
        outcomes = [(*process.communicate(timeout=120), process.returncode) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert [(out, code) for out, _, code in outcomes] == [(REPLY + "\n", 0)] * 6, outcomes
    assert not inference(a) and len(inference(b)) == 6


def test_requests_go_to_the_runner_where_the_model_is_loaded_and_load_nothing_new(
    make_memory_runner: Callable[..., MemoryRunner], make_backend: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both runners have both models and hold one at a time: alpha is loaded on one, beta on the
    other. Alternating requests, from one adapter and from the CLI, load nothing."""
    a = make_memory_runner(("ai/alpha", "ai/beta"), slots=1)
    b = make_memory_runner(("ai/alpha", "ai/beta"), slots=1)
    loaded_idle(a, ALPHA)
    loaded_idle(b, BETA)
    backend = make_backend(f"{a.url},{b.url}", health_interval=0)
    asyncio.run(ask(backend, ["alpha", "beta"] * 4))
    for model in ("alpha", "beta"):
        code, out, err = invoke(monkeypatch, env_for(a, b), "generate", "-m", model, "-o", "max_tokens=4", "hi")
        assert (code, out) == (0, REPLY + "\n"), err
    assert a.proxy.load_counts == {ALPHA: 1} and b.proxy.load_counts == {BETA: 1}  # the two loads made above
    assert a.proxy.evictions == b.proxy.evictions == 0
    assert len(inference(a)) == len(inference(b)) == 5


def test_the_naive_spread_pays_a_load_at_every_switch(make_memory_runner: Callable[..., MemoryRunner]) -> None:
    """The cost routing saves, measured on the same doubles: one runner given both URLs' work in turn
    loads at every switch of model (what ties taken in turn did before)."""
    a = make_memory_runner(("ai/alpha", "ai/beta"), slots=1)
    loaded_idle(a, ALPHA)

    async def alternate() -> None:
        from ultra_llm_docker_api.backend import DockerAPIBackend
        from ultra_llm_docker_api.settings import DockerAPISettings

        from ultra_llm._config import load_config

        backend = DockerAPIBackend(load_config(), settings=DockerAPISettings.load(url=a.url))
        await ask(backend, ["alpha", "beta"] * 2)

    asyncio.run(alternate())
    assert a.proxy.load_counts == {ALPHA: 2, BETA: 2} and a.proxy.evictions == 3


def test_a_runner_without_the_model_is_not_the_answer_while_another_has_it(
    make_memory_runner: Callable[..., MemoryRunner], make_backend: Callable[..., Any]
) -> None:
    """The pool last read beta on both runners; then one lost it. Its 404 sends the request to the other."""
    a = make_memory_runner(("ai/alpha", "ai/beta"), slots=2)
    b = make_memory_runner(("ai/beta",), slots=2)
    loaded_idle(a, BETA)  # a is the better choice as the pool reads it
    backend = make_backend(f"{a.url},{b.url}", health_interval=0, models_refresh=3600)

    async def run() -> list[str]:
        async with adapter_over(backend) as adapter:
            await adapter.list_models()
            await backend.pool.know_models()
            assert backend.pool.members[0].rank(BETA) == 0
            with a.proxy._lock:
                a.proxy.local.pop(BETA)
            return [await adapter.generate("hi", model="beta", **FAST) for _ in range(3)]

    assert len(asyncio.run(run())) == 3
    assert len(inference(a)) == 1 and len(inference(b)) == 3  # a answered 404 once, then was read afresh


def test_no_runner_with_the_model_is_model_not_found_after_one_try_each(
    make_memory_runner: Callable[..., MemoryRunner], make_backend: Callable[..., Any]
) -> None:
    a = make_memory_runner(("ai/alpha",), slots=1)
    b = make_memory_runner(("ai/beta",), slots=1)
    backend = make_backend(f"{a.url},{b.url}", health_interval=0)
    with pytest.raises(ModelNotFoundError, match="gamma"):
        asyncio.run(ask(backend, ["gamma"]))
    assert len(inference(a)) + len(inference(b)) == 1  # both maps said no: one runner asked, for its 404


def test_a_conversation_stays_on_its_runner_from_python_the_cli_and_the_web_api(
    make_memory_runner: Callable[..., MemoryRunner],
    make_backend: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    ultra_llm_serve: Any,
) -> None:
    """One conversation id reaches one runner from every adapter and process (the pool hashes it, it
    remembers nothing); without an id requests take turns."""
    a = make_memory_runner(("ai/alpha",), slots=1)
    b = make_memory_runner(("ai/alpha",), slots=1)
    loaded_idle(a, ALPHA)
    loaded_idle(b, ALPHA)
    runners = (a, b)

    def counts() -> list[int]:
        return [len(inference(r)) for r in runners]

    asyncio.run(ask(make_backend(f"{a.url},{b.url}", health_interval=0), ["alpha"] * 3, conversation="thread-1"))
    home = counts().index(3)
    assert counts()[1 - home] == 0
    for _ in range(2):  # each invocation is a new adapter, as a new process would be
        code, out, err = invoke(
            monkeypatch,
            env_for(a, b),
            "generate",
            "-m",
            "alpha",
            "--conversation",
            "thread-1",
            "-o",
            "max_tokens=4",
            "x",
        )
        assert (code, out) == (0, REPLY + "\n"), err
    assert counts()[home] == 5 and counts()[1 - home] == 0
    process, port = ultra_llm_serve(env=env_for(a, b))
    api = f"http://127.0.0.1:{port}/api"
    wait_ready(process, f"{api}/backends")
    for _ in range(2):
        body = {"prompt": "x", "model": "alpha", "conversation": "thread-1", "options": FAST}
        assert httpx2.post(f"{api}/generate", json=body, timeout=30).json()["text"] == REPLY
    assert counts()[home] == 7 and counts()[1 - home] == 0
    before = counts()
    asyncio.run(ask(make_backend(f"{a.url},{b.url}", health_interval=0), ["alpha"] * 4))
    assert [after - was for after, was in zip(counts(), before, strict=True)] == [2, 2]  # without an id: in turn


def test_the_maps_are_read_once_per_refresh_interval_and_never_with_one_runner(
    make_memory_runner: Callable[..., MemoryRunner], make_backend: Callable[..., Any]
) -> None:
    a = make_memory_runner(("ai/alpha",), slots=1)
    b = make_memory_runner(("ai/alpha",), slots=1)
    loaded_idle(a, ALPHA)
    loaded_idle(b, ALPHA)
    clock = FakeClock()
    backend = make_backend(f"{a.url},{b.url}", health_interval=0, models_refresh=5, clock=clock)

    def reads(runner: MemoryRunner) -> int:
        return sum(1 for method, path in runner.proxy.requests if (method, path) == ("GET", "/models"))

    async def run() -> None:
        async with adapter_over(backend) as adapter:
            for _ in range(4):
                await adapter.generate("hi", model="alpha", **FAST)
            assert reads(a) == reads(b) == 1
            clock.advance(5)
            await adapter.generate("hi", model="alpha", **FAST)
            assert reads(a) == reads(b) == 2

    asyncio.run(run())
    single = make_backend(a.url)
    asyncio.run(ask(single, ["alpha"] * 2))
    assert reads(a) == 2  # one URL: nothing to choose between, nothing read


def test_ps_and_df_show_each_runner(
    make_memory_runner: Callable[..., MemoryRunner], monkeypatch: pytest.MonkeyPatch
) -> None:
    a = make_memory_runner(("ai/alpha",), slots=1)
    b = make_memory_runner(("ai/beta",), slots=1)
    loaded_idle(a, ALPHA)
    loaded_idle(b, BETA)
    env = env_for(a, b)
    code, out, err = invoke(monkeypatch, env, "ps")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["RUNNER", "MODEL"]
    assert sorted(line.split()[:2] for line in lines[1:]) == sorted([[a.url, ALPHA], [b.url, BETA]])
    code, out, _ = invoke(monkeypatch, env, "ps", "--json")
    assert sorted((row["runner"], row["name"]) for row in json.loads(out)) == sorted([(a.url, ALPHA), (b.url, BETA)])
    code, out, err = invoke(monkeypatch, env, "df", "--json")
    usage = json.loads(out)
    assert [part["runner"] for part in usage["runners"]] == [a.url, b.url]
    assert usage["models_bytes"] == sum(part["models_bytes"] for part in usage["runners"])
    code, out, _ = invoke(monkeypatch, env, "df")
    assert out.splitlines()[0].split() == ["RUNNER", "TYPE", "SIZE"] and out.count(a.url) == 2


def test_lifecycle_calls_reach_the_runners_that_have_the_model_or_those_named(
    make_memory_runner: Callable[..., MemoryRunner], monkeypatch: pytest.MonkeyPatch
) -> None:
    a = make_memory_runner(("ai/alpha", "ai/beta"), slots=2)
    b = make_memory_runner(("ai/beta",), slots=2)
    env = env_for(a, b)
    code, out, err = invoke(monkeypatch, env, "preload", "alpha")  # only a has it: b is no error
    assert (code, out) == (0, f"Loaded {ALPHA}.\n"), err
    assert a.proxy.load_counts == {ALPHA: 1} and not b.proxy.load_counts
    code, out, err = invoke(monkeypatch, env, "preload", "beta", "--runner", b.url + "/")
    assert code == 0, err
    assert BETA not in a.proxy.load_counts and b.proxy.load_counts == {BETA: 1}
    code, out, err = invoke(monkeypatch, env, "configure", "beta", "--keep-alive", "10m")
    assert code == 0, err
    assert a.proxy.configs[BETA] == b.proxy.configs[BETA] == {"keep_alive": "10m"}
    code, out, err = invoke(monkeypatch, env, "configure", "alpha", "--context-size", "1024")
    assert code == 0 and ALPHA not in b.proxy.configs and a.proxy.configs[ALPHA] == {"context-size": 1024}, err
    code, out, err = invoke(monkeypatch, env, "unload", "--all", "--runner", a.url, "--json")
    assert (code, json.loads(out)) == (0, {"unloaded": 2}) and b.proxy.loaded, err
    code, out, err = invoke(monkeypatch, env, "preload", "gamma")
    assert code != 0 and out == "" and "gamma" in err and "no runner has it" in err
    code, out, err = invoke(monkeypatch, env, "unload", "--all", "--runner", "http://127.0.0.1:9")
    assert code == 2 and "is not one of this backend's runners" in err and a.url in err


def test_runner_is_refused_by_a_backend_with_one_server(
    make_memory_runner: Callable[..., MemoryRunner], monkeypatch: pytest.MonkeyPatch
) -> None:
    a = make_memory_runner(("ai/alpha",), slots=1)
    code, out, err = invoke(monkeypatch, env_for(a), "preload", "alpha", "--runner", a.url)
    assert code == 0, err  # the one runner, named: acts on it
    code, out, err = invoke(monkeypatch, {"ULTRA_LLM_BACKEND": "mock"}, "pull", "mock-model", "--runner", a.url)
    assert code == 1 and "talks to one server" in err and out == ""


@pytest.mark.engine
def test_a_router_mode_llama_server_and_a_single_model_one_share_a_pool(
    router_engine: RouterEngine, real_engine: RealEngine, make_backend: Callable[..., Any]
) -> None:
    """Real engines: llama-server in router mode (``tiny-a``, ``tiny-b``, one loaded at a time) and a
    single-model llama-server (``ai/tiny``), given together in the ``/v1`` layout. Each model goes to
    the server that has it; the router's ``status`` tells the pool what it has loaded."""
    router_engine.unload_all()
    backend = make_backend(f"{router_engine.url},{real_engine.url}", health_interval=0)
    router, single = backend.pool.members

    async def run() -> None:
        async with adapter_over(backend) as adapter:
            for model in ("tiny-a", real_engine.model, "tiny-b", real_engine.model, "tiny-a"):
                result = await adapter.complete("hi", model=model, max_tokens=2, temperature=0)
                assert result.model == model
            await backend.pool.know_models()  # a load the pool caused: read again
            assert router.models == frozenset(router_engine.models) and router.loaded == frozenset({"tiny-a"})
            assert single.models is not None and real_engine.model in single.models and single.loaded is None
            with pytest.raises(ModelNotFoundError, match="nope"):
                await adapter.complete("hi", model="nope", max_tokens=2)

    asyncio.run(run())
    assert router_engine.statuses() == {"tiny-a": "loaded", "tiny-b": "unloaded"}  # --models-max 1: LRU
    states = {s["url"]: s for s in backend.endpoint_states()}
    assert states[router_engine.url]["successes"] == 3 and states[real_engine.url]["successes"] == 2
