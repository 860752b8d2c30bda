"""A web client that disconnects mid-stream ends the ``docker model run`` process serving it: on the
docker-cli backend over the ``docker`` double, behind ``ultra-llm serve``, the process is gone."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from ultra_llm_docker.testing.double.fixtures import DockerDouble

from ultra_llm.testing.serve import wait_ready

httpx2 = pytest.importorskip("httpx2")

LONG_PROMPT = " ".join(f"word{i}" for i in range(100))


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def read_chunks(lines: Iterator[str], count: int) -> list[str]:
    """The next ``count`` chunk ``data:`` lines from ``lines`` (kept open: closing it would disconnect)."""
    texts: list[str] = []
    while len(texts) < count:
        line = next(lines)
        if line.startswith("data:") and '"text"' in line:
            texts.append(line)
    return texts


def process_state(pid: int) -> str:
    """The process's state letter from /proc (``Z`` for a zombie), or ``gone``."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(") ", 1)[1][:1]
    except (FileNotFoundError, ProcessLookupError):  # gone, or gone while being read
        return "gone"


def process_gone(pid: int) -> bool:
    return process_state(pid) in ("gone", "Z")


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to watch the docker process")
def test_disconnect_kills_the_docker_model_run_process(docker_double: DockerDouble, ultra_llm_serve: Any) -> None:
    docker_double.set(token_delay=0.2, answer=LONG_PROMPT)
    process, port = ultra_llm_serve(env={"ULTRA_LLM_BACKEND": "docker-cli"})
    url = f"http://127.0.0.1:{port}"
    assert wait_ready(process, f"{url}/api/backends").status_code == 200
    body = {"prompt": "tell me a long story", "model": "ai/smollm2", "stream": True}
    with (
        httpx2.Client(base_url=url, timeout=30) as client,
        client.stream("POST", "/api/generate", json=body) as response,
    ):
        assert response.status_code == 200, response.read()
        lines = response.iter_lines()
        assert len(read_chunks(lines, 2)) == 2
        runs = docker_double.invocations()
        assert len(runs) == 1
        pid = runs[0]["pid"]
        state = process_state(pid)
        assert state not in ("gone", "Z"), f"docker model run should still be streaming: {state} {runs}"
    assert wait_for(lambda: process_gone(pid), timeout=5), f"docker model run (pid {pid}) still runs"
