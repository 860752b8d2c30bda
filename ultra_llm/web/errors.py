"""Typed errors to HTTP: the status each ultra-llm error maps to, and the JSON body that carries it.

The body always has ``error`` (the type), ``message`` (what happened), ``fix`` (what to do),
``backend`` and ``status``. The first matching type in ``STATUS_BY_ERROR`` wins.
"""

from __future__ import annotations

from typing import Any

from ..errors import (
    BackendNotFoundError,
    BackendUnavailableError,
    BadRequestError,
    ConfigurationError,
    GenerationError,
    GenerationTimeoutError,
    InvalidModelNameError,
    InvalidOptionsError,
    ModelNotFoundError,
    PluginError,
    UltraLLMError,
    UnsupportedOperationError,
)

__all__ = ["STATUS_BY_ERROR", "WebError", "error_body", "status_for"]


class WebError(UltraLLMError):
    """An error only the web layer raises (401 without a valid token ...), with its own ``status``."""

    def __init__(self, message: str, *, status: int, fix: str | None = None) -> None:
        self.status = status
        super().__init__(message, fix=fix)


STATUS_BY_ERROR: tuple[tuple[type[UltraLLMError], int], ...] = (
    (ModelNotFoundError, 404),
    (BackendNotFoundError, 404),
    (BackendUnavailableError, 503),
    (InvalidOptionsError, 422),
    (InvalidModelNameError, 422),
    (ConfigurationError, 422),
    (BadRequestError, 422),
    (GenerationTimeoutError, 504),
    (UnsupportedOperationError, 501),
    (GenerationError, 502),
    (PluginError, 500),
)
"""HTTP status by error type: unknown model or backend 404, runner unavailable 503, bad options,
names or configuration 422, timeout 504, unsupported operation 501, backend failure 502, plugin
fault (and any other ultra-llm error) 500."""


def status_for(error: UltraLLMError) -> int:
    """The HTTP status for ``error`` (500 when no entry of ``STATUS_BY_ERROR`` matches)."""
    if isinstance(error, WebError):
        return error.status
    return next((status for kind, status in STATUS_BY_ERROR if isinstance(error, kind)), 500)


def error_body(error: UltraLLMError) -> dict[str, Any]:
    """``error.to_dict()`` plus its HTTP ``status``: what the API and SSE ``error`` events send."""
    return {**error.to_dict(), "status": status_for(error)}
