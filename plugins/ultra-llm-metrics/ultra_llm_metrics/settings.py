"""The metrics plugin's variables, read once per adapter by its middleware hook."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ultra_llm.plugin import Settings, setting


@dataclass(frozen=True)
class MetricsSettings(Settings):
    """``ULTRA_LLM_METRICS`` and ``ULTRA_LLM_METRICS_OTEL``."""

    env_prefix: ClassVar[str] = "ULTRA_LLM_METRICS_"

    enabled: bool = setting(
        False,
        env="ULTRA_LLM_METRICS",
        help="1 to measure every generation (logger ultra_llm.metrics, OpenTelemetry spans); off by default.",
    )
    otel: bool = setting(
        True, help="0 to emit no OpenTelemetry spans even when opentelemetry-api is installed (logging only)."
    )
