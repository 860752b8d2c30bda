"""The metrics plugin's variables, as a pydantic-settings model for ``ultra-llm config``-style references.

The hooks read the two variables directly (one environment lookup per call, no model built), with
the meanings written here; this class exists so the documentation renders them from one place.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MetricsSettings(BaseSettings):
    """``ULTRA_LLM_METRICS`` and ``ULTRA_LLM_METRICS_OTEL``."""

    model_config = SettingsConfigDict(env_prefix="ULTRA_LLM_METRICS_", case_sensitive=False, extra="ignore")

    enabled: bool = Field(
        False,
        validation_alias="ULTRA_LLM_METRICS",
        description="1 to measure every generation (logger ultra_llm.metrics, OpenTelemetry spans); off by default.",
    )
    otel: bool = Field(
        True,
        description="0 to emit no OpenTelemetry spans even when opentelemetry-api is installed (logging only).",
    )
