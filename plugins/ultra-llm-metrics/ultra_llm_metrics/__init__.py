"""Observability for ultra-llm, as middleware around every generation and embedding request.

Installing the plugin changes nothing: set ``ULTRA_LLM_METRICS=1`` to measure every generation
(time to first token, tokens per second, total time) and count requests and errors per backend,
model and operation. Each measurement is logged on the ``ultra_llm.metrics`` logger (INFO, the
figures in the record's ``ultra_llm_metrics`` attribute) and, when ``opentelemetry-api`` is
importable, recorded as an OpenTelemetry span (``ULTRA_LLM_METRICS_OTEL=0`` turns spans off).

``snapshot()`` returns the counters; ``reset()`` zeroes them; ``use_tracer_provider()`` points
the spans at a given OpenTelemetry ``TracerProvider`` instead of the global one.
"""

from __future__ import annotations

from typing import Any

__all__ = ["reset", "snapshot", "use_tracer_provider"]


def snapshot() -> dict[str, Any]:
    """The counters since start (or ``reset``), JSON-ready; see ``ultra_llm_metrics.recorder.snapshot``."""
    from .recorder import snapshot as _snapshot

    return _snapshot()


def reset() -> None:
    """Zero every counter."""
    from .recorder import reset as _reset

    _reset()


def use_tracer_provider(provider: Any | None) -> None:
    """Record spans with ``provider`` (an OpenTelemetry ``TracerProvider``); ``None`` goes back to the global one."""
    from .recorder import use_tracer_provider as _use

    _use(provider)
