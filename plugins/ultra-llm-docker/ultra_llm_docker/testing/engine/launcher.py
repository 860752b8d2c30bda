"""Start and stop a real llama.cpp ``llama-server`` process on a free loopback port.

``start_engine`` launches the pinned ``llama-server`` built by ``build_llama_server`` (``-m PATH
--host 127.0.0.1 --port PORT --alias ALIAS --jinja -t 1``, plus ``--embeddings`` on request) in its
own process group, waits until ``GET /health`` answers 200 (it answers 503 while the model loads),
and returns an ``EngineProcess``. ``EngineProcess.stop`` ends exactly that process group (SIGTERM,
then SIGKILL after a grace period) and waits for it, so no zombie is left. A server that fails to
start raises ``EngineStartError`` carrying the tail of the server's log; a binary that is not built
raises ``EngineNotBuiltError`` naming the command that builds it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ultra_llm.testing.serve import free_port

from .build_llama_server import LLAMA_CPP_TAG, binary_works, build_command, llama_server_path

__all__ = [
    "EngineNotBuiltError",
    "EngineProcess",
    "EngineStartError",
    "engine_binary",
    "engine_missing",
    "free_port",
    "start_engine",
]


class EngineStartError(RuntimeError):
    """The engine did not come up; the message ends with the tail of its log."""


class EngineNotBuiltError(EngineStartError):
    """The pinned ``llama-server`` is not in the cache (or does not run); the message says how to build it."""


def engine_binary() -> Path:
    """The cached, working ``llama-server`` binary; ``EngineNotBuiltError`` when there is none."""
    binary = llama_server_path()
    if not binary_works(binary):
        raise EngineNotBuiltError(
            f"llama-server {LLAMA_CPP_TAG} is not built at {binary} (about 20 minutes once per machine): "
            f"run `{build_command()}`"
        )
    return binary


def engine_missing() -> str | None:
    """``None`` when the pinned ``llama-server`` is built and runs, else why not and how to build it."""
    try:
        engine_binary()
    except EngineNotBuiltError as exc:
        return str(exc)
    return None


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

    def kill(self) -> None:
        """SIGKILL the server's process group at once (a crash, not a shutdown) and reap it."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

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


def _healthy(url: str) -> bool:
    """True when ``GET url`` answers 200 (llama-server's ``/health`` is 503 while loading)."""
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def start_engine(
    model_path: str | Path,
    *,
    log_dir: str | Path,
    alias: str = "ai/tiny",
    embedding: bool = False,
    n_ctx: int = 2048,
    parallel: int = 4,
    startup_timeout: float = 90.0,
    extra_args: tuple[str, ...] = (),
    attempts: int = 3,
) -> EngineProcess:
    """Start ``llama-server`` for ``model_path`` and wait until ``GET /health`` answers 200.

    ``embedding=True`` passes ``--embeddings`` (such a server still serves chat; the model needs a
    pooling type, which the tiny model has). ``parallel`` slots (``-np``) answer at once, each with
    ``n_ctx`` tokens of context: ``-c`` is ``n_ctx * parallel`` (with ``-c`` alone the slots share
    one unified KV cache of that size, and concurrent long prompts fail with ``500 "Context size has
    been exceeded."``); llama-server caps each slot at the model's training context. The port is
    chosen free just before the start; if another process takes it in between, the start is retried
    (``attempts`` times in all). Raises ``EngineNotBuiltError`` when the binary is not built,
    ``EngineStartError`` with the log tail when the server exits or is not healthy within
    ``startup_timeout`` seconds; the failed process is always stopped and reaped first.
    """
    binary = engine_binary()
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    last_error: EngineStartError | None = None
    for attempt in range(attempts):
        port = free_port()
        log_path = log_dir / f"llama-server-{'embed' if embedding else 'chat'}-{port}.log"
        command = [
            str(binary),
            "-m",
            str(model_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--alias",
            alias,
            "--jinja",
            "-c",
            str(n_ctx * parallel),
            "-np",
            str(parallel),
            "-t",
            "1",
            "-tb",
            "1",
            "--metrics",  # as Docker Model Runner starts it (its llamacpp_config.go)
            *(("--embeddings",) if embedding else ()),
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
            if _healthy(f"{engine.base_url}/health"):
                return engine
            time.sleep(0.1)
        exited = process.poll()
        engine.stop()
        tail = engine.log_tail()
        reason = (
            f"exited with code {exited}" if exited is not None else f"was not healthy within {startup_timeout:.0f}s"
        )
        last_error = EngineStartError(
            f"llama-server {reason} (attempt {attempt + 1}/{attempts}, port {port}, "
            f"command: {' '.join(command)}).\n--- server log ({log_path}) ---\n{tail}"
        )
        if exited is None or "address already in use" not in tail.lower():
            break
    assert last_error is not None
    raise last_error
