"""Start and stop a real ``llama_cpp.server`` process on a free loopback port.

``start_engine`` launches ``python -m llama_cpp.server --model PATH --host 127.0.0.1 --port PORT
--model_alias ALIAS`` in its own process group, waits until ``GET /v1/models`` answers, and returns
an ``EngineProcess``. ``EngineProcess.stop`` ends exactly that process group (SIGTERM, then SIGKILL
after a grace period) and waits for it, so no zombie is left. A server that fails to start raises
``EngineStartError`` carrying the tail of the server's log.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["EngineProcess", "EngineStartError", "free_port", "start_engine"]


class EngineStartError(RuntimeError):
    """The engine did not come up; the message ends with the tail of its log."""


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGTERM it when the test process dies, however it dies
    (a killed pytest must not leave an engine running). A no-op where prctl is unavailable."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class EngineProcess:
    """A running llama.cpp server: ``url`` is its OpenAI base (``http://127.0.0.1:PORT/v1``)."""

    process: subprocess.Popen[bytes]
    port: int
    model: str
    log_path: Path
    embedding: bool = False
    _stopped: bool = field(default=False, repr=False)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no path)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The OpenAI-layout base URL, ``http://127.0.0.1:PORT/v1``."""
        return f"{self.base_url}/v1"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, limit: int = 4000) -> str:
        """The last ``limit`` characters of the server's combined stdout/stderr."""
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def stop(self, grace: float = 10.0) -> None:
        """End the server's process group and reap it; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=grace)
        else:
            self.process.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            json.loads(response.read())
            return bool(response.status == 200)
    except (OSError, ValueError, urllib.error.URLError):
        return False


def start_engine(
    model_path: str | Path,
    *,
    log_dir: str | Path,
    alias: str = "ai/tiny",
    embedding: bool = False,
    n_ctx: int = 2048,
    startup_timeout: float = 90.0,
    extra_args: tuple[str, ...] = (),
    attempts: int = 3,
) -> EngineProcess:
    """Start ``llama_cpp.server`` for ``model_path`` and wait until it answers ``GET /v1/models``.

    ``embedding=True`` passes ``--embedding true``. The port is chosen free just before the start;
    if another process takes it in between, the start is retried (``attempts`` times in all).
    Raises ``EngineStartError`` with the log tail when the server exits or does not answer within
    ``startup_timeout`` seconds; the failed process is always stopped and reaped first.
    """
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    last_error: EngineStartError | None = None
    for attempt in range(attempts):
        port = free_port()
        log_path = log_dir / f"llama-server-{'embed' if embedding else 'chat'}-{port}.log"
        command = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--model_alias",
            alias,
            "--n_ctx",
            str(n_ctx),
            "--n_threads",
            "1",
            # Queue concurrent requests as llama.cpp's own server does, instead of cutting the
            # running stream short with an early [DONE] (llama-cpp-python's default).
            "--interrupt_requests",
            "false",
            *(("--embedding", "true") if embedding else ()),
            *extra_args,
        ]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        engine = EngineProcess(process=process, port=port, model=alias, log_path=log_path, embedding=embedding)
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if _answers(f"{engine.url}/models"):
                return engine
            time.sleep(0.1)
        exited = process.poll()
        engine.stop()
        tail = engine.log_tail()
        reason = f"exited with code {exited}" if exited is not None else f"did not answer within {startup_timeout:.0f}s"
        last_error = EngineStartError(
            f"llama_cpp.server {reason} (attempt {attempt + 1}/{attempts}, port {port}, "
            f"command: {' '.join(command)}).\n--- server log ({log_path}) ---\n{tail}"
        )
        if exited is None or "address already in use" not in tail.lower():
            break
    assert last_error is not None
    raise last_error
