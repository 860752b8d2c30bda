"""Model fallback chains (issue 32) through the CLI and the web API, on the docker-api backend and
runner doubles (``runner_with_memory``: the runner's routes before a canned engine, on 127.0.0.1).

Each trigger as a server gives it: a model no runner has (404 ``model not found``), its only runner
down (connection refused), its runner answering 429 after the retries, and llama-server's 400
``exceed_context_size_error`` (relayed by the runner unchanged), with the next model chosen by the
context windows the runner's ``GET /models`` gives.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from ultra_llm_docker.testing.engine.memory_runner import MemoryRunner

from ultra_llm._cli.app import build_cli
from ultra_llm.testing.serve import wait_ready

httpx2 = pytest.importorskip("httpx2")

REPLY = "Hello from the canned"
"""The canned engine's reply cut at 4 tokens (one per word)."""
ALPHA, BETA, GAMMA = "ai/alpha:latest", "ai/beta:latest", "ai/gamma:latest"


def use(monkeypatch: pytest.MonkeyPatch, *runners: MemoryRunner, **extra: str) -> None:
    env = {
        "ULTRA_LLM_BACKEND": "docker-api",
        "ULTRA_LLM_FALLBACK": "none",
        "MODEL_RUNNER_URL": ",".join(r.url for r in runners),
        "ULTRA_LLM_DOCKER_API_RETRY_WAIT_INITIAL": "0.01",
        **extra,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def generate(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_cli(), ["generate", "-o", "max_tokens=4", *args, "hi"])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_a_model_no_runner_has(
    make_memory_runner: Callable[..., MemoryRunner], monkeypatch: pytest.MonkeyPatch
) -> None:
    a = make_memory_runner(("ai/alpha",), slots=2)
    b = make_memory_runner(("ai/beta",), slots=2)
    use(monkeypatch, a, b)
    code, out, err = generate("-m", "gamma", "--fallback-model", "beta")
    assert (code, out) == (0, REPLY + "\n"), err
    assert f"[{BETA} answered: {GAMMA} was not found]" in err
    code, out, err = generate("-m", "gamma", "--fallback-model", "beta", "--stream")
    assert (code, out) == (0, REPLY + "\n") and f"[{BETA} answered" in err
    code, out, _ = generate("-m", "gamma", "--fallback-model", "beta", "--json")
    result = json.loads(out)
    assert result["model"] == BETA and result["text"] == REPLY
    assert result["fallback"]["requested"] == GAMMA and result["fallback"]["reason"] == "not_found"
    code, out, err = generate("-m", "gamma")  # no chain: the answer is the error, as before
    assert code == 4 and out == "" and "gamma" in err


def test_a_model_whose_runners_are_down(
    make_memory_runner: Callable[..., MemoryRunner], monkeypatch: pytest.MonkeyPatch
) -> None:
    a = make_memory_runner(("ai/alpha",), slots=2)
    b = make_memory_runner(("ai/beta",), slots=2)
    a.proxy.stop()  # alpha's only runner: nothing listens there now
    use(monkeypatch, a, b, ULTRA_LLM_DOCKER_API_RETRIES="2", ULTRA_LLM_MODEL_FALLBACKS="alpha=beta")
    code, out, err = generate("-m", "alpha", "--json")
    assert code == 0, err
    assert json.loads(out)["fallback"]["reason"] == "unavailable" and json.loads(out)["model"] == BETA


def test_a_model_whose_runner_is_overloaded(
    make_memory_runner: Callable[..., MemoryRunner], monkeypatch: pytest.MonkeyPatch
) -> None:
    a = make_memory_runner(("ai/alpha",), slots=2)
    b = make_memory_runner(("ai/beta",), slots=2)
    a.proxy.inject(429, "too many requests", times=2)
    use(monkeypatch, a, b, ULTRA_LLM_DOCKER_API_RETRIES="2")
    code, out, err = generate("-m", "alpha", "--fallback-model", "beta")
    assert (code, out) == (0, REPLY + "\n"), err
    assert f"[{BETA} answered: {ALPHA} is overloaded]" in err
    posts = [path for method, path in a.proxy.requests if method == "POST"]
    assert len(posts) == 2  # both attempts the backend makes, then the chain moved on


def test_a_prompt_past_the_context_goes_to_a_larger_window(
    make_memory_runner: Callable[..., MemoryRunner], monkeypatch: pytest.MonkeyPatch
) -> None:
    a = make_memory_runner(("ai/alpha",), slots=3)
    for name, window in (("ai/small", 1024), ("ai/big", 8192)):
        a.proxy.add_local(name, config={"format": "gguf", "size": "1.00 MiB", "context_size": window})
    too_long = {  # llama-server's answer (server-common.cpp, exceed_context_size_error), relayed by the runner
        "error": {
            "code": 400,
            "message": "request (3000 tokens) exceeds the available context size (2048 tokens), try increasing it",
            "type": "exceed_context_size_error",
            "n_prompt_tokens": 3000,
            "n_ctx": 2048,
        }
    }
    a.proxy.inject(400, json.dumps(too_long))
    use(monkeypatch, a)
    code, out, err = generate("-m", "alpha", "--fallback-model", "small", "--fallback-model", "big", "--json")
    assert code == 0, err
    fallback = json.loads(out)["fallback"]
    assert fallback["model"] == "ai/big:latest" and fallback["reason"] == "context_length"
    assert fallback["passed"] == [ALPHA, "ai/small:latest"]  # small (1024 tokens) was never asked
    assert [p for m, p in a.proxy.requests if m == "POST"] == ["/engines/v1/chat/completions"] * 2


def test_the_web_api_takes_a_chain_and_says_what_answered(
    make_memory_runner: Callable[..., MemoryRunner], ultra_llm_serve: Any
) -> None:
    a = make_memory_runner(("ai/alpha",), slots=2)
    env = {"ULTRA_LLM_BACKEND": "docker-api", "ULTRA_LLM_FALLBACK": "none", "MODEL_RUNNER_URL": a.url}
    process, port = ultra_llm_serve(env=env)
    api = f"http://127.0.0.1:{port}/api"
    wait_ready(process, f"{api}/backends")
    body = {"prompt": "hi", "model": "gamma", "fallback_models": ["alpha"], "options": {"max_tokens": 4}}
    whole = httpx2.post(f"{api}/generate", json=body, timeout=30).json()
    assert whole["model"] == ALPHA and whole["fallback"]["requested"] == GAMMA, whole
    with httpx2.stream("POST", f"{api}/generate", json={**body, "stream": True}, timeout=30) as response:
        frames = response.read().decode()
    done = json.loads(frames.split("event: done\ndata: ", 1)[1].split("\n", 1)[0])
    # the server keeps its adapter: gamma, which just failed, cools down and is passed over unasked
    assert done["model"] == ALPHA and done["fallback"]["reason"] == "cooling_down"
    refused = httpx2.post(f"{api}/generate", json={**body, "fallback_models": "alpha"}, timeout=30)
    assert refused.status_code == 422
