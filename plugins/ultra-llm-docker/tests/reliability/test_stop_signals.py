"""SIGTERM and SIGHUP (``timeout``, ``systemctl stop``, ``docker stop``, a closed terminal) stop the CLI
as Ctrl-C does: a docker-cli run with an attached image, the real ``ultra-llm`` console script and the
docker double under it, leaves no image file, no working directory and no ``docker`` process, and the
CLI exits with 128 + the signal's number."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from ultra_llm_docker.testing.double.fixtures import DockerDouble

CONSOLE_SCRIPT = Path(sys.executable).with_name("ultra-llm")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(40)
WAIT = 20.0
"""A bound on waiting for the CLI to reach a state, not a speed check."""

STOPS = [pytest.param(signal.SIGTERM, id="SIGTERM"), pytest.param(signal.SIGHUP, id="SIGHUP")]


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def private_dirs(temp: Path) -> list[str]:
    """What the docker-cli backend made in ``temp``: image and working directories."""
    return sorted(p.name for p in temp.iterdir() if p.name.startswith(("ultra-llm-images-", "ultra-llm-docker-cli-")))


def start_cli(args: list[str], temp: Path) -> subprocess.Popen[bytes]:
    """``ultra-llm ARGS`` on the docker-cli backend (the double first on PATH), ``TMPDIR`` = ``temp``."""
    env = {
        **os.environ,
        "USE_MODEL_RUNNER": "true",
        "MODEL_RUNNER_TYPE": "cli",
        "ULTRA_LLM_FALLBACK": "none",
        "TMPDIR": str(temp),
    }
    env.pop("ULTRA_LLM_BACKEND", None)
    return subprocess.Popen(
        [str(CONSOLE_SCRIPT), *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )


def wait_for_run(process: subprocess.Popen[bytes], docker_double: DockerDouble) -> int:
    """The pid of the ``docker model run`` the CLI started, once it has read its prompt."""
    end = time.monotonic() + WAIT
    while time.monotonic() < end and process.poll() is None:
        calls = [c for c in docker_double.invocations() if c["argv"][:2] == ["model", "run"]]
        if calls:
            return int(calls[0]["pid"])
        time.sleep(0.05)
    process.kill()
    _, err = process.communicate()
    raise AssertionError(f"docker model run never started (exit {process.returncode}): {err.decode()!r}")


def stop_and_check(
    processes: Any,
    process: subprocess.Popen[bytes],
    run_pid: int,
    temp: Path,
    signum: int,
    exit_codes: tuple[int, ...] = (),
) -> str:
    """Send ``signum``; the CLI's stderr once it has exited with 128 + ``signum`` (or one of
    ``exit_codes``: uvicorn ends by raising the signal again) and left nothing (``processes``: the
    fixture that finds the CLI's children)."""
    docker_children = processes.child_pids(process.pid)
    assert run_pid in docker_children, "the docker double is the CLI's child"
    process.send_signal(signum)
    try:
        _, err = process.communicate(timeout=WAIT)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    survivors = [pid for pid in docker_children if alive(pid)]
    for pid in survivors:  # end an orphan by its own group before failing
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    text = err.decode("utf-8", "replace")
    assert process.returncode in (exit_codes or (128 + signum,)), text
    assert survivors == [], f"{signal.Signals(signum).name} left docker running under PID 1"
    assert private_dirs(temp) == [], f"{signal.Signals(signum).name} left the private directories"
    assert "Traceback" not in text
    return text


@pytest.mark.parametrize("signum", STOPS)
def test_a_stop_signal_mid_generation_with_an_image_leaves_nothing(
    docker_double: DockerDouble, processes: Any, tmp_path: Path, signum: int
) -> None:
    docker_double.set(fault="hang")  # `docker model run` reads the prompt and the image, then never answers
    temp = tmp_path / "tmp"
    temp.mkdir()
    image = tmp_path / "photo.png"
    image.write_bytes(PNG)
    process = start_cli(["generate", "-a", str(image), "describe this"], temp)
    try:
        run_pid = wait_for_run(process, docker_double)
        dirs = private_dirs(temp)
        assert any(d.startswith("ultra-llm-images-") for d in dirs), dirs  # the image is on disk while docker runs
        assert any(d.startswith("ultra-llm-docker-cli-") for d in dirs), dirs
        text = stop_and_check(processes, process, run_pid, temp, signum)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert f"Stopped by {signal.Signals(signum).name}." in text


def test_sigterm_mid_batch_leaves_no_process(docker_double: DockerDouble, processes: Any, tmp_path: Path) -> None:
    docker_double.set(fault="hang")
    temp = tmp_path / "tmp"
    temp.mkdir()
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("first\n", encoding="utf-8")
    process = start_cli(["batch", "--no-progress", str(prompts)], temp)
    try:
        run_pid = wait_for_run(process, docker_double)
        stop_and_check(processes, process, run_pid, temp, signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("signum", STOPS)
def test_a_stop_signal_ends_serve_mid_generation_leaving_nothing(
    docker_double: DockerDouble, processes: Any, tmp_path: Path, signum: int
) -> None:
    """``ultra-llm serve`` with a request's `docker model run` hanging: the server gives it its graceful
    time, cancels it, closes the backends (the process killed, the image and working directories gone)."""
    pytest.importorskip("uvicorn")
    from ultra_llm.testing.serve import free_port, wait_ready

    docker_double.set(fault="hang")
    temp = tmp_path / "tmp"
    temp.mkdir()
    port = free_port()
    process = start_cli(["serve", "--port", str(port), "--log-level", "warning"], temp)
    image = "data:image/png;base64," + base64.b64encode(PNG).decode()
    content = [{"type": "text", "text": "describe"}, {"type": "image_url", "image_url": {"url": image}}]
    body = json.dumps({"prompt": [{"role": "user", "content": content}]}).encode()
    head = (
        f"POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    try:
        wait_ready(process, f"http://127.0.0.1:{port}/api/backends")  # type: ignore[arg-type]
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as client:
            client.sendall(head + body)  # the answer never comes: `docker model run` hangs
            run_pid = wait_for_run(process, docker_double)
            assert any(d.startswith("ultra-llm-images-") for d in private_dirs(temp))
            stop_and_check(processes, process, run_pid, temp, signum, exit_codes=(128 + signum, -signum))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
