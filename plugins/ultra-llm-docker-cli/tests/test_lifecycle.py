"""Process lifecycle: timeouts and cancellation kill the process group, reap it, close its pipes;
no zombie and no leaked descriptor after many calls; concurrency bounded by the setting."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from ultra_llm_docker.testing.double.cli_backend import alive, children, make_backend, run_pids
from ultra_llm_docker.testing.double.fixtures import DockerDouble
from ultra_llm_docker_cli.backend import DockerCLIBackend
from ultra_llm_docker_cli.process import Completed, ProcessRunner

from ultra_llm import create_adapter
from ultra_llm._adapter import Adapter
from ultra_llm._types import Chunk, GenerationRequest, to_messages
from ultra_llm.errors import GenerationError, GenerationTimeoutError, ModelNotFoundError

T = TypeVar("T")


def request(prompt: str = "hi", model: str = "smollm2") -> GenerationRequest:
    return GenerationRequest(model, to_messages(prompt), None, "docker-cli")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def through_adapter(call: Callable[[Adapter], Awaitable[T]], **config: Any) -> T:
    """``call`` on a real adapter over the docker-cli backend (``config``: ``UltraConfig`` fields), closed after."""
    adapter = await create_adapter("smollm2", backend="docker-cli", **config)
    try:
        return await call(adapter)
    finally:
        await adapter.aclose()


def test_first_token_timeout_kills_and_reaps(docker_double: DockerDouble) -> None:
    """The adapter's first-token deadline ends a `run` that prints nothing: its one error, and the
    process group killed and reaped."""
    docker_double.set(fault="hang")
    with pytest.raises(GenerationTimeoutError) as caught:
        asyncio.run(through_adapter(lambda llm: llm.generate("hi"), first_token_timeout=0.5))
    assert caught.value.timeout == 0.5
    assert caught.value.message.startswith("No answer from backend 'docker-cli' within the 0.5 s first-token timeout")
    (pid,) = run_pids(docker_double)
    assert not alive(pid) and children() == []


def test_total_timeout_mid_stream(docker_double: DockerDouble) -> None:
    """Once the answer began only the total applies: the adapter's one wording, and the process killed."""
    docker_double.set(fault="hang_after", fault_after=2)
    got: list[str] = []

    async def run(llm: Adapter) -> None:
        async for text in llm.stream_generate("a b c d"):
            got.append(text)

    with pytest.raises(GenerationTimeoutError) as caught:
        asyncio.run(through_adapter(run, timeout=1.5))
    assert "".join(got)  # the first tokens arrived before the timeout
    assert caught.value.message == "Generation on backend 'docker-cli' took longer than 1.5 s."
    assert "ULTRA_LLM_TIMEOUT" in (caught.value.fix or "")
    assert not any(alive(pid) for pid in run_pids(docker_double)) and children() == []


def test_closing_a_stream_early_kills_the_process(docker_double: DockerDouble, cli_backend: DockerCLIBackend) -> None:
    docker_double.set(token_delay=0.2)

    async def run() -> str:
        stream = cli_backend.stream(request("one two three four five six"))
        first = await stream.__anext__()
        await stream.aclose()  # type: ignore[attr-defined]
        return first.text

    assert asyncio.run(run())
    (pid,) = run_pids(docker_double)
    assert not alive(pid) and children() == []


def test_cancelling_the_task_kills_the_process(docker_double: DockerDouble, cli_backend: DockerCLIBackend) -> None:
    docker_double.set(token_delay=0.2)

    started = asyncio.Event()

    async def consume() -> None:
        async for _ in cli_backend.stream(request("one two three four five six")):
            started.set()

    async def run() -> None:
        task = asyncio.ensure_future(consume())
        await asyncio.wait_for(started.wait(), 10)  # mid-answer (5 more tokens, 0.2 s apart), not a guessed time
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    (pid,) = run_pids(docker_double)
    assert not alive(pid) and children() == []


def test_no_zombie_or_leaked_fd_after_many_calls(docker_double: DockerDouble, cli_backend: DockerCLIBackend) -> None:
    async def cancel_one() -> None:
        stream = cli_backend.stream(request("x y z"))
        first = await stream.__anext__()  # the answer has started: closing it now cancels a running call
        assert isinstance(first, Chunk), first
        await stream.aclose()  # type: ignore[attr-defined]

    async def run(rounds: int) -> None:
        for i in range(rounds):
            if i % 3 == 0:
                await cancel_one()
            elif i % 3 == 1:
                await cli_backend.generate(request(f"prompt {i}"))
            else:
                with pytest.raises(ModelNotFoundError):
                    await cli_backend.generate(request("hi", model="nosuch"))

    asyncio.run(run(3))  # warm up the event loop's own descriptors
    before = open_fds()
    asyncio.run(run(150))
    assert open_fds() == before
    assert children() == []
    pids = run_pids(docker_double)
    # every third call names an unknown model: refused after `docker model list`, with no `run`
    assert len(pids) == 102 and not any(alive(pid) for pid in pids)


def test_concurrency_is_bounded(docker_double: DockerDouble) -> None:
    docker_double.set(token_delay=0.02)
    backend = make_backend(max_concurrency=3)
    peak = 0

    async def sample(stop: asyncio.Event) -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, len(children()))
            await asyncio.sleep(0.005)

    async def run() -> list[str]:
        stop = asyncio.Event()
        sampler = asyncio.ensure_future(sample(stop))
        results = await asyncio.gather(*(backend.generate(request(f"prompt number {i}")) for i in range(12)))
        stop.set()
        await sampler
        return [r.text for r in results]

    texts = asyncio.run(run())
    assert texts == [docker_double.expected_answer(f"prompt number {i}", "smollm2") for i in range(12)]
    assert 1 <= peak <= 3


# ----------------------------------------------------------------------------- helpers left behind


def dead(pid: int, within: float = 5.0) -> bool:
    """True once ``pid`` is gone or a zombie (killed; its new parent, not us, reaps it)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("code", [1, 0])
def test_a_helper_holding_stdout_neither_delays_the_exit_nor_outlives_it(
    docker_double: DockerDouble, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, code: int
) -> None:
    """``docker`` forks a helper into its group that keeps stdout open, then exits: the call ends at
    once with the exit code (not at the adapter's 30 s first-token limit) and the helper is killed."""
    pid_file = tmp_path / "helper.pid"
    docker_double.set(fault="leave_helper", fault_code=code, helper_pid_file=str(pid_file), fault_message="boom")
    limits = {"first_token_timeout": 30, "timeout": 60}
    started = time.monotonic()
    if code:
        with pytest.raises(GenerationError) as caught:
            asyncio.run(through_adapter(lambda llm: llm.complete("hi"), **limits))
        assert "exited with code 1: boom" in str(caught.value)
    else:
        result = asyncio.run(through_adapter(lambda llm: llm.complete("hi"), **limits))
        assert result.text == docker_double.expected_answer("hi", "smollm2")
    assert time.monotonic() - started < 10
    assert dead(int(pid_file.read_text())) and children() == []


def test_the_run_helper_reports_the_exit_at_once_and_kills_the_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "helper.pid"
    script = (
        "import os, sys, time\n"
        "pid = os.fork()\n"
        "if pid == 0:\n    time.sleep(3600)\n    os._exit(0)\n"
        f"open({str(pid_file)!r}, 'w').write(str(pid))\n"
        "sys.stdout.write('partial'); sys.stdout.flush(); sys.exit(3)\n"
    )

    async def run() -> Completed:
        return await ProcessRunner().run([sys.executable, "-c", script], timeout=30)

    started = time.monotonic()
    done = asyncio.run(run())
    assert (done.returncode, done.stdout) == (3, b"partial")
    assert time.monotonic() - started < 10 and dead(int(pid_file.read_text()))
