"""The typed errors of ultra-llm: one root, each error saying what happened and what to do.

Every error carries ``message`` (what happened) and ``fix`` (what to do about it); ``str(error)``
joins them into the one line the CLI prints. Each class says its CLI exit status (``exit_code``)
and HTTP status (``http_status``); subclasses inherit them. No error class is an ``OSError``
(``except OSError`` around a call never catches ours). Backends raise these, never bare exceptions.
A URL's credentials never reach ``message`` or ``fix``: both are masked here (``redact_urls``), once
for every error, so no message can forget.
"""

from __future__ import annotations

from typing import ClassVar

from ._redact import redact_urls

__all__ = [
    "AdapterClosedError",
    "BackendNotFoundError",
    "BackendUnavailableError",
    "BadRequestError",
    "ConfigurationError",
    "ContextLengthExceededError",
    "EmptyPromptError",
    "GenerationError",
    "GenerationTimeoutError",
    "InternalError",
    "InvalidModelNameError",
    "InvalidOptionsError",
    "ModelLoadedError",
    "ModelNotFoundError",
    "OverloadedError",
    "PluginError",
    "ResponseTooLargeError",
    "StreamInterruptedError",
    "StructuredOutputError",
    "UltraLLMError",
    "UnsafePromptError",
    "UnsupportedOperationError",
]


class UltraLLMError(Exception):
    """Root of every ultra-llm error: ``message`` says what happened, ``fix`` what to do."""

    exit_code: ClassVar[int] = 1
    """The ``ultra-llm`` process exit status for this kind of error (subclasses set their own)."""
    http_status: ClassVar[int] = 500
    """The HTTP status the web API answers this kind of error with."""

    default_fix = "Run `ultra-llm doctor` to check the setup step by step."

    def __init__(self, message: str, *, fix: str | None = None, backend: str | None = None) -> None:
        self.message = message = redact_urls(message)
        self.fix = redact_urls(fix) if fix is not None else self.default_fix
        self.backend = backend
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.message} Fix: {self.fix}" if self.fix else self.message

    def to_dict(self) -> dict[str, str | None]:
        """A JSON-ready description: the error's type, message, fix and backend."""
        return {
            "error": type(self).__name__,
            "message": self.message,
            "fix": self.fix,
            "backend": self.backend,
        }


class ConfigurationError(UltraLLMError, ValueError):
    """A setting has a value that is not allowed (names the variable, the value, what is allowed)."""

    exit_code: ClassVar[int] = 2
    http_status: ClassVar[int] = 422

    default_fix = "Correct the variable, or unset it to use the default; `ultra-llm config` shows them."


class BackendNotFoundError(ConfigurationError):
    """A backend was asked for by name and no installed plugin registers it."""

    http_status: ClassVar[int] = 404

    default_fix = "Install the plugin that provides it; `ultra-llm backends` lists the registered ones."


class PluginError(UltraLLMError):
    """A plugin failed to import, register, or answer a hook. Without a ``fix``, the default one
    names ``plugin`` in the variable that skips it."""

    exit_code: ClassVar[int] = 7

    default_fix = (
        "Upgrade or uninstall the plugin, or skip it with ULTRA_LLM_DISABLE_PLUGINS=<name>; "
        "`ultra-llm plugins` shows the error."
    )

    def __init__(self, message: str, *, plugin: str, fix: str | None = None) -> None:
        self.plugin = plugin
        if fix is None and plugin:
            fix = self.default_fix.replace("<name>", plugin)
        super().__init__(message, fix=fix)


class InvalidOptionsError(UltraLLMError, ValueError):
    """Generation options the backend does not accept, or values out of range."""

    exit_code: ClassVar[int] = 2
    http_status: ClassVar[int] = 422

    default_fix = "Pass only the options the backend supports; `ultra-llm backends` lists them."


class EmptyPromptError(InvalidOptionsError):
    """The prompt's last user message has no text (empty or only white space): nothing to answer."""

    default_fix = "Write the question in the prompt (the last user message must have some text)."


class UnsafePromptError(InvalidOptionsError):
    """The prompt holds text the backend would act on instead of sending (a file it would read)."""

    default_fix = "Rephrase that part of the prompt."


class InvalidModelNameError(UltraLLMError, ValueError):
    """A model name the backend cannot accept (its grammar says why)."""

    exit_code: ClassVar[int] = 2
    http_status: ClassVar[int] = 422

    default_fix = "Use a name `ultra-llm models` lists."


class UnsupportedOperationError(UltraLLMError):
    """The backend does not offer this operation (embeddings, pull, remove ...)."""

    http_status: ClassVar[int] = 501

    default_fix = "Select a backend that supports it; `ultra-llm backends` lists their capabilities."


class AdapterClosedError(UltraLLMError, RuntimeError):
    """A call on an adapter after ``aclose()`` (or a ``SyncAdapter`` after ``close()``): its backend's
    clients, pools and processes are gone, so nothing is sent."""

    http_status: ClassVar[int] = 503

    default_fix = (
        "Make a new adapter (`create_adapter()`, `create_adapter_sync()`) for further calls, or close "
        "this one only when done with it (`async with`, `with`)."
    )

    def __init__(self, backend: str) -> None:
        super().__init__(f"The adapter for backend '{backend}' is closed: it makes no more calls.", backend=backend)


class ModelLoadedError(UltraLLMError):
    """The server refused to change a model's settings because the model is loaded and serving a
    request (e.g. a ``409``); ``model`` names it. Nothing was
    unloaded: unloading cuts other users' requests, so only the caller decides it."""

    exit_code: ClassVar[int] = 8
    http_status: ClassVar[int] = 409

    def __init__(self, model: str, *, detail: str | None = None, backend: str | None = None) -> None:
        self.model = model
        message = f"Model '{model}' is loaded and in use, so the server kept its settings"
        message += f" ({detail})." if detail else "."
        super().__init__(
            message,
            fix=f"Retry when its requests have finished, or unload it first: `ultra-llm unload {model}`, then "
            f"configure again (`ultra-llm configure {model} --unload ...` does both on purpose).",
            backend=backend,
        )


class BackendUnavailableError(UltraLLMError):
    """The backend cannot serve requests right now (binary missing, daemon down, server off ...)."""

    exit_code: ClassVar[int] = 3
    http_status: ClassVar[int] = 503

    default_fix = "Run `ultra-llm doctor` to see which step fails and how to fix it."


class OverloadedError(BackendUnavailableError):
    """The server is at capacity: it refused the request (429, or busy) after every retry."""

    default_fix = "Retry later, lower the number of concurrent requests, or give the call a fallback model."


class ModelNotFoundError(UltraLLMError, LookupError):
    """The model is not available; ``fix`` is the backend's way to get it (a pull command ...)."""

    exit_code: ClassVar[int] = 4
    http_status: ClassVar[int] = 404

    def __init__(
        self, model: str, *, backend: str | None = None, detail: str | None = None, fix: str | None = None
    ) -> None:
        self.model = model
        message = f"Model '{model}' was not found."
        if detail:
            message = f"{message} ({detail})"
        super().__init__(
            message,
            fix=fix
            or f"`ultra-llm models` lists the models there are; `ultra-llm pull {model}` fetches it "
            "where the backend can pull.",
            backend=backend,
        )


class GenerationError(UltraLLMError):
    """The backend failed while generating; ``output`` holds what it said (stderr, stdout, body)."""

    exit_code: ClassVar[int] = 6
    http_status: ClassVar[int] = 502

    default_fix = "Read the backend's output above; `ultra-llm doctor` checks the server."

    def __init__(self, message: str, *, output: str = "", fix: str | None = None, backend: str | None = None) -> None:
        self.output = output
        super().__init__(message, fix=fix, backend=backend)

    def __str__(self) -> str:
        text = super().__str__()
        if self.output:
            text = f"{text}\nBackend output: {self.output.strip()[:2000]}"
        return text


class StreamInterruptedError(GenerationError):
    """The stream ended before it was complete (process died, connection dropped)."""

    default_fix = "Retry the request; if it keeps failing, check the server with `ultra-llm doctor`."


class BadRequestError(GenerationError):
    """The server refused the request as malformed."""

    http_status: ClassVar[int] = 422

    default_fix = "Check the model name and options sent."


class ContextLengthExceededError(BadRequestError):
    """The prompt needs more tokens than the model's context holds."""

    def __init__(
        self,
        message: str,
        *,
        requested: int | None = None,
        available: int | None = None,
        output: str = "",
        backend: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.requested = requested
        self.available = available
        fix = fix or "Shorten the prompt, or serve the model with a larger context."
        super().__init__(message, output=output, fix=fix, backend=backend)


class ResponseTooLargeError(GenerationError):
    """The backend sent more than the configured size cap."""

    default_fix = "Raise the backend's response size cap, or ask for a shorter answer (max_tokens)."


class StructuredOutputError(GenerationError):
    """An answer that should be JSON (a response format, tool-call arguments) is not: ``output``
    keeps the raw text, ``finish_reason`` why the model stopped (``"length"``: cut by ``max_tokens``)."""

    default_fix = "Ask again; if the model keeps failing, give it a simpler schema."

    def __init__(
        self,
        message: str,
        *,
        output: str = "",
        finish_reason: str | None = None,
        fix: str | None = None,
        backend: str | None = None,
    ) -> None:
        self.finish_reason = finish_reason
        super().__init__(message, output=output, fix=fix, backend=backend)


class GenerationTimeoutError(UltraLLMError):
    """The backend did not answer in time; ``timeout`` is the limit in seconds that ran out."""

    exit_code: ClassVar[int] = 5
    http_status: ClassVar[int] = 504

    def __init__(
        self, message: str, *, timeout: float | None = None, fix: str | None = None, backend: str | None = None
    ) -> None:
        self.timeout = timeout
        super().__init__(
            message,
            fix=fix or "Increase the timeout (ULTRA_LLM_TIMEOUT) or use a smaller model.",
            backend=backend,
        )

    @classmethod
    def first_token(
        cls,
        who: str,
        *,
        first_token_timeout: float,
        total_timeout: float,
        backend: str | None = None,
        total_setting: str = "ULTRA_LLM_TIMEOUT",
        waiting: str | None = None,
    ) -> GenerationTimeoutError:
        """The one error for a first-token deadline passing (the adapter raises it): ``who`` gave no
        answer ("backend 'X'"), ``waiting`` is why, as the backend said ("URL was still loading the
        model"). The message and fix name the setting whose limit fired: the first-token deadline is
        never later than the total, so ``total_setting`` when it is not shorter ("the call's timeout"
        for a per-call ``timeout=``)."""
        if first_token_timeout < total_timeout:
            limit, setting = first_token_timeout, "ULTRA_LLM_FIRST_TOKEN_TIMEOUT"
            raise_it = "raise ULTRA_LLM_FIRST_TOKEN_TIMEOUT"
        else:
            limit, setting = total_timeout, f"{total_setting}, which caps ULTRA_LLM_FIRST_TOKEN_TIMEOUT"
            raise_it = f"raise {total_setting} and ULTRA_LLM_FIRST_TOKEN_TIMEOUT"
        why = f": {waiting}" if waiting else ""
        return cls(
            f"No answer from {who} within the {limit:g} s first-token timeout ({setting}){why}.",
            timeout=limit,
            fix=f"A cold model load takes tens of seconds: {raise_it}, retry once the model is loaded, "
            "or use a smaller model.",
            backend=backend,
        )


class InternalError(UltraLLMError):
    """An untyped exception reached the command line: a bug in ultra-llm or in a plugin. Nothing
    raises it on purpose; the CLI wraps what escaped (``__cause__``) so it ends in one line."""

    exit_code: ClassVar[int] = 70
    """``EX_SOFTWARE`` of ``sysexits.h``: distinct from every typed error's status."""

    default_fix = (
        "This is a bug: run the command again with --debug to see the traceback, and report it with "
        "that traceback to the project (or the plugin it names)."
    )

    @classmethod
    def wrapping(cls, exc: BaseException) -> InternalError:
        """The error shown for ``exc``: its type and message (cut to 200 characters), ``exc`` its cause."""
        said = str(exc)
        said = said if len(said) <= 200 else said[:197] + "..."
        error = cls(f"Internal error: an untyped {type(exc).__name__} escaped" + (f": {said}" if said else "."))
        error.__cause__ = exc
        return error
