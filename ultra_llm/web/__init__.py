"""ultra-llm's web layer (the ``web`` extra): an API router for Ultra, a standalone app, a console.

``create_router()`` gives the ``APIRouter`` Ultra mounts under its own prefix; ``create_app()`` the
standalone app ``ultra-llm serve`` runs, with the console at ``/``. Needs FastAPI (and uvicorn to
serve): ``pip install 'ultra-llm[web]'``. Nothing else in ultra-llm imports this package.
"""

from __future__ import annotations

try:
    import fastapi  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "ultra_llm.web needs FastAPI: install the web extra with `pip install 'ultra-llm[web]'`."
    ) from exc

from ._app import API_PREFIX, create_app
from ._router import create_router
from ._service import WebService
from ._settings import WebSettings

__all__ = [
    "API_PREFIX",
    "WebService",
    "WebSettings",
    "create_app",
    "create_router",
]
