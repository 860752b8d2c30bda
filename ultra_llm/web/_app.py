"""``create_app()``: the standalone app ``ultra-llm serve`` runs (API at ``/api``, console at ``/``).

Security by default: with no token the app answers only requests whose Host is loopback (the
loopback address it was bound to included) or listed in ``ULTRA_LLM_WEB_ALLOWED_HOSTS``; with a token
every API call needs ``Authorization: Bearer``. CORS is off unless ``ULTRA_LLM_WEB_CORS_ORIGINS`` lists
origins. Bodies above the cap get 413.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from .. import __version__
from ._console import create_console_router
from ._errors import TextSafeJSONResponse, schema_pointer
from ._middleware import BodyLimitMiddleware, HostCheckMiddleware
from ._router import create_router
from ._service import WebService
from ._settings import WebSettings

if TYPE_CHECKING:
    from .._config import UltraConfig
    from .._host import PluginHost

__all__ = ["API_PREFIX", "create_app"]

API_PREFIX = "/api"


def create_app(
    *,
    settings: WebSettings | None = None,
    host: PluginHost | None = None,
    config: UltraConfig | None = None,
    service: WebService | None = None,
    console: bool = True,
    bind_host: str | None = None,
) -> FastAPI:
    """The standalone FastAPI app: the API under ``/api`` (its schema at ``/api/openapi.json``) and the
    console at ``/``. No docs page is served: Swagger UI loads its script from a CDN, and no
    third-party script may run on the origin where the console keeps its token.

    ``settings`` default to ``ULTRA_LLM_WEB_*`` from the environment; ``host``/``config`` (or a ready
    ``service``) choose the plugin host and core configuration. When ``bind_host`` is given and is
    not loopback, a token is required (``ConfigurationError`` otherwise).
    """
    settings = settings or WebSettings.load()
    if bind_host is not None:
        settings.check_bind(bind_host)
    token = None if settings.token is None else settings.token.get()
    app = FastAPI(
        title="ultra-llm",
        version=__version__,
        summary="Local LLMs through ultra-llm's backends: models, pulls, generation, embeddings.",
        docs_url=None,
        redoc_url=None,
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    app.include_router(
        create_router(service=service or WebService(host=host, config=config), token=token), prefix=API_PREFIX
    )
    if console:
        app.include_router(create_console_router())
    origins = settings.cors_origin_list
    if origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if token is None:
        app.add_middleware(HostCheckMiddleware, allowed=settings.allowed_hosts_for(bind_host))
    app.state.web_settings = settings
    _document_streams_as_events(app)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    return app


def _document_streams_as_events(app: FastAPI) -> None:
    """Document each event stream as what it sends, one server-sent event at a time (OpenAPI 3.2's
    way): an ``event`` name and a ``data`` string holding JSON of one of the listed bodies. FastAPI
    would call the stream a string with that ``anyOf`` on it."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                content = operation.get("responses", {}).get("200", {}).get("content", {})
                stream = content.get("text/event-stream")
                if stream is not None and "anyOf" in stream.get("schema", {}):
                    bodies = {"anyOf": stream["schema"]["anyOf"]}
                    stream["schema"] = {
                        "type": "object",
                        "properties": {
                            "event": {"type": "string"},
                            "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": bodies},
                        },
                        "required": ["event", "data"],
                    }
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no such route, method not allowed) in the API's error body."""
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", "") or "Error"
    body = {
        "error": "NotFound" if status == 404 else "HTTPError",
        "message": f"{detail}: {request.method} {request.url.path}.",
        "fix": f"Use a route {schema_pointer(request)} lists.",
        "backend": None,
        "status": status,
    }
    return TextSafeJSONResponse(body, status_code=status, headers=getattr(exc, "headers", None))
