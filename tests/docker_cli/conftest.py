"""Fixtures for the docker-cli backend tests: the docker double and a backend built on it."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest
from ultra_llm_docker_cli.backend import DockerCLIBackend
from ultra_llm_docker_cli.settings import DockerCLISettings

from tests.support.docker_double.fixtures import DockerDouble
from ultra_llm.config import load_config

__all__ = ["cli_backend", "make_backend"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("ULTRA_LLM_", "MODEL_RUNNER_")) or name in ("USE_MODEL_RUNNER", "DEFAULT_MODEL"):
            monkeypatch.delenv(name, raising=False)


def make_backend(
    read_size: int | None = None, clock: Callable[[], float] = time.monotonic, **settings: object
) -> DockerCLIBackend:
    """A backend with the environment's core config and these backend settings (``read_size``:
    bytes per read of the CLI's output; ``clock``: the status cache's)."""
    backend = DockerCLIBackend(load_config(), settings=DockerCLISettings.load(**settings), clock=clock)
    if read_size is not None:
        backend.runner.read_size = read_size
    return backend


@pytest.fixture
def cli_backend(docker_double: DockerDouble) -> Iterator[DockerCLIBackend]:
    """A docker-cli backend whose ``docker`` is the double (status answers not cached)."""
    yield make_backend(status_cache_seconds=0)
