"""The cache's settings, from the environment (read when an adapter is made, never at plugin load)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from ultra_llm.plugin import FALSE_WORDS, Settings, setting

MODES = ("off", "memory", "sqlite")


def default_path() -> Path:
    """``$XDG_CACHE_HOME/ultra-llm/cache.sqlite3`` (``~/.cache`` when XDG_CACHE_HOME is unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ultra-llm" / "cache.sqlite3"


def _mode(value: str) -> str:
    word = value.strip().lower()
    if not word or word in FALSE_WORDS or word == "none":
        return "off"
    if word not in MODES:
        raise ValueError(f"must be one of: {', '.join(MODES)}")
    return word


@dataclass(frozen=True)
class CacheSettings(Settings):
    """``ULTRA_LLM_CACHE`` and ``ULTRA_LLM_CACHE_*`` variables."""

    env_prefix: ClassVar[str] = "ULTRA_LLM_CACHE_"

    mode: str = setting(
        "off",
        env="ULTRA_LLM_CACHE",
        help="off (default), memory (an LRU in this process) or sqlite (a file shared across processes).",
        check=_mode,
    )
    path: str | None = setting(None, help="The SQLite file (default: ~/.cache/ultra-llm/cache.sqlite3).")
    max_entries: int = setting(10_000, ge=1, help="Entries kept; the least recently used go first.")
    ttl: float | None = setting(None, gt=0, help="Seconds an entry stays valid (default: forever).")

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file this configuration uses."""
        return Path(self.path) if self.path else default_path()
