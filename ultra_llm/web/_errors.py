"""Typed errors to HTTP: the JSON body that carries an ultra-llm error and its status.

The body always has ``error`` (the type), ``message`` (what happened), ``fix`` (what to do),
``backend`` and ``status`` (the error class's ``http_status``).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse

from ..errors import UltraLLMError

__all__ = ["TextSafeJSONResponse", "WebError", "error_body"]


class TextSafeJSONResponse(JSONResponse):
    """``JSONResponse`` that renders any string: text holding a lone surrogate (which UTF-8 cannot
    carry) is sent ``\\u``-escaped instead of failing with a 500 after the status was chosen."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, allow_nan=False, separators=(",", ":")).encode("ascii")


class WebError(UltraLLMError):
    """An error only the web layer raises (401 without a valid token ...), with its own ``status``."""

    def __init__(self, message: str, *, status: int, fix: str | None = None) -> None:
        self.http_status = status  # type: ignore[misc]  # an instance's own status overrides the class's
        super().__init__(message, fix=fix)


def error_body(error: UltraLLMError) -> dict[str, Any]:
    """``error.to_dict()`` plus its HTTP ``status``: what the API and SSE ``error`` events send."""
    return {**error.to_dict(), "status": error.http_status}
