"""A failed ``docker`` call turned into the core's typed error, each with its fix."""

from __future__ import annotations

from ultra_llm_docker.errors import (
    DockerDaemonDownError,
    DockerNotInstalledError,
    ModelRunnerNotEnabledError,
    ModelRunnerPluginMissingError,
    RunnerRequestTooLargeError,
    context_length_exceeded,
    engine_not_installed,
    model_not_found,
    not_installed_engine,
)

from ultra_llm.errors import (
    BadRequestError,
    GenerationError,
    InvalidModelNameError,
    ModelLoadedError,
    StreamInterruptedError,
    UltraLLMError,
    UnsafePromptError,
    UnsupportedOperationError,
)

from .parsers import Failure, classify_failure, strip_ansi
from .prompt_guard import FileReference

__all__ = [
    "BACKEND",
    "FIRST_LINE_LIMIT",
    "container_refused",
    "error_for",
    "first_line",
    "not_installed",
    "unsafe_prompt",
]

BACKEND = "docker-cli"
FIRST_LINE_LIMIT = 500
"""Characters of the CLI's message quoted in an error message (the full text stays in ``output``)."""
API_HINT = "Use the API backend for that: MODEL_RUNNER_TYPE=api (backend docker-api)."


def first_line(text: str, limit: int = FIRST_LINE_LIMIT) -> str:
    """The first non-blank line of ``text`` without ANSI escapes (the CLI's error message), cut to
    ``limit`` characters with an ellipsis: an error message stays one short line however much the
    CLI printed."""
    for line in strip_ansi(text).splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
    return ""


def not_installed(docker_bin: str) -> DockerNotInstalledError:
    """``docker`` is not on PATH (or the configured path does not exist)."""
    return DockerNotInstalledError(f"The docker executable '{docker_bin}' was not found.", backend=BACKEND)


def unsafe_prompt(found: FileReference) -> UnsafePromptError:
    """The refusal of a prompt holding ``found``, a token ``docker model run`` would read a file for."""
    if found.kind == "file":
        what = f"which `docker model run` would replace with the contents of the file {found.path!r}"
    else:
        what = f"which `docker model run` would read from {found.path!r} and attach as an image"
    return UnsafePromptError(
        f"Refused before running docker: the prompt contains {found.shown()}, {what}; nothing was read.",
        fix="Rephrase that part (no '@' right before a path, no quoted, absolute or ./ image path), or use "
        "the API backend, which sends text as text: MODEL_RUNNER_TYPE=api (backend docker-api). Only for "
        "trusted local use: ULTRA_LLM_DOCKER_CLI_ALLOW_FILE_INCLUSION=1.",
        backend=BACKEND,
    )


def container_refused(model: str) -> InvalidModelNameError:
    """The refusal of an NVIDIA NIM model, for which ``docker model run`` pulls and starts a container."""
    return InvalidModelNameError(
        f"Refused before running docker: '{model}' is an NVIDIA NIM image, for which `docker model run` pulls "
        "and starts a container.",
        fix="Use a Docker Model Runner model (e.g. ai/smollm2), or allow containers on purpose: "
        "ULTRA_LLM_DOCKER_CLI_ALLOW_CONTAINERS=1.",
        backend=BACKEND,
    )


def error_for(
    action: str,
    *,
    returncode: int,
    stderr: str,
    stdout: str = "",
    model: str | None = None,
    partial: bool = False,
) -> UltraLLMError:
    """The typed error for ``docker model <action>`` that exited with ``returncode``.

    ``partial`` says answer text was already streamed (the error is then a stream interruption).
    """
    kind = classify_failure(stderr, stdout)
    said = first_line(stderr) or first_line(stdout)
    if kind is Failure.PLUGIN_MISSING:
        return ModelRunnerPluginMissingError(
            f"docker has no `model` command: the Docker Model Runner CLI plugin is missing ({said}).",
            backend=BACKEND,
        )
    if kind is Failure.DAEMON_DOWN:
        return DockerDaemonDownError(f"The Docker daemon is not running ({said}).", backend=BACKEND)
    if kind is Failure.RUNNER_NOT_RUNNING:
        return ModelRunnerNotEnabledError("Docker Model Runner is not running.", backend=BACKEND)
    if kind is Failure.MODEL_NOT_FOUND and model is not None:
        return model_not_found(model, backend=BACKEND, detail=said)
    if kind is Failure.CONTEXT_EXCEEDED:
        return context_length_exceeded(
            f"The prompt is longer than the model's context ({said}).",
            requested=None,
            available=None,
            output=stderr,
            backend=BACKEND,
        )
    if kind is Failure.ENGINE_NOT_INSTALLED:
        return engine_not_installed(not_installed_engine(stderr), said, backend=BACKEND)
    if kind is Failure.MUST_FORCE and model is not None:
        return BadRequestError(
            f"Docker Model Runner kept {model}: it has several tags, and removing it by ID removes them all ({said}).",
            output=strip_ansi(stderr).strip(),
            fix=f"Remove one tag by name (`docker model rm NAME:TAG`), or all of them on purpose: "
            f"`docker model rm --force {model}`.",
            backend=BACKEND,
        )
    if kind is Failure.RUNNER_ACTIVE and model is not None:
        return ModelLoadedError(model, detail=said, backend=BACKEND)
    if kind is Failure.UNKNOWN_COMMAND:
        return UnsupportedOperationError(
            f"This Docker Model Runner CLI has no `docker model {action}` ({said}).",
            fix="Update Docker Desktop, or the docker-model-plugin package on Docker Engine; "
            "or use the API backend: MODEL_RUNNER_TYPE=api.",
            backend=BACKEND,
        )
    if kind is Failure.REQUEST_TOO_LARGE:
        return RunnerRequestTooLargeError(
            f"`docker model {action}` sent more than the runner's 10 MiB request limit ({said}).",
            output=strip_ansi(stderr).strip(),
            backend=BACKEND,
        )
    output = "\n".join(part for part in (strip_ansi(stderr).strip(), strip_ansi(stdout).strip()) if part)
    how = f"exited with code {returncode}" if returncode >= 0 else f"was killed by signal {-returncode}"
    message = f"`docker model {action}` {how}" + (f": {said}" if said else ".")
    if partial or returncode < 0:
        return StreamInterruptedError(message, output=output, backend=BACKEND)
    return GenerationError(message, output=output, backend=BACKEND)
