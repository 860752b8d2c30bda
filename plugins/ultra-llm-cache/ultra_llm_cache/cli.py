"""``ultra-llm cache stats|clear``: the cache's hit and miss counts, and emptying it.

``COMMANDS`` follows the convention of ``ultra_llm._cli`` command modules. A memory cache lives in
one process, so from the command line only a SQLite cache has entries and persistent counts.
"""

from __future__ import annotations

import click

from ultra_llm.errors import UltraLLMError
from ultra_llm.plugin import echo_json, handle_errors

__all__ = ["COMMANDS", "cache"]


@click.group()
def cache() -> None:
    """Inspect or empty the response cache (ultra-llm-cache; enable with ULTRA_LLM_CACHE=memory|sqlite)."""


@cache.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def stats(as_json: bool) -> None:
    """Show the cache's mode, entries, hits and misses."""
    from . import stats as cache_stats

    figures = cache_stats()
    if as_json:
        echo_json(figures)
        return
    if figures["mode"] == "off":
        click.echo("Caching is off. Enable it with ULTRA_LLM_CACHE=memory or ULTRA_LLM_CACHE=sqlite.")
        return
    store = figures["store"] or {}
    if "error" in store:
        raise UltraLLMError(
            f"The cache file {figures['path']} cannot be read: {store['error']}.",
            fix="`ultra-llm cache clear` rebuilds it empty.",
        )
    click.echo(f"Mode:    {figures['mode']}")
    if figures["path"]:
        click.echo(f"Path:    {figures['path']}")
    click.echo(f"Entries: {store.get('entries', 0)} (at most {store.get('max_entries')})")
    if figures["mode"] == "sqlite":
        total = store["hits"] + store["misses"]
        rate = f" ({store['hits'] / total:.0%} hit rate)" if total else ""
        click.echo(f"Hits:    {store['hits']}{rate}")
        click.echo(f"Misses:  {store['misses']}")
    else:
        click.echo("A memory cache lives in one process: use ultra_llm_cache.stats() in the application.")


@cache.command()
@handle_errors
def clear() -> None:
    """Remove every cached answer and reset the counters."""
    from . import clear as cache_clear
    from . import stats as cache_stats

    error = (cache_stats()["store"] or {}).get("error")
    removed = cache_clear()
    if error:
        click.echo(f"The cache file was damaged ({error}); rebuilt it empty.")
        return
    click.echo(f"Removed {removed} cached answers.")


COMMANDS = [cache]
