"""Fixtures for the docker-cli backend tests: a backend on the docker double."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ultra_llm_docker.testing.double.cli_backend import make_backend
from ultra_llm_docker.testing.double.fixtures import DockerDouble
from ultra_llm_docker_cli.backend import DockerCLIBackend


@pytest.fixture(autouse=True)
def _clean_environment(ultra_llm_docker_clean_env: pytest.MonkeyPatch) -> None:
    """Every test starts with no ultra-llm or Docker Model Runner variable set (the family's
    ``ultra_llm_docker_clean_env``, on top of the kernel's ``ultra_llm_clean_env``)."""


@pytest.fixture
def cli_backend(docker_double: DockerDouble) -> Iterator[DockerCLIBackend]:
    """A docker-cli backend whose ``docker`` is the double (status answers not cached)."""
    yield make_backend(status_cache_seconds=0)
