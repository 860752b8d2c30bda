"""The entry-point module: the cache middleware and the ``cache`` command, nothing heavy at import.

The hook reads ``CacheSettings`` once per adapter; when ``ULTRA_LLM_CACHE`` is unset (or ``off``)
it returns ``None``: the adapter's chain has no cache layer and the plugin costs nothing per
request. Stores, SQLite and hashing are imported only when an adapter is made with caching on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ultra_llm.plugin import hookimpl

if TYPE_CHECKING:
    import click

    from ultra_llm.plugin import Backend, Middleware, SettingsRegistrar


@hookimpl(trylast=True)
def ultra_llm_middleware(backend: Backend) -> Middleware | None:
    """Answer deterministic requests from the cache (innermost: next to the backend), when on."""
    from .settings import CacheSettings

    settings = CacheSettings.load()  # ConfigurationError for a bad variable reaches the caller
    if settings.mode == "off":
        return None
    from .runtime import CacheMiddleware, store_for

    store = store_for(settings)
    return None if store is None else CacheMiddleware(store, backend)


@hookimpl
def ultra_llm_register_settings(register: SettingsRegistrar) -> None:
    """``ULTRA_LLM_CACHE`` and ``ULTRA_LLM_CACHE_*`` in ``ultra-llm config``."""
    register("cache", "ultra_llm_cache.settings:CacheSettings")


@hookimpl
def ultra_llm_register_commands(cli: click.Group) -> None:
    """Add ``ultra-llm cache stats|clear``."""
    from .cli import COMMANDS

    for command in COMMANDS:
        cli.add_command(command)
