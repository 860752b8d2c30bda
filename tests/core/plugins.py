"""Test plugins: stand-in backends for selection tests and deliberately broken plugins.

``install_distribution`` writes a real ``*.dist-info`` with an ``ultra_llm`` entry point into a
directory on ``sys.path``, so ``importlib.metadata`` discovers it exactly as a pip-installed plugin.
"""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

from ultra_llm_docker.errors import DockerDaemonDownError

from ultra_llm import Chunk, ModelInfo
from ultra_llm.plugin import Availability, Backend, GenerationRequest, hookimpl


class DownRunnerBackend(Backend):
    """Stands in for a Docker backend whose daemon is down (its availability check says so)."""

    name: ClassVar[str] = "docker-cli"

    async def check_availability(self) -> Availability:
        error = DockerDaemonDownError("Cannot connect to the Docker daemon.", backend=self.name)
        return Availability(False, error=error)

    async def list_models(self) -> list[ModelInfo]:
        raise DockerDaemonDownError("Cannot connect to the Docker daemon.", backend=self.name)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        raise DockerDaemonDownError("Cannot connect to the Docker daemon.", backend=self.name)
        yield Chunk("")  # pragma: no cover - makes this an async generator


class UpRunnerBackend(DownRunnerBackend):
    """Stands in for a working API backend: answers with the prompt reversed."""

    name: ClassVar[str] = "docker-api"

    async def check_availability(self) -> Availability:
        return Availability(True, "up")

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("ai/smollm2:latest", self.name)]

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        for char in reversed(request.prompt):
            yield Chunk(char)


class RunnerStandIns:
    """A plugin registering both stand-ins under the Docker backends' names."""

    @hookimpl
    def ultra_llm_register_backends(self, register):  # type: ignore[no-untyped-def]
        register("docker-cli", DownRunnerBackend, summary="down", aliases=["cli"])
        register("docker-api", UpRunnerBackend, summary="up", aliases=["api", "api-alias"])


BROKEN_PLUGINS = {
    "raises_at_import": "raise RuntimeError('boom at import')\n",
    "misnamed_hook": textwrap.dedent(
        """
        from ultra_llm.plugin import hookimpl

        @hookimpl
        def ultra_llm_register_backend(register):  # misspelt: no trailing s
            pass
        """
    ),
    "raises_in_register": textwrap.dedent(
        """
        from ultra_llm.plugin import hookimpl

        @hookimpl
        def ultra_llm_register_backends(register):
            raise ValueError('boom in register')
        """
    ),
}


def install_distribution(site: Path, module: str, source: str, *, entry_name: str | None = None) -> str:
    """Write module ``module`` and a dist-info declaring it as an ``ultra_llm`` plugin; return the dist name."""
    dist = f"ultra-llm-test-{module.replace('_', '-')}"
    (site / f"{module}.py").write_text(source)
    info = site / f"{dist.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text(f"[ultra_llm]\n{entry_name or module} = {module}\n")
    return dist
