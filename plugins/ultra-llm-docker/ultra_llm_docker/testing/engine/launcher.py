"""Start and stop a real llama.cpp ``llama-server`` process on a free loopback port.

``start_engine`` launches the pinned ``llama-server`` built by ``build_llama_server`` (``-m PATH
--host 127.0.0.1 --port PORT --alias ALIAS --jinja -t 1``, plus ``--embeddings`` on request) in its
own process group, waits until ``GET /health`` answers 200 (it answers 503 while the model loads),
and returns an ``EngineProcess``. ``EngineProcess.stop`` ends exactly that process group (SIGTERM,
then SIGKILL after a grace period) and waits for it, so no zombie is left. A server that fails to
start raises ``EngineStartError`` carrying the tail of the server's log; a binary that is not built
raises ``EngineNotBuiltError`` naming the command that builds it.

``start_router`` starts the same binary in router mode (llama.cpp b9878 ``tools/server/server.cpp:110``:
no ``-m``, ``--models-dir DIR --models-max N``): one server that lists every GGUF of ``DIR`` and spawns
a child ``llama-server`` per model on its first request (``server-models.cpp:838-1039``). The children
are spawned with ``posix_spawn`` and no new process group (vendored ``sheredom/subprocess.h``), so they
share the router's group: ``stop`` and ``kill`` end them too, and ``stop`` sweeps the group with SIGKILL
after the router has exited (while its unreaped exit status still pins the group id), so no child outlives
it. ``live_group_members`` lists what still runs in a group.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ultra_llm.testing.serve import free_port

from .build_llama_server import LLAMA_CPP_TAG, binary_works, build_command, llama_server_path

__all__ = [
    "EngineNotBuiltError",
    "EngineProcess",
    "EngineStartError",
    "RouterProcess",
    "engine_binary",
    "engine_missing",
    "free_port",
    "live_group_members",
    "start_engine",
    "start_router",
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
        """End the server's process group (SIGTERM, then SIGKILL after ``grace`` seconds) and reap it;
        idempotent. Once the server has exited, and before it is reaped, whatever is left in its group
        (a router's children) is SIGKILLed: the unreaped server still holds the group id, so the signal
        cannot reach a later group that reuses the number."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.returncode is None:
            if not self._exited_unreaped(0.0):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGTERM)
            if not self._exited_unreaped(grace):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self._exited_unreaped(grace)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)  # the stragglers; the server itself is a zombie
        self.process.wait(timeout=grace)

    def _exited_unreaped(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the server to exit, without reaping it (``WNOWAIT``)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                exited = os.waitid(os.P_PID, self.process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:  # already reaped
                return True
            if exited is not None:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


@dataclass
class RouterProcess(EngineProcess):
    """A ``llama-server`` in router mode: ``models`` are the names it lists (``model`` is the first)."""

    models: tuple[str, ...] = ()
    models_max: int = 0


def live_group_members(pgid: int) -> list[int]:
    """The pids of the processes of group ``pgid`` that are not zombies (read from ``/proc``; Linux)."""
    members: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ")".
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return sorted(members)


def _healthy(url: str) -> bool:
    """True when ``GET url`` answers 200 (llama-server's ``/health`` is 503 while loading)."""
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _launch(
    make_command: Callable[[int], list[str]],
    make_engine: Callable[[subprocess.Popen[bytes], int, Path], EngineProcess],
    *,
    log_dir: Path,
    log_name: str,
    startup_timeout: float,
    attempts: int,
    env: Mapping[str, str] | None = None,
) -> EngineProcess:
    """Start ``make_command(port)`` in its own process group on a free port until ``GET /health`` answers
    200; retried on another port (``attempts`` in all) when the port was taken in between."""
    log_dir.mkdir(parents=True, exist_ok=True)
    last_error: EngineStartError | None = None
    for attempt in range(attempts):
        port = free_port()
        log_path = log_dir / f"llama-server-{log_name}-{port}.log"
        command = make_command(port)
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
                env=None if env is None else dict(env),
            )
        engine = make_engine(process, port, log_path)
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

    def command(port: int) -> list[str]:
        return [
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

    def engine(process: subprocess.Popen[bytes], port: int, log_path: Path) -> EngineProcess:
        return EngineProcess(process=process, port=port, model=alias, log_path=log_path, embedding=embedding)

    return _launch(
        command,
        engine,
        log_dir=Path(log_dir),
        log_name="embed" if embedding else "chat",
        startup_timeout=startup_timeout,
        attempts=attempts,
    )


#: Variables that would turn the router into something else: llama-server reads every option from a
#: ``LLAMA_ARG_*`` variable too (``LLAMA_ARG_MODEL`` would make it a single-model server), and a set
#: ``LLAMA_SERVER_ROUTER_PORT`` makes a llama-server believe it is a router's child
#: (``server-models.cpp:1377-1380``).
_ROUTER_ENV_PREFIXES = ("LLAMA_ARG_", "LLAMA_SERVER_", "LLAMA_APP_CMD")


def router_environment(cache_dir: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (``os.environ``) without llama-server's option variables, and with ``LLAMA_CACHE`` set
    to ``cache_dir``: a router also lists every model of its download cache (``server-models.cpp:345``,
    the cache being ``$LLAMA_CACHE`` first, ``common/hf-cache.cpp:43``), and the tests' router must
    list only its models directory."""
    environment = {
        name: value
        for name, value in (os.environ if base is None else base).items()
        if not name.startswith(_ROUTER_ENV_PREFIXES)
    }
    environment["LLAMA_CACHE"] = str(cache_dir)
    return environment


def start_router(
    models_dir: str | Path,
    *,
    log_dir: str | Path,
    models_max: int = 1,
    n_ctx: int = 2048,
    parallel: int = 2,
    startup_timeout: float = 90.0,
    extra_args: tuple[str, ...] = (),
    attempts: int = 3,
) -> RouterProcess:
    """Start ``llama-server`` in router mode over ``models_dir`` and wait until ``GET /health`` answers 200.

    ``--models-dir models_dir --models-max models_max`` with the options ``start_engine`` passes (minus
    ``-m``/``--alias``/``--embeddings``), which the router hands on to every child it spawns
    (``server-models.cpp:386-390``): ``-c n_ctx*parallel -np parallel --jinja -t 1 -tb 1 --metrics``.
    The router is healthy at once (it loads nothing at start, ``server.cpp:359``); once it is, its
    ``GET /models`` must list exactly the names ``router_model_names(models_dir)`` gives, else
    ``EngineStartError``. ``LLAMA_CACHE`` points to an empty directory under ``log_dir``
    (``router_environment``).
    """
    binary = engine_binary()
    models = tuple(router_model_names(models_dir))
    log_dir = Path(log_dir)
    cache_dir = log_dir / "llama-cache"
    cache_dir.mkdir(parents=True, exist_ok=True)

    def command(port: int) -> list[str]:
        return [
            str(binary),
            "--models-dir",
            str(models_dir),
            "--models-max",
            str(models_max),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--jinja",
            "-c",
            str(n_ctx * parallel),
            "-np",
            str(parallel),
            "-t",
            "1",
            "-tb",
            "1",
            "--metrics",
            *extra_args,
        ]

    def engine(process: subprocess.Popen[bytes], port: int, log_path: Path) -> RouterProcess:
        return RouterProcess(
            process=process,
            port=port,
            model=models[0] if models else "",
            log_path=log_path,
            models=models,
            models_max=models_max,
        )

    router = _launch(
        command,
        engine,
        log_dir=log_dir,
        log_name="router",
        startup_timeout=startup_timeout,
        attempts=attempts,
        env=router_environment(cache_dir),
    )
    assert isinstance(router, RouterProcess)
    try:
        listed = _listed_ids(f"{router.base_url}/models")
    except (OSError, ValueError) as exc:
        router.stop()
        raise EngineStartError(f"the router's GET /models failed: {exc}\n{router.log_tail()}") from exc
    if listed != list(models):
        router.stop()
        raise EngineStartError(f"the router lists {listed}, not {list(models)}\n{router.log_tail()}")
    return router


def _listed_ids(url: str) -> list[str]:
    """The ``id`` of every entry of an OpenAI models list at ``url``."""
    with urllib.request.urlopen(url, timeout=10.0) as response:
        listing = json.loads(response.read())
    return [str(entry["id"]) for entry in listing["data"]]


def router_model_names(models_dir: str | Path) -> list[str]:
    """The names a router gives the models of ``models_dir`` (``common/preset.cpp:364-427`` at b9878):
    a ``*.gguf`` file directly in it is named by its file name with every ``.gguf`` removed, a
    subdirectory holding a ``.gguf`` by the subdirectory's name (its ``mmproj`` file is the projector,
    a ``-00001-of-`` file the first shard of a split model). Sorted, as the router lists them."""
    names: list[str] = []
    if not Path(models_dir).is_dir():
        return names  # the router refuses to start (common/preset.cpp:365-367)
    for entry in Path(models_dir).iterdir():
        if entry.is_dir():
            if any(child.name.endswith(".gguf") and "mmproj" not in child.name for child in entry.iterdir()):
                names.append(entry.name)
        elif entry.name.endswith(".gguf"):
            names.append(entry.name.replace(".gguf", ""))
    return sorted(names)
