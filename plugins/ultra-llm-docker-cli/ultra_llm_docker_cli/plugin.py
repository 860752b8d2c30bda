"""The entry-point module: registers the ``docker-cli`` backend, imports nothing heavy.

The backend class is named as a string, so it (and pydantic-settings, asyncio, subprocess) is
imported only when the backend is used. No subprocess runs here.
"""

from __future__ import annotations

from ultra_llm.plugin import hookimpl
from ultra_llm.registry import BackendRegistrar


@hookimpl
def ultra_llm_register_backends(register: BackendRegistrar) -> None:
    """Register the ``docker-cli`` backend (``MODEL_RUNNER_TYPE=cli`` selects it)."""
    register(
        "docker-cli",
        "ultra_llm_docker_cli.backend:DockerCLIBackend",
        summary="Docker Model Runner through the `docker model` CLI (prompt on stdin, streamed output).",
        aliases=("cli",),
    )
