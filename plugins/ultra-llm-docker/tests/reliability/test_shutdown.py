"""Cancellation and shutdown: closing an adapter, cancelling a task, Ctrl-C on the CLI mid-generation
leave no process running and print no traceback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from ultra_llm_docker.testing.double.fixtures import DockerDouble

from ultra_llm import create_adapter, create_adapter_sync
from ultra_llm._host import PluginHost
from ultra_llm.testing.scripted_server import ScriptedServer, SeenRequest, chunked, sse_head

CONSOLE_SCRIPT = Path(sys.executable).with_name("ultra-llm")


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def wait_gone(pids: list[int], within: float = 5.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if not any(alive(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


def test_closing_the_adapter_mid_stream_kills_the_cli_process(docker_double: DockerDouble, processes: Any) -> None:
    docker_double.set(token_delay=0.2)
    before = processes.child_pids()
    adapter = create_adapter_sync("smollm2", host=PluginHost(), backend="docker-cli")
    chunks = adapter.stream("alpha beta gamma delta epsilon zeta eta theta")
    first = next(chunks)
    assert first.text
    (call,) = docker_double.invocations()
    assert alive(call["pid"])
    adapter.close()
    assert wait_gone([call["pid"]]), "the docker process outlived the adapter"
    assert processes.child_pids() == before and processes.zombie_children() == []


def test_cancelling_a_task_mid_stream_kills_the_cli_process(docker_double: DockerDouble, processes: Any) -> None:
    docker_double.set(token_delay=0.2)
    before = processes.child_pids()
    got: list[str] = []

    async def main() -> None:
        async with await create_adapter("smollm2", host=PluginHost(), backend="docker-cli") as adapter:

            async def consume() -> None:
                async for text in adapter.stream_generate("one two three four five six seven"):
                    got.append(text)

            task = asyncio.create_task(consume())
            while not got:
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    (call,) = docker_double.invocations()
    assert got and not alive(call["pid"])
    assert processes.child_pids() == before and processes.zombie_children() == []


def test_cancelling_a_task_mid_stream_closes_the_http_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("httpx2")

    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        if req.path == "/":
            body = b"Docker Model Runner is running"
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
            await writer.drain()
            return
        writer.write(sse_head())
        for index in range(1000):
            writer.write(chunked(b'data: {"choices": [{"delta": {"content": "t%d "}}]}\n\n' % index))
            await writer.drain()
            await asyncio.sleep(0.05)

    got: list[str] = []

    async def main() -> None:
        async with await create_adapter("ai/tiny", host=PluginHost(), backend="docker-api") as adapter:

            async def consume() -> None:
                async for text in adapter.stream_generate("hi"):
                    got.append(text)

            task = asyncio.create_task(consume())
            while len(got) < 2:
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    with ScriptedServer(handler) as server:
        monkeypatch.setenv("MODEL_RUNNER_URL", server.url)
        asyncio.run(main())
        end = time.monotonic() + 5
        while server.disconnects == 0 and time.monotonic() < end:
            time.sleep(0.05)
    assert 2 <= len(got) < 100
    assert server.disconnects >= 1, "the server saw the connection close when the task was cancelled"


def start_cli_streaming(docker_double: DockerDouble, prompt: str) -> subprocess.Popen[bytes]:
    """``ultra-llm generate --stream PROMPT`` on the docker-cli backend, slow tokens from the double."""
    docker_double.set(token_delay=0.3)
    env = {**os.environ, "ULTRA_LLM_BACKEND": "docker-cli", "ULTRA_LLM_FALLBACK": "none"}
    return subprocess.Popen(
        [str(CONSOLE_SCRIPT), "generate", "--stream", prompt], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )


def test_ctrl_c_on_the_cli_mid_generation_leaves_no_process_and_no_traceback(docker_double: DockerDouble) -> None:
    process = start_cli_streaming(docker_double, "one two three four five six seven eight nine ten")
    try:
        assert process.stdout is not None
        first = process.stdout.read(1)  # the first token has been printed: generation is under way
        assert first
        (call,) = docker_double.invocations()
        assert alive(call["pid"])
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = err.decode("utf-8", "replace")
    assert process.returncode == 130, text
    assert "Interrupted." in text and "Traceback" not in text
    full = docker_double.expected_output("one two three four five six seven eight nine ten", "smollm2")
    assert len(first + out) < len(full), "the answer was cut short by the interrupt"
    assert wait_gone([call["pid"]]), "the docker child of the interrupted CLI is still running"


def test_sigterm_on_the_cli_mid_generation_leaves_no_process(docker_double: DockerDouble) -> None:
    process = start_cli_streaming(docker_double, "one two three four five six")
    try:
        assert process.stdout is not None
        assert process.stdout.read(1)
        (call,) = docker_double.invocations()
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    gone = wait_gone([call["pid"]], within=3.0)
    if not gone:  # end the orphan by its own pid before failing
        with contextlib.suppress(ProcessLookupError):
            os.killpg(call["pid"], signal.SIGKILL)
    assert gone, "SIGTERM left the docker child (its own session) running"
