"""The docker-cli backend's settings, from ``ULTRA_LLM_DOCKER_*`` environment variables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ultra_llm.plugin import Settings, setting


@dataclass(frozen=True)
class DockerCLISettings(Settings):
    """``ULTRA_LLM_DOCKER_BIN`` and ``ULTRA_LLM_DOCKER_CLI_*`` variables."""

    env_prefix: ClassVar[str] = "ULTRA_LLM_DOCKER_CLI_"

    docker_bin: str = setting(
        "docker",
        env="ULTRA_LLM_DOCKER_BIN",
        aliases=["ULTRA_LLM_DOCKER_CLI_BIN"],
        help="The docker executable: a name looked up on PATH, or a path.",
    )
    max_concurrency: int = setting(
        4, ge=1, le=256, help="At most this many `docker model` processes at once; more calls wait."
    )
    status_cache_seconds: float = setting(
        5.0, ge=0, help="How long an availability answer (`docker model status`) is reused."
    )
    auto_pull: bool = setting(
        False,
        help="Pull a model that is not present locally before running it (with progress). Off: such a "
        "model is a ModelNotFoundError before `docker model run` starts (which would pull it unasked).",
    )
    allow_file_inclusion: bool = setting(
        False,
        help="Trusted local use only: send prompts that `docker model run` rewrites from files (`@path` "
        "replaced by the file's contents, image paths attached), with `docker` run in the caller's working "
        "directory. Off: such a prompt is refused (UnsafePromptError) before any process starts, and `docker` "
        "runs in a private empty directory.",
    )
    allow_containers: bool = setting(
        False,
        help="Let `docker model run` start an NVIDIA NIM container for an `nvcr.io/nim/...` model (it "
        "pulls the image and runs it with the Docker engine). Off: such a model is refused before any process "
        "starts.",
    )
    auto_install: bool = setting(
        False,
        help="Let `docker model` install the runner on Docker Engine when it is missing (pulls the "
        "docker/model-runner image, starts a container). Off: every `docker` call runs with "
        "MODEL_RUNNER_NO_AUTO_INSTALL=1, so a missing runner is an error instead of an unasked install.",
    )
    max_response_bytes: int = setting(
        16 * 1024 * 1024,
        ge=1024,
        help="Cap on the bytes `docker model run` may print for one answer (streamed or whole); past it the "
        "process is killed and the call fails with ResponseTooLargeError.",
    )
    max_listing_bytes: int = setting(
        8 * 1024 * 1024,
        ge=1024,
        help="Cap on the bytes read from `docker model list`, `status` and `rm`; past it the process is "
        "killed and the call fails with ResponseTooLargeError.",
    )
    pull_idle_timeout: float = setting(
        300.0,
        gt=0,
        help="Seconds a pull (`docker model pull`, or the auto-pull before a run) may print nothing before it "
        "is killed (GenerationTimeoutError naming this setting). A pull has no total: one that keeps printing "
        "progress takes as long as it needs.",
    )
    list_timeout: float = setting(
        10.0,
        gt=0,
        help="Seconds a read of the runner may take: `docker model list`, `ps`, `df`, `inspect` and "
        "`configure show`; past it the process is killed (GenerationTimeoutError naming this setting). "
        "A call's own deadline (ULTRA_LLM_TIMEOUT, timeout=) cuts it shorter when it comes first.",
    )
    control_timeout: float = setting(
        30.0,
        gt=0,
        help="Seconds a change to the runner may take: `docker model rm`, `configure` and `unload`; past it "
        "the process is killed (GenerationTimeoutError naming this setting). A call's own deadline "
        "(ULTRA_LLM_TIMEOUT) cuts it shorter when it comes first.",
    )
