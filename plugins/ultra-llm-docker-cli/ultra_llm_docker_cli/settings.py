"""The docker-cli backend's settings, from ``ULTRA_LLM_DOCKER_*`` environment variables."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DockerCLISettings(BaseSettings):
    """``ULTRA_LLM_DOCKER_BIN`` and ``ULTRA_LLM_DOCKER_CLI_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="ULTRA_LLM_DOCKER_CLI_", case_sensitive=False, extra="ignore")

    docker_bin: str = Field(
        "docker",
        validation_alias=AliasChoices("ULTRA_LLM_DOCKER_BIN", "ULTRA_LLM_DOCKER_CLI_BIN"),
        description="The docker executable: a name looked up on PATH, or a path.",
    )
    max_concurrency: int = Field(
        4, ge=1, le=256, description="At most this many `docker model` processes at once; more calls wait."
    )
    status_cache_seconds: float = Field(
        5.0, ge=0, description="How long an availability answer (`docker model status`) is reused."
    )
    auto_pull: bool = Field(
        False,
        description="Pull a model that is not present locally before running it (with progress). Off: such a "
        "model is a ModelNotFoundError before `docker model run` starts (which would pull it unasked).",
    )
    allow_file_inclusion: bool = Field(
        False,
        description="Trusted local use only: send prompts that `docker model run` rewrites from files (`@path` "
        "replaced by the file's contents, image paths attached), with `docker` run in the caller's working "
        "directory. Off: such a prompt is refused (UnsafePromptError) before any process starts, and `docker` "
        "runs in a private empty directory.",
    )
    allow_containers: bool = Field(
        False,
        description="Let `docker model run` start an NVIDIA NIM container for an `nvcr.io/nim/...` model (it "
        "pulls the image and runs it with the Docker engine). Off: such a model is refused before any process "
        "starts.",
    )
    read_size: int = Field(4096, ge=1, le=1 << 20, description="Bytes per read of the CLI's output while streaming.")
    max_response_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1024,
        description="Cap on the bytes `docker model run` may print for one answer (streamed or whole); past it the "
        "process is killed and the call fails with ResponseTooLargeError.",
    )
    max_listing_bytes: int = Field(
        8 * 1024 * 1024,
        ge=1024,
        description="Cap on the bytes read from `docker model list`, `status` and `rm`; past it the process is "
        "killed and the call fails with ResponseTooLargeError.",
    )
    pull_idle_timeout: float = Field(
        300.0,
        gt=0,
        description="Seconds `docker model pull` may print nothing before it is killed (GenerationTimeoutError).",
    )
