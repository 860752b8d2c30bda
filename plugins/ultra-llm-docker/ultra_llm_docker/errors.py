"""Docker's failures as typed errors, each with the fix Docker's own documentation gives.

Subclasses of the core's neutral errors (``BackendUnavailableError``, ``ModelNotFoundError``), so
callers catch the neutral class; the Docker backends raise these to say exactly what to do.
"""

from __future__ import annotations

import re

from ultra_llm.errors import BackendUnavailableError, BadRequestError, ContextLengthExceededError, ModelNotFoundError

__all__ = [
    "RUNNER_MAX_REQUEST_BYTES",
    "DockerDaemonDownError",
    "DockerNotInstalledError",
    "ModelRunnerNotEnabledError",
    "ModelRunnerPluginMissingError",
    "RunnerEngineNotInstalledError",
    "RunnerRequestTooLargeError",
    "context_length_exceeded",
    "engine_not_installed",
    "not_installed_engine",
    "model_not_found",
]

RUNNER_MAX_REQUEST_BYTES = 10 * 1024 * 1024
"""The runner reads at most this much of an inference request body (``maximumOpenAIInferenceRequestSize``,
docker/model-runner ``pkg/inference/scheduling/api.go:15`` at 642c7211)."""

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


class RunnerEngineNotInstalledError(BackendUnavailableError):
    """Docker Model Runner has not installed the inference engine the model needs (HTTP 412).

    The runner answers ``412 backend "<engine>" is not installed; run: docker model install-runner
    --backend <engine>`` (``pkg/inference/scheduling/http_handler.go:244-245`` at 642c7211), or 412
    ``vLLM binary not found`` (``:246-247``, ``pkg/inference/backends/vllm/vllm.go:31``).
    """

    default_fix = "Install the engine: `docker model install-runner --backend ENGINE`."


_NOT_INSTALLED = re.compile(r'backend "([^"]+)" is not installed')


def not_installed_engine(text: str) -> str | None:
    """The engine a 412 names (``backend "vllm" is not installed; run: ...``; ``vLLM binary not found``
    is vLLM's, for which the runner's CLI also says ``reinstall-runner --backend vllm``,
    ``cmd/cli/commands/utils.go:33,54-58``), else ``None``."""
    found = _NOT_INSTALLED.search(text)
    if found:
        return found.group(1)
    return "vllm" if "vLLM binary not found" in text else None


def engine_not_installed(engine: str | None, detail: str, *, backend: str) -> RunnerEngineNotInstalledError:
    """``RunnerEngineNotInstalledError`` naming ``engine`` (``None`` when the runner did not say)."""
    name = engine or "the engine this model needs"
    fix = (
        f"Install it: `docker model install-runner --backend {engine}` (or `docker model reinstall-runner "
        f"--backend {engine}`), then retry."
        if engine
        else RunnerEngineNotInstalledError.default_fix
    )
    return RunnerEngineNotInstalledError(
        f"Docker Model Runner has not installed {name} ({detail}).", fix=fix, backend=backend
    )


class RunnerRequestTooLargeError(BadRequestError):
    """The request body is over the runner's 10 MiB limit (``400 request too large``).

    The runner reads inference bodies through ``http.MaxBytesReader`` and answers 400, not 413,
    ``request too large`` past ``RUNNER_MAX_REQUEST_BYTES`` (``pkg/inference/scheduling/
    http_handler.go:29-37`` at 642c7211). Retrying the same body cannot succeed.
    """

    default_fix = (
        "Send less than 10 MiB: shorten the prompt or the conversation, or attach fewer or smaller "
        "images (a data URL is a third larger than the image)."
    )
