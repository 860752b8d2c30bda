"""One odd entry in a runner's listing is left out with a warning naming it and why; the rest of
the listing shows. Through ``ultra-llm models`` and ``ultra-llm ps`` (real processes) and ``GET
/api/models`` of ``ultra-llm serve``, against a scripted loopback runner: a tag that is not a model
name, and ``keep_alive`` values no Go duration holds (too large for a float, past Go's ~292 years)."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from ultra_llm.testing.scripted_server import ScriptedServer, SeenRequest, send_json, send_text
from ultra_llm.testing.serve import SCRIPT, wait_ready

BAD_TAG = "Some/UPPER Case:latest"
HUGE = "9" * 400 + "h"
"""A keep_alive whose number overflows a float."""
GO_MAX = "2562047h"
"""The longest whole-hour Go duration (int64 nanoseconds): shown."""
PAST_GO_MAX = "2562048h"
"""One hour more: ``time.ParseDuration`` refuses it, so no runner sends it."""

MODELS = [
    {"id": "sha256:" + "a" * 64, "tags": ["ai/good:latest"], "config": {}},
    {"id": "sha256:" + "b" * 64, "tags": [BAD_TAG], "config": {}},
    {"id": "sha256:" + "c" * 64, "tags": ["ai/also-good:latest"], "config": {}},
]
RUNNING = [
    {"backend_name": "llama.cpp", "model_name": "ai/huge", "mode": "completion", "keep_alive": HUGE},
    {"backend_name": "llama.cpp", "model_name": "ai/good", "mode": "completion", "keep_alive": "5m"},
    "not an object",
    {"backend_name": "llama.cpp", "model_name": "ai/past", "mode": "completion", "keep_alive": PAST_GO_MAX},
    {"backend_name": "llama.cpp", "model_name": "ai/longest", "mode": "completion", "keep_alive": GO_MAX},
]


async def runner(request: SeenRequest, writer: asyncio.StreamWriter) -> None:
    if request.path == "/models":
        await send_json(writer, 200, MODELS)
    elif request.path == "/engines/ps":
        await send_json(writer, 200, RUNNING)
    else:
        await send_text(writer, 200, "Docker Model Runner is running")


@pytest.fixture
def env() -> Iterator[dict[str, str]]:
    with ScriptedServer(runner) as server:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("ULTRA_LLM_", "MODEL_RUNNER_"))}
        yield {**base, "MODEL_RUNNER_URL": server.url, "ULTRA_LLM_BACKEND": "docker-api", "ULTRA_LLM_FALLBACK": "none"}


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_models_leaves_out_a_tag_that_is_not_a_model_name(env: dict[str, str]) -> None:
    done = cli("models", env=env)
    assert done.returncode == 0, done.stderr
    assert "ai/good" in done.stdout and "ai/also-good" in done.stdout and "UPPER" not in done.stdout
    warnings = [line for line in done.stderr.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == 1 and repr(BAD_TAG) in warnings[0] and "not a valid model name" in warnings[0]
    assert "Traceback" not in done.stderr and "upgrade" not in done.stderr.lower()


def test_ps_leaves_out_entries_whose_keep_alive_no_go_duration_holds(env: dict[str, str]) -> None:
    done = cli("ps", env=env)
    assert done.returncode == 0, done.stderr
    assert "ai/good" in done.stdout and "5 minutes from now" in done.stdout
    assert "ai/longest" in done.stdout and "292 years from now" in done.stdout
    assert "ai/huge" not in done.stdout and "ai/past" not in done.stdout
    warnings = [line for line in done.stderr.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == 3, done.stderr
    assert "'ai/huge'" in warnings[0] and "not a Go duration" in warnings[0]
    assert "'not an object'" in warnings[1] and "'ai/past'" in warnings[2]
    assert "Traceback" not in done.stderr and "OverflowError" not in done.stderr


def test_the_web_api_lists_the_good_models(ultra_llm_serve: Any, env: dict[str, str]) -> None:
    process, port = ultra_llm_serve(env=env)
    response = wait_ready(process, f"http://127.0.0.1:{port}/api/models")
    assert response.status_code == 200, response.text
    names = [model["name"] for model in response.json()["models"]]
    assert names == ["ai/good:latest", "ai/also-good:latest"]
