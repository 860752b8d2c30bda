"""Typed errors to HTTP: the JSON body that carries an ultra-llm error and its status.

The body always has ``error`` (the type), ``message`` (what happened), ``fix`` (what to do),
``backend`` and ``status`` (the error class's ``http_status``).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from ..errors import UltraLLMError

__all__ = ["TextSafeJSONResponse", "WebError", "error_body", "schema_pointer"]


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


def schema_pointer(request: Request) -> str:
    """The API's schema, as an error's ``fix`` names it: "the OpenAPI schema (URL)", URL being where the
    app serving ``request`` publishes it (its root path and ``openapi_url``: ``/api/openapi.json`` for
    ``ultra-llm serve``, the host app's own when Ultra mounts the router), derived from the app so it
    cannot point elsewhere; "the API's OpenAPI schema" when that app publishes none."""
    url = getattr(request.app, "openapi_url", None)
    if not url:
        return "the API's OpenAPI schema"
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return f"the OpenAPI schema ({root}{url})"
