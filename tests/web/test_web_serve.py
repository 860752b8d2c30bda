"""``ultra-llm serve`` as a real process (stopped by its own handle), and the import boundary."""

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

httpx2 = pytest.importorskip("httpx2")
pytest.importorskip("uvicorn")

SCRIPT = str(Path(sys.executable).with_name("ultra-llm"))
TOKEN = "serve-test-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def serve() -> Iterator[Any]:
    """``serve(*args, env=...)`` starts ``ultra-llm serve`` and returns ``(process, port)``; all stopped after."""
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], int]:
        port = free_port()
        process = subprocess.Popen(
            [SCRIPT, "serve", "--port", str(port), "--log-level", "warning", *args],
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
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
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            return httpx2.get(url, headers=headers, timeout=2)
        except httpx2.TransportError:
            time.sleep(0.1)
    raise AssertionError("ultra-llm serve did not answer")


def test_serve_on_loopback_by_default(serve: Any) -> None:
    process, port = serve()
    response = wait_ready(process, f"http://127.0.0.1:{port}/api/models")
    assert response.status_code == 200 and response.json()["backend"] == "mock"
    page = httpx2.get(f"http://127.0.0.1:{port}/")
    assert page.status_code == 200 and "ultra-llm console" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0


def test_serve_refuses_non_loopback_without_a_token(serve: Any) -> None:
    process, _ = serve("--host", "0.0.0.0")
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "without a token" in stderr and "ULTRA_LLM_WEB_TOKEN" in stderr


def test_serve_non_loopback_with_a_token_requires_it(serve: Any) -> None:
    process, port = serve("--host", "0.0.0.0", env={"ULTRA_LLM_WEB_TOKEN": TOKEN})
    denied = wait_ready(process, f"http://127.0.0.1:{port}/api/models")
    assert denied.status_code == 401
    allowed = httpx2.get(f"http://127.0.0.1:{port}/api/models", headers={"Authorization": f"Bearer {TOKEN}"})
    assert allowed.status_code == 200


def test_importing_ultra_llm_and_the_cli_loads_nothing_web() -> None:
    code = (
        "import sys, ultra_llm, ultra_llm.cli.app as app; app.build_cli(); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'uvicorn', 'starlette') "
        "or m.startswith('ultra_llm.web')); print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
    helps = subprocess.run([SCRIPT, "serve", "--help"], capture_output=True, text=True, check=True)
    assert "ULTRA_LLM_WEB_TOKEN" in helps.stdout
