"""The core's backend conformance suite, run on the docker-cli backend over the docker double."""

from __future__ import annotations

from typing import ClassVar

import pytest
from ultra_llm_docker_cli.backend import DockerCLIBackend

from tests.support.docker_double.fixtures import DockerDouble
from ultra_llm.testing import BackendConformance
from ultra_llm.testing.conformance import BackendFactory


class TestDockerCLIConformance(BackendConformance):
    model: ClassVar[str] = "ai/smollm2"

    @pytest.fixture
    def backend_factory(self, docker_double: DockerDouble) -> BackendFactory:
        docker_double.set(token_delay=0.001)
        return DockerCLIBackend
