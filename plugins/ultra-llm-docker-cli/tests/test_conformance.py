"""The core's backend conformance suite, run on the docker-cli backend over the docker double."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from ultra_llm_docker.testing.double.fixtures import DockerDouble

from ultra_llm.testing import BackendConformance


class TestDockerCLIConformance(BackendConformance):
    backend: ClassVar[str] = "docker-cli"
    model: ClassVar[str] = "ai/smollm2"

    @pytest.fixture
    def backend_settings(self, docker_double: DockerDouble) -> dict[str, Any] | None:
        docker_double.set(token_delay=0.001)
        return None
