"""The entry-point module: registers the ``docker-cli`` backend, imports nothing heavy.

The backend class is named as a string, so it (and pydantic-settings, asyncio, subprocess) is
imported only when the backend is used. No subprocess runs here.
"""

from __future__ import annotations

from ultra_llm_docker import KERNEL_CONTRACT

from ultra_llm.plugin import BackendRegistrar, hookimpl

ULTRA_LLM_CONTRACT = KERNEL_CONTRACT
"""The kernel versions the Docker family was built for: the host refuses this plugin under another."""


@hookimpl
def ultra_llm_register_backends(register: BackendRegistrar) -> None:
    """Register the ``docker-cli`` backend (``MODEL_RUNNER_TYPE=cli`` selects it)."""
    register(
        "docker-cli",
        "ultra_llm_docker_cli.backend:DockerCLIBackend",
        summary="Docker Model Runner through the `docker model` CLI (prompt on stdin, streamed output).",
        aliases=("cli",),
    )
