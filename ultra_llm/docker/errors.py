"""Docker's failures as typed errors, each with the fix Docker's own documentation gives.

Subclasses of the core's neutral errors (``BackendUnavailableError``, ``ModelNotFoundError``), so
callers catch the neutral class; the Docker backends raise these to say exactly what to do.
"""

from __future__ import annotations

from ..errors import BackendUnavailableError, ContextLengthExceededError, ModelNotFoundError

__all__ = [
    "DockerDaemonDownError",
    "DockerNotInstalledError",
    "ModelRunnerNotEnabledError",
    "ModelRunnerPluginMissingError",
    "context_length_exceeded",
    "model_not_found",
]

CONTEXT_FIX = "Shorten the prompt, or raise the context: `docker model configure --context-size N MODEL`."


class DockerNotInstalledError(BackendUnavailableError):
    """The `docker` executable was not found."""

    default_fix = (
        "Install Docker Desktop (or Docker Engine with the Model Runner plugin), or point "
        "ULTRA_LLM_DOCKER_BIN at the docker executable."
    )


class ModelRunnerPluginMissingError(BackendUnavailableError):
    """`docker` exists but has no `model` command: the Model Runner CLI plugin is missing."""

    default_fix = (
        "Update Docker Desktop to 4.40 or later, or on Docker Engine install the plugin "
        "(`apt-get install docker-model-plugin`)."
    )


class DockerDaemonDownError(BackendUnavailableError):
    """The Docker daemon does not answer."""

    default_fix = "Start Docker Desktop (or the Docker daemon) and try again."


class ModelRunnerNotEnabledError(BackendUnavailableError):
    """Docker answers but Docker Model Runner is not running or not reachable."""

    default_fix = (
        "Enable it: `docker desktop enable model-runner` (add `--tcp 12434` for the HTTP API), "
        "or Settings -> AI -> Enable Docker Model Runner."
    )


def model_not_found(model: str, *, backend: str, detail: str | None = None) -> ModelNotFoundError:
    """``ModelNotFoundError`` with Docker Model Runner's fix: the ``docker model pull`` command."""
    return ModelNotFoundError(
        model,
        backend=backend,
        detail=detail,
        fix=f"Pull it with `docker model pull {model}` (or `ultra-llm pull {model}`).",
    )


def context_length_exceeded(
    message: str, *, requested: int | None, available: int | None, output: str, backend: str
) -> ContextLengthExceededError:
    """``ContextLengthExceededError`` with Docker Model Runner's fix: ``docker model configure``."""
    return ContextLengthExceededError(
        message, requested=requested, available=available, output=output, backend=backend, fix=CONTEXT_FIX
    )
