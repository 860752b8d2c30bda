"""The entry-point module: the outermost middleware, and nothing heavy at import.

``tryfirst`` makes the metrics middleware the outermost layer, so it times what the caller waits
for, cache hits included. With ``ULTRA_LLM_METRICS`` unset the hook returns ``None`` and the
adapter's chain has no metrics layer at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ultra_llm.plugin import hookimpl

if TYPE_CHECKING:
    from ultra_llm.plugin import Backend, Middleware, SettingsRegistrar


@hookimpl
def ultra_llm_register_settings(register: SettingsRegistrar) -> None:
    """``ULTRA_LLM_METRICS`` and ``ULTRA_LLM_METRICS_OTEL`` in ``ultra-llm config``."""
    register("metrics", "ultra_llm_metrics.settings:MetricsSettings")


@hookimpl(tryfirst=True)
def ultra_llm_middleware(backend: Backend) -> Middleware | None:
    """Time and count every generation, stream and embedding request on ``backend`` (when on)."""
    from .settings import MetricsSettings

    settings = MetricsSettings.load()
    if not settings.enabled:
        return None
    from .recorder import MetricsMiddleware

    return MetricsMiddleware(otel=settings.otel)
