"""The web console: three static files served from package data, with a strict CSP.

The page is public (it holds no secret); the API it calls needs the token when one is set, and
the page asks for it (or reads it from the URL fragment ``#token=...``, which browsers never send).
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, HTTPException
from starlette.responses import Response

__all__ = ["ASSETS", "create_console_router"]

ASSETS: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
}
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


def _asset(name: str) -> Response:
    if name not in ASSETS:
        raise HTTPException(404)
    data = resources.files("ultra_llm.web").joinpath("static").joinpath(name).read_bytes()
    return Response(data, media_type=ASSETS[name], headers=SECURITY_HEADERS)


def create_console_router() -> APIRouter:
    """``GET /`` (the page) and ``GET /console/{name}`` (its CSS and JS); the page calls the API at ``api/``."""
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    async def index() -> Response:
        return _asset("index.html")

    @router.get("/console/{name}")
    async def asset(name: str) -> Response:
        return _asset(name)

    return router
