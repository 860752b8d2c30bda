"""The docker-cli backend on the docker double: a backend to test, and its processes to watch.

Shared by the docker-cli plugin's tests and the reliability suite; ``make_backend`` reads the
environment's core config (point ``ULTRA_LLM_DOCKER_BIN`` at the double first: the
``docker_double`` fixture does).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ultra_llm_docker_cli.backend import DockerCLIBackend
from ultra_llm_docker_cli.settings import DockerCLISettings

from ultra_llm import load_config
from ultra_llm_docker.testing.double.fixtures import DockerDouble

__all__ = ["alive", "children", "make_backend", "run_pids"]


def make_backend(
    read_size: int | None = None, clock: Callable[[], float] = time.monotonic, **settings: Any
) -> DockerCLIBackend:
    """A backend with the environment's core config and these backend settings (``read_size``:
    bytes per read of the CLI's output; ``clock``: the status cache's)."""
    backend = DockerCLIBackend(load_config(), settings=DockerCLISettings.load(**settings), clock=clock)
    if read_size is not None:
        backend.runner.read_size = read_size
    return backend


def alive(pid: int) -> bool:
    """True when ``pid`` exists (a zombie counts: it has not been reaped)."""
    return Path(f"/proc/{pid}").exists()


def children() -> list[int]:
    """PIDs of docker-double processes whose parent is this process (other fixtures' servers ignored)."""
    me = str(os.getpid())
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                if stat.rsplit(")", 1)[1].split()[1] == me and b"docker-double" in cmdline:
                    kids.append(int(entry))
    return kids


def run_pids(double: DockerDouble) -> list[int]:
    return [call["pid"] for call in double.invocations()]
