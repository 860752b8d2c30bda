"""Fixtures for the docker-cli backend tests: a backend on the docker double."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ultra_llm_docker_cli.backend import DockerCLIBackend

from tests.support.docker_double.cli_backend import make_backend
from tests.support.docker_double.fixtures import DockerDouble


@pytest.fixture
def cli_backend(docker_double: DockerDouble) -> Iterator[DockerCLIBackend]:
    """A docker-cli backend whose ``docker`` is the double (status answers not cached)."""
    yield make_backend(status_cache_seconds=0)
