"""The entry-point module: registers the ``docker-api`` backend, imports nothing heavy.

The backend is named by a ``"module:Class"`` string, so httpx2 and pydantic are imported
only when the backend is first used, and no request is made at import or plugin load.
"""

from __future__ import annotations

from ultra_llm_docker import KERNEL_CONTRACT

from ultra_llm.plugin import BackendRegistrar, hookimpl

ULTRA_LLM_CONTRACT = KERNEL_CONTRACT
"""The kernel versions the Docker family was built for: the host refuses this plugin under another."""


@hookimpl
def ultra_llm_register_backends(register: BackendRegistrar) -> None:
    """Register the ``docker-api`` backend (``api`` is an alias, as ``MODEL_RUNNER_TYPE=api`` says)."""
    register(
        "docker-api",
        "ultra_llm_docker_api.backend:DockerAPIBackend",
        summary="Docker Model Runner's HTTP API (MODEL_RUNNER_URL), or any OpenAI-compatible server.",
        aliases=("api",),
    )
