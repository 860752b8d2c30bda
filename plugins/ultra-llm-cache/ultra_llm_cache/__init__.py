"""Opt-in response caching for ultra-llm, as middleware next to the backend.

Installing the plugin changes nothing: set ``ULTRA_LLM_CACHE=memory`` (an LRU in this process) or
``ULTRA_LLM_CACHE=sqlite`` (a file shared by threads and processes, ``ULTRA_LLM_CACHE_PATH``) to
turn it on. Only deterministic requests are cached: ``temperature`` 0 or a fixed ``seed``. The key
is a SHA-256 of the backend and its endpoint (``Backend.served_from()``), model, messages, options and
call kind (whole or streamed).

``stats()`` and ``clear()`` are the programmatic view; ``ultra_llm_cache.cli.COMMANDS`` holds the
``ultra-llm cache stats|clear`` commands. Importing this package imports nothing heavy.
"""

from __future__ import annotations

from typing import Any

__all__ = ["clear", "stats"]


def stats() -> dict[str, Any]:
    """Hit and miss counts, JSON-ready: the configured mode, this process's counters, the store's figures.

    ``{"mode": "off"|"memory"|"sqlite", "path": str|None, "process": {"hits", "misses", "skipped",
    "stored", "errors"}, "store": {"entries", ...}|None}``. ``process`` counts lookups made in this
    process since start (``skipped``: non-deterministic requests passed through); ``store`` is
    ``None`` when caching is off, and for SQLite adds the file's persistent ``hits`` and ``misses``
    over every process that used it (``{"error": ...}`` when the file cannot be read).
    Raises ``ConfigurationError`` when the variables are invalid.
    """
    from .runtime import stats as _stats

    return _stats()


def clear() -> int:
    """Empty the configured store (and reset its persistent counters); return the entries removed (0 when off)."""
    from .runtime import clear as _clear

    return _clear()
