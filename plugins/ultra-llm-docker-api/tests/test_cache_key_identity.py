"""The cache (the real ``ultra-llm-cache`` plugin, SQLite and memory) keys a docker-api answer by
everything that decides where the request went and as whom: the runner, its API path (the engine
of ``ULTRA_LLM_DOCKER_API_ENGINE``, ``ULTRA_LLM_DOCKER_API_PATH``), the user of the URL and the API
key. So a vLLM question is never answered from llama.cpp's cache, nor one user's from another's;
the same question the same way is a hit. The credentials reach the key only as a digest."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from ultra_llm_cache import runtime

from ultra_llm import create_adapter
from ultra_llm._host import PluginHost
from ultra_llm.testing.scripted_server import ScriptedServer, SeenRequest, send_json, send_text
from ultra_llm.testing.serve import SCRIPT

SECRET = "pa55-w0rd-in-url"
QUESTION = "What is the answer?"


def who(authorization: str | None) -> str:
    """The caller a request says it is: the Basic user, the Bearer key, or ``anonymous``."""
    if authorization is None:
        return "anonymous"
    scheme, _, value = authorization.partition(" ")
    return base64.b64decode(value).decode().partition(":")[0] if scheme == "Basic" else value


async def answer_with_route(request: SeenRequest, writer: asyncio.StreamWriter) -> None:
    """A runner whose every answer names the route it came through and the caller."""
    if request.path.endswith("/chat/completions"):
        content = f"{request.path} for {who(request.headers.get('authorization'))}"
        message = {"role": "assistant", "content": content}
        body = {"model": "ai/tiny", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
        await send_json(writer, 200, body)
    elif request.path.endswith("/models"):
        await send_json(writer, 200, {"object": "list", "data": [{"id": "ai/tiny"}]})
    else:
        await send_text(writer, 200, "Docker Model Runner is running")


@pytest.fixture
def runners() -> Iterator[tuple[ScriptedServer, ScriptedServer]]:
    with ScriptedServer(answer_with_route) as one, ScriptedServer(answer_with_route) as two:
        yield one, two


def variants(one: ScriptedServer, two: ScriptedServer) -> dict[str, dict[str, str]]:
    """Settings (as variables) that each send the question somewhere else, or as someone else."""
    as_user = one.url.replace("http://", "http://{user}:" + SECRET + "@")
    return {
        "runner one": {"MODEL_RUNNER_URL": one.url},
        "runner two": {"MODEL_RUNNER_URL": two.url},
        "vllm engine": {"MODEL_RUNNER_URL": one.url, "ULTRA_LLM_DOCKER_API_ENGINE": "vllm"},
        "/v1 path": {"MODEL_RUNNER_URL": one.url, "ULTRA_LLM_DOCKER_API_PATH": "/v1"},
        "alice": {"MODEL_RUNNER_URL": as_user.format(user="alice")},
        "bob": {"MODEL_RUNNER_URL": as_user.format(user="bob")},
        "key a": {"MODEL_RUNNER_URL": one.url, "ULTRA_LLM_DOCKER_API_KEY": "key-a"},
        "key b": {"MODEL_RUNNER_URL": one.url, "ULTRA_LLM_DOCKER_API_KEY": "key-b"},
    }


EXPECTED = {
    "runner one": "/engines/v1/chat/completions for anonymous",
    "runner two": "/engines/v1/chat/completions for anonymous",
    "vllm engine": "/engines/vllm/v1/chat/completions for anonymous",
    "/v1 path": "/v1/chat/completions for anonymous",
    "alice": "/engines/v1/chat/completions for alice",
    "bob": "/engines/v1/chat/completions for bob",
    "key a": "/engines/v1/chat/completions for key-a",
    "key b": "/engines/v1/chat/completions for key-b",
}


def generate(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ULTRA_LLM_", "MODEL_RUNNER_"))}
    return subprocess.run(
        [SCRIPT, "generate", "-b", "docker-api", "-m", "ai/tiny", "-o", "temperature=0", QUESTION],
        env={**base, "ULTRA_LLM_FALLBACK": "none", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def chats(*servers: ScriptedServer) -> int:
    return sum(r.path.endswith("/chat/completions") for s in servers for r in s.requests)


def test_sqlite_answers_only_the_same_route_and_caller(
    tmp_path: Path, runners: tuple[ScriptedServer, ScriptedServer]
) -> None:
    cache = {"ULTRA_LLM_CACHE": "sqlite", "ULTRA_LLM_CACHE_PATH": str(tmp_path / "cache.sqlite3")}
    for name, env in variants(*runners).items():
        done = generate({**cache, **env})
        assert done.returncode == 0 and done.stdout.strip() == EXPECTED[name], (name, done.stdout, done.stderr)
    assert chats(*runners) == len(EXPECTED)  # no variant was answered from another's entry
    again = generate({**cache, **variants(*runners)["bob"]})
    assert again.stdout.strip() == EXPECTED["bob"] and chats(*runners) == len(EXPECTED)  # a hit
    assert SECRET.encode() not in (tmp_path / "cache.sqlite3").read_bytes()


def test_memory_answers_only_the_same_route_and_caller(
    monkeypatch: pytest.MonkeyPatch, runners: tuple[ScriptedServer, ScriptedServer]
) -> None:
    for variable in [v for v in os.environ if v.startswith(("ULTRA_LLM_", "MODEL_RUNNER_"))]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("ULTRA_LLM_CACHE", "memory")
    runtime.reset()

    async def ask(env: dict[str, str]) -> tuple[str, str | None]:
        with monkeypatch.context() as scoped:
            for variable, value in env.items():
                scoped.setenv(variable, value)
            async with await create_adapter("ai/tiny", backend="docker-api", host=PluginHost()) as adapter:
                served = adapter.backend.served_from()
                return await adapter.generate(QUESTION, temperature=0), served

    try:
        answers = {name: asyncio.run(ask(env)) for name, env in variants(*runners).items()}
        assert {name: text for name, (text, _) in answers.items()} == EXPECTED
        assert chats(*runners) == len(EXPECTED)
        assert asyncio.run(ask(variants(*runners)["alice"]))[0] == EXPECTED["alice"]
        assert chats(*runners) == len(EXPECTED)  # a hit
        assert runtime.stats()["process"]["hits"] == 1
    finally:
        runtime.reset()
    assert all(served is not None and SECRET not in served for _, served in answers.values())


def test_docker_api_answers_are_keyed_by_the_runner_that_gave_them(tmp_path: Path) -> None:
    """Two real loopback servers answer the same request differently; each keeps its own answer
    (through ``ultra-llm generate``, a process of its own, with the SQLite cache)."""

    def answering(text: str) -> object:
        async def handler(request: SeenRequest, writer: asyncio.StreamWriter) -> None:
            if request.method == "GET":
                await send_json(writer, 200, {"object": "list", "data": [{"id": "ai/tiny"}]})
                return
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            await send_json(writer, 200, {"model": "ai/tiny", "choices": [choice]})

        return handler

    def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **env})

    env = {"ULTRA_LLM_CACHE": "sqlite", "ULTRA_LLM_CACHE_PATH": str(tmp_path / "cache.sqlite3")}
    args = ("generate", "-b", "docker-api", "-m", "ai/tiny", "-o", "temperature=0", "hello")
    with ScriptedServer(answering("from one")) as one, ScriptedServer(answering("from two")) as two:  # type: ignore[arg-type]
        first = run(*args, env={**env, "MODEL_RUNNER_URL": f"{one.url}/v1"})
        second = run(*args, env={**env, "MODEL_RUNNER_URL": f"{two.url}/v1"})
        again = run(*args, env={**env, "MODEL_RUNNER_URL": f"{one.url}/v1"})
    assert (first.stdout, second.stdout, again.stdout) == ("from one\n", "from two\n", "from one\n"), second.stderr
    assert len([r for r in one.requests if r.method == "POST"]) == 1, "the repeat was served from the cache"
