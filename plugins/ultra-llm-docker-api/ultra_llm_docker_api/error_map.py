"""HTTP failures -> ultra-llm's typed errors, each with the one line that says what to do.

Pure functions. Two body shapes arrive: Docker Model Runner's plain text (Go's ``http.Error``,
``model not found\\n``) and JSON errors from the engine behind it: llama.cpp's server
(``{"error": {"code": 400, "message": "request (4139 tokens) exceeds the available context size
(4096 tokens)...", "type": "exceed_context_size_error"}}``), llama-cpp-python and vLLM in the OpenAI
shape (``"This model's maximum context length is 512 tokens. However, you requested 600 tokens"``,
``code: context_length_exceeded``), or ``{"object": "error", "message": ...}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ultra_llm_docker.errors import (
    CONTEXT_FIX,
    RUNNER_MAX_REQUEST_BYTES,
    ModelRunnerNotEnabledError,
    RunnerRequestTooLargeError,
    engine_not_installed,
    model_not_found,
    not_installed_engine,
)

from ultra_llm.errors import (
    BackendUnavailableError,
    BadRequestError,
    ConfigurationError,
    ContextLengthExceededError,
    GenerationError,
    GenerationTimeoutError,
    ModelLoadedError,
    ModelNotFoundError,
    OverloadedError,
    UltraLLMError,
    UnsupportedOperationError,
)

from .server_kind import ServerKind

__all__ = [
    "RETRY_STATUSES",
    "TCP_TIP",
    "connection_error",
    "error_body_message",
    "error_from_body",
    "is_loading",
    "missing_model",
    "server_log_hint",
]

BACKEND = "docker-api"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""Statuses worth another attempt (after the back-off, honouring Retry-After); the endpoint's fault."""

TCP_TIP = (
    "Start Docker Model Runner and make its TCP port reachable: on Docker Desktop "
    "`docker desktop enable model-runner --tcp 12434` (Docker Engine listens on 12434 already); "
    "from a container use MODEL_RUNNER_URL=http://model-runner.docker.internal; "
    "`docker model status` shows whether it runs."
)

_LLAMA_SERVER_CONTEXT = re.compile(
    r"request \((\d+) tokens\) exceeds the available context size \((\d+) tokens\)", re.IGNORECASE
)
_OPENAI_CONTEXT = re.compile(
    r"maximum context length is (\d+) tokens.*?(?:you requested|resulted in) (\d+) tokens", re.IGNORECASE | re.DOTALL
)
_VLLM_CONTEXT = re.compile(r"(\d+) (?:input )?tokens.*?context length (?:is|of) (\d+)", re.IGNORECASE | re.DOTALL)
_NEEDS_JINJA = re.compile(r"(tools|tool_choice) param requires --jinja flag", re.IGNORECASE)
_NO_MMPROJ = re.compile(r"(image|audio|video) input is not supported", re.IGNORECASE)
_SCHEMA_TO_GRAMMAR = re.compile(r"JSON schema conversion failed|failed to parse grammar", re.IGNORECASE)
_MODEL_NOT_FOUND = re.compile(r"model not found|no such model|does not exist|model_not_found|unknown model", re.I)


def error_body_message(body: bytes) -> tuple[str, Mapping[str, Any] | None]:
    """The error's human message and, for JSON bodies, the error object (``None`` for plain text)."""
    text = body.decode("utf-8", "replace").strip()
    if text[:1] != "{":
        return text, None
    try:
        parsed = json.loads(text)
    except ValueError:
        return text, None
    if not isinstance(parsed, dict):
        return text, None
    error = parsed.get("error", parsed)
    if isinstance(error, str):
        return error, {"message": error}
    if isinstance(error, dict):
        message = error.get("message") or error.get("detail") or parsed.get("message") or text
        return str(message), error
    return text, parsed


def _context_numbers(message: str) -> tuple[int | None, int | None]:
    """``(requested, available)`` tokens from a context-size error message."""
    if match := _LLAMA_SERVER_CONTEXT.search(message):
        return int(match.group(1)), int(match.group(2))
    if match := _OPENAI_CONTEXT.search(message):
        return int(match.group(2)), int(match.group(1))
    if match := _VLLM_CONTEXT.search(message):
        return int(match.group(1)), int(match.group(2))
    return None, None


def _is_context_error(message: str, error: Mapping[str, Any] | None) -> bool:
    if error is not None:
        kind = f"{error.get('type', '')} {error.get('code', '')}".lower()
        if "exceed_context_size" in kind or "context_length_exceeded" in kind:
            return True
    lowered = message.lower()
    return "context size" in lowered or "context length" in lowered or "context window" in lowered


def is_loading(status: int, body: bytes) -> bool:
    """True for llama-server's answer while it loads its model (``503 "Loading model"``, ``unavailable_error``)."""
    if status != 503:
        return False
    _, error = error_body_message(body)
    if error is None:
        return False
    return error.get("type") == "unavailable_error" and "loading model" in str(error.get("message", "")).lower()


def _missing_model_fix(kind: ServerKind, url: str) -> str:
    """How to get a model onto a server that is not the runner."""
    if kind is ServerKind.LLAMA_SERVER:
        return (
            "llama-server serves only the model(s) it was started with: ask for a name GET /v1/models lists, "
            "or restart it with this one (`llama-server -m FILE.gguf --alias NAME`)."
        )
    return f"Ask for a model the server lists (GET {url.rsplit('/', 1)[0]}/models), or load it on that server."


def missing_model(model: str, kind: ServerKind, url: str, detail: str) -> ModelNotFoundError:
    """``ModelNotFoundError`` whose fix suits the server kind (a pull for the runner, the server's own way else)."""
    if kind is ServerKind.DMR:
        return model_not_found(model, backend=BACKEND, detail=detail)
    return ModelNotFoundError(model, backend=BACKEND, detail=detail, fix=_missing_model_fix(kind, url))


def _context_fix(kind: ServerKind) -> str:
    if kind is ServerKind.DMR:
        return CONTEXT_FIX
    if kind is ServerKind.LLAMA_SERVER:
        return "Shorten the prompt, or restart llama-server with a larger context (`-c N`, at most the model's own)."
    return "Shorten the prompt, or raise the model's context in the server's own settings."


def server_log_hint(kind: ServerKind) -> str:
    """Where to look when the server misbehaves."""
    if kind is ServerKind.DMR:
        return "check the runner with `docker model logs`"
    if kind is ServerKind.LLAMA_SERVER:
        return "check llama-server's log"
    return "check the server's log"


_ONE_OR_THE_OTHER = (
    "Docker Model Runner starts llama-server with --mmproj for a model packaged with a multimodal "
    "projector and with --jinja for every other model, never both: "
)
"""The runner's rule, ``pkg/inference/backends/llamacpp/llamacpp_config.go:87-92`` at 642c7211."""


def _feature_refusal(message: str, short: str, url: str, kind: ServerKind) -> UnsupportedOperationError | None:
    """``UnsupportedOperationError`` with the fix when the engine refused a request feature, else ``None``.

    llama-server b9878's words: ``tools param requires --jinja flag`` / ``tool_choice param requires
    --jinja flag`` (``tools/server/server-common.cpp:916-922``) and ``image input is not supported -
    hint: if this is unexpected, you may need to provide the mmproj`` (``:986-989``, audio and video
    alike) are ``std::runtime_error``s, so they arrive as ``500 server_error`` (``tools/server/
    server.cpp:51-53``); a schema its grammar converter cannot take is ``400 JSON schema conversion
    failed: ...`` (``common/json-schema-to-grammar.cpp:1012-1015``, ``std::invalid_argument``) and
    a grammar it cannot parse ``400 Failed to initialize samplers: failed to parse grammar``
    (``tools/server/server-context.cpp:1816-1821``). None of them is worth another attempt.
    """
    runner = kind is ServerKind.DMR
    if _NEEDS_JINJA.search(message):
        fix = (
            _ONE_OR_THE_OTHER + "this model has an mmproj, so it reads images but cannot call tools. "
            "Use a text model for tools (and schemas), the multimodal one for images."
            if runner
            else "Restart llama-server with --jinja (its chat template then takes tools)."
            if kind is ServerKind.LLAMA_SERVER
            else "Use a server started with tool calling on (llama-server: --jinja)."
        )
        return UnsupportedOperationError(
            f"The server at {url} cannot call tools with this model: {short}.", fix=fix, backend=BACKEND
        )
    if match := _NO_MMPROJ.search(message):
        what = match.group(1).lower()
        fix = (
            _ONE_OR_THE_OTHER + f"this model has no mmproj, so it takes tools and schemas but no {what} input. "
            f"Use a model packaged with one (`docker model package --mmproj`) for {what} input."
            if runner
            else f"Restart llama-server with the model's projector (--mmproj FILE.gguf) to send {what} input."
            if kind is ServerKind.LLAMA_SERVER
            else f"Use a multimodal model that takes {what} input, or send text only."
        )
        return UnsupportedOperationError(
            f"The model at {url} cannot read {what} input: {short}.", fix=fix, backend=BACKEND
        )
    if _SCHEMA_TO_GRAMMAR.search(message):
        return UnsupportedOperationError(
            f"The server at {url} cannot enforce this JSON Schema: {short}.",
            fix="Simplify the schema to what llama.cpp's grammar converter takes: types, properties, required, "
            "enum, const, items, anyOf/oneOf, local $refs, patterns anchored with ^ and $.",
            backend=BACKEND,
        )
    return None


def _unavailable(status: int, short: str, url: str, kind: ServerKind) -> UltraLLMError:
    if kind is ServerKind.DMR:
        return ModelRunnerNotEnabledError(
            f"Docker Model Runner at {url} is unavailable ({status} {short or 'service unavailable'}).",
            fix=TCP_TIP,
            backend=BACKEND,
        )
    return BackendUnavailableError(
        f"{kind.value} at {url} is unavailable ({status} {short or 'service unavailable'}).",
        fix=f"Retry once it is up; {server_log_hint(kind)}.",
        backend=BACKEND,
    )


def error_from_body(
    status: int, body: bytes, *, model: str | None, url: str, kind: ServerKind = ServerKind.DMR
) -> UltraLLMError:
    """The typed error for a non-2xx response (or an error event in a stream, with ``status`` 0)."""
    message, error = error_body_message(body)
    output = body.decode("utf-8", "replace")[:4000]
    short = message if len(message) <= 300 else message[:300] + "..."

    if _is_context_error(message, error) and status in (0, 400, 413, 422, 500):
        requested, available = _context_numbers(message)
        if requested is not None and available is not None:
            line = f"The prompt needs {requested} tokens but the model's context holds {available}."
        else:
            line = f"The prompt does not fit the model's context: {short}"
        return ContextLengthExceededError(
            line, requested=requested, available=available, output=output, backend=BACKEND, fix=_context_fix(kind)
        )
    if status in (0, 400, 500) and (refusal := _feature_refusal(message, short, url, kind)) is not None:
        return refusal
    if status == 412:  # the engine is not installed (http_handler.go:244-247 at 642c7211)
        return engine_not_installed(not_installed_engine(message), short or "412", backend=BACKEND)
    if status == 400 and message.strip().lower() == "request too large":  # http_handler.go:33-34
        return RunnerRequestTooLargeError(
            f"The request is larger than the {RUNNER_MAX_REQUEST_BYTES // (1024 * 1024)} MiB {url} accepts "
            "(400 request too large).",
            output=output,
            backend=BACKEND,
        )
    if status == 404:
        lowered = message.lower()
        if "backend not found" in lowered:
            return ConfigurationError(
                f"The runner at {url} has no such engine ({short}).",
                fix="Unset ULTRA_LLM_DOCKER_API_ENGINE or set it to an installed engine (llama.cpp).",
                backend=BACKEND,
            )
        if model and _MODEL_NOT_FOUND.search(message):
            return missing_model(model, kind, url, short)
        return BackendUnavailableError(
            f"{url} answered 404 Not Found ({short or 'no body'}): it is not the API this backend expects.",
            fix="Check MODEL_RUNNER_URL and ULTRA_LLM_DOCKER_API_PATH (/engines/v1 for Docker Model Runner, "
            "/v1 for llama.cpp's server, vLLM or Ollama).",
            backend=BACKEND,
        )
    if status in (401, 403):
        return BackendUnavailableError(
            f"{url} refused the request: {status} {short}.",
            fix="Set ULTRA_LLM_DOCKER_API_KEY (or MODEL_RUNNER_API_KEY) to a token the server accepts.",
            backend=BACKEND,
        )
    if status in (408, 504):
        return GenerationTimeoutError(
            f"{url} timed out serving the request ({status} {short}).",
            fix="Retry; a cold model load can take tens of seconds. "
            "Raise ULTRA_LLM_FIRST_TOKEN_TIMEOUT if it persists.",
            backend=BACKEND,
        )
    if status == 501:
        return UnsupportedOperationError(
            f"{short or 'Not supported'} ({url} answered 501).",
            fix="Restart llama-server with the option its message names, or use a server that offers this."
            if kind is ServerKind.LLAMA_SERVER
            else "Use a server or model that offers this operation.",
            backend=BACKEND,
        )
    if status == 503 or (status == 502 and kind is ServerKind.DMR):
        return _unavailable(status, short, url, kind)
    if status == 429:
        return OverloadedError(
            f"{url} is rate limiting requests (429 {short}).",
            fix="Wait and retry, lower the number of concurrent requests, or give the call a fallback model.",
            backend=BACKEND,
        )
    if status == 409 and model and urlsplit(url).path.endswith("/_configure"):
        # the model's runner is serving a request (scheduling/loader.go:722-732, http_handler.go:480-481)
        return ModelLoadedError(model, detail=f"409 {short}", backend=BACKEND)
    if status == 409:
        return BadRequestError(
            f"The runner refused the change: the model is in use ({short}).",
            output=output,
            fix="Unload it first (`docker model unload MODEL`), or retry when idle.",
            backend=BACKEND,
        )
    if 400 <= status < 500:
        if model and _MODEL_NOT_FOUND.search(message):
            return missing_model(model, kind, url, short)
        return BadRequestError(f"The server refused the request: {status} {short}", output=output, backend=BACKEND)
    if status >= 500 and "unable to load runner" in message.lower():
        return GenerationError(
            f"Docker Model Runner could not load the model ({status}).",
            output=output,
            fix="Check memory and the model with `docker model logs`; a smaller model or context may fit.",
            backend=BACKEND,
        )
    label = f"{status} server error" if status else "an error event in the stream"
    return GenerationError(
        f"The server answered with {label}.",
        output=output or "(empty body)",
        fix=f"Read the server's answer below; {server_log_hint(kind)}.",
        backend=BACKEND,
    )


def connection_error(url: str, exc: BaseException, *, kind: ServerKind) -> UltraLLMError:
    """The typed error for a connection that could not be opened (refused, unresolvable, timed out)."""
    reason = str(exc) or type(exc).__name__
    if kind is ServerKind.DMR:
        return ModelRunnerNotEnabledError(
            f"Cannot reach Docker Model Runner at {url} ({reason}).", fix=TCP_TIP, backend=BACKEND
        )
    return BackendUnavailableError(
        f"Cannot reach the model server at {url} ({reason}).",
        fix="Start the server (for llama.cpp: `llama-server -m FILE.gguf --port PORT`), or correct MODEL_RUNNER_URL.",
        backend=BACKEND,
    )
