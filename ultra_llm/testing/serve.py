"""``ultra-llm serve`` as a real process on a free loopback port, stopped by its own id.

The ``ultra_llm_serve`` fixture: ``ultra_llm_serve(*args, env=..., debug=False)`` starts the console script and returns
``(process, port)``; every process it started is interrupted (then killed if it lingers) at
teardown. ``wait_ready`` polls a URL until the server answers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["SCRIPT", "free_port", "ultra_llm_serve", "wait_ready"]

SCRIPT = str(Path(sys.executable).with_name("ultra-llm"))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listened on a moment ago (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def ultra_llm_serve() -> Iterator[Any]:
    """``serve(*args, env=..., debug=False, stderr=...)`` starts ``ultra-llm [--debug] serve`` and returns
    ``(process, port)`` (its log goes to ``stderr``, a pipe unless a file is given); all stopped after."""
    processes: list[subprocess.Popen[str]] = []

    def start(
        *args: str, env: dict[str, str] | None = None, debug: bool = False, stderr: Any = subprocess.PIPE
    ) -> tuple[subprocess.Popen[str], int]:
        port = free_port()
        process = subprocess.Popen(
            [SCRIPT, *(["--debug"] if debug else []), "serve", "--port", str(port), "--log-level", "warning", *args],
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        processes.append(process)
        return process, port

    yield start
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def wait_ready(process: subprocess.Popen[str], url: str, headers: dict[str, str] | None = None) -> Any:
    """The first answer of ``GET url`` once the server listens (within 20 s); fails if the process ends."""
    import httpx2

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            return httpx2.get(url, headers=headers, timeout=2)
        except httpx2.TransportError:
            time.sleep(0.1)
    raise AssertionError("ultra-llm serve did not answer")
