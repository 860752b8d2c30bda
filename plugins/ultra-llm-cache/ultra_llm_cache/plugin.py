"""The entry-point module: the cache middleware and the ``cache`` command, nothing heavy at import.

When ``ULTRA_LLM_CACHE`` is unset (or ``off``) the hook returns ``None``: the adapter's chain has
no cache layer and the plugin costs nothing per request. Settings, stores, SQLite and hashing are
imported only when an adapter is made with caching on.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ultra_llm import hookimpl

if TYPE_CHECKING:
    import click

    from ultra_llm.backend import Backend
    from ultra_llm.middleware import Middleware

MODE_VARIABLE = "ULTRA_LLM_CACHE"
OFF_VALUES = frozenset(("", "0", "off", "none", "false", "no"))


def enabled() -> bool:
    """True when ``ULTRA_LLM_CACHE`` asks for a cache (any value but empty, 0, off, none, false, no)."""
    return os.environ.get(MODE_VARIABLE, "").strip().lower() not in OFF_VALUES


@hookimpl(trylast=True)
def ultra_llm_middleware(backend: Backend) -> Middleware | None:
    """Answer deterministic requests from the cache (innermost: next to the backend), when on."""
    if not enabled():
        return None
    from .runtime import CacheMiddleware, current_store

    store = current_store()  # ConfigurationError for a bad variable reaches the caller
    return None if store is None else CacheMiddleware(store)


@hookimpl
def ultra_llm_register_commands(cli: click.Group) -> None:
    """Add ``ultra-llm cache stats|clear``."""
    from .cli import COMMANDS

    for command in COMMANDS:
        cli.add_command(command)
