"""Fixtures for the compatibility layer: Docker backends replaced by controllable stand-ins.

Only the mock and the Docker family (its settings and its selection hook, no backend) load from
entry points (``ULTRA_LLM_LOAD_PLUGINS=mock,docker``), so the real Docker backends, installed or
not, never clash with the stand-ins registered under their names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import ClassVar

import pytest
from ultra_llm_docker.errors import DockerDaemonDownError
from ultra_llm_docker.names import DEFAULT_MODEL, normalize_model_name
from ultra_llm_mock.backend import MockBackend

from ultra_llm import Chunk, ModelInfo
from ultra_llm._host import PluginHost, get_host
from ultra_llm._registry import BackendRegistrar
from ultra_llm._selection import _warned
from ultra_llm.plugin import Availability, GenerationRequest, hookimpl


class RunnerStandIn(MockBackend):
    """A Docker backend stand-in: answers like a runner when ``up``, like a stopped daemon when not."""

    up: ClassVar[bool] = True
    default_model: ClassVar[str] = DEFAULT_MODEL

    def canonical_model(self, name: str) -> str:
        return normalize_model_name(name)

    def _down(self) -> DockerDaemonDownError:
        return DockerDaemonDownError("Cannot connect to the Docker daemon.", backend=self.name)

    def answer_for(self, request: GenerationRequest) -> str:
        return f"{self.name} runner answers {request.model}: {request.prompt}"

    async def check_availability(self) -> Availability:
        if not type(self).up:
            return Availability(False, error=self._down())
        return Availability(True, f"{self.name} stand-in is up")

    async def list_models(self) -> list[ModelInfo]:
        if not type(self).up:
            raise self._down()
        return [ModelInfo("ai/smollm2:latest", self.name), ModelInfo("ai/llama3.2:latest", self.name)]

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        if not type(self).up:
            raise self._down()
        async for chunk in super().stream(request):
            yield chunk


class CLIStandIn(RunnerStandIn):
    name: ClassVar[str] = "docker-cli"


class APIStandIn(RunnerStandIn):
    name: ClassVar[str] = "docker-api"


class StandInPlugin:
    """Registers the two stand-ins under the Docker backends' names."""

    @hookimpl
    def ultra_llm_register_backends(self, register: BackendRegistrar) -> None:
        register("docker-cli", CLIStandIn, summary="stand-in", aliases=["cli"])
        register("docker-api", APIStandIn, summary="stand-in", aliases=["api"])


@pytest.fixture
def runner(ultra_llm_clean_env: pytest.MonkeyPatch) -> Iterator[type[RunnerStandIn]]:
    """The process-wide host with the mock and the two stand-ins; yields the stand-in base class,
    whose ``up`` attribute (set it with ``monkeypatch``) says whether the runner answers."""
    ultra_llm_clean_env.setenv("ULTRA_LLM_LOAD_PLUGINS", "mock,docker")
    host: PluginHost = get_host()
    host.register(StandInPlugin(), name="standins")
    _warned.clear()
    ultra_llm_clean_env.setattr(RunnerStandIn, "up", True)
    yield RunnerStandIn
    _warned.clear()
