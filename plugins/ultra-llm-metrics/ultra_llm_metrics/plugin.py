"""The entry-point module: the outermost middleware, and nothing heavy at import.

``tryfirst`` makes the metrics middleware the outermost layer, so it times what the caller waits
for, cache hits included. With ``ULTRA_LLM_METRICS`` unset the hook returns ``None`` and the
adapter's chain has no metrics layer at all.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ultra_llm import hookimpl

if TYPE_CHECKING:
    from ultra_llm.backend import Backend
    from ultra_llm.middleware import Middleware

ENABLE_VARIABLE = "ULTRA_LLM_METRICS"


def enabled() -> bool:
    """True when ``ULTRA_LLM_METRICS`` is 1, true, yes or on."""
    return os.environ.get(ENABLE_VARIABLE, "").strip().lower() in {"1", "true", "yes", "on"}


@hookimpl(tryfirst=True)
def ultra_llm_middleware(backend: Backend) -> Middleware | None:
    """Time and count every generation, stream and embedding request on ``backend`` (when on)."""
    if not enabled():
        return None
    from .recorder import MetricsMiddleware

    return MetricsMiddleware()
