"""The cache's settings, from the environment (built on first use, never at plugin load)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Mode = Literal["off", "memory", "sqlite"]


def default_path() -> Path:
    """``$XDG_CACHE_HOME/ultra-llm/cache.sqlite3`` (``~/.cache`` when XDG_CACHE_HOME is unset)."""
    import os

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ultra-llm" / "cache.sqlite3"


class CacheSettings(BaseSettings):
    """``ULTRA_LLM_CACHE`` and ``ULTRA_LLM_CACHE_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="ULTRA_LLM_CACHE_", case_sensitive=False, extra="ignore")

    mode: Mode = Field(
        "off",
        validation_alias="ULTRA_LLM_CACHE",
        description="off (default), memory (an LRU in this process) or sqlite (a file shared across processes).",
    )
    path: Path | None = Field(None, description="The SQLite file (default: ~/.cache/ultra-llm/cache.sqlite3).")
    max_entries: int = Field(10_000, ge=1, description="Entries kept; the least recently used go first.")
    ttl: float | None = Field(None, gt=0, description="Seconds an entry stays valid (default: forever).")

    @field_validator("mode", mode="before")
    @classmethod
    def _normalise_mode(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            if value in {"", "0", "none", "false", "no"}:
                return "off"
        return value

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file this configuration uses."""
        return self.path or default_path()
