"""The entry-point module: the two wrapper hooks, and nothing heavy at import.

When ``ULTRA_LLM_CACHE`` is unset (or ``off``) each hook hands back the inner call unchanged, so
the plugin costs one environment lookup per generation. Settings, stores, SQLite and hashing are
imported only on the first generation with caching on.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import TYPE_CHECKING

from ultra_llm import hookimpl

if TYPE_CHECKING:
    import click

    from ultra_llm.types import GenerateCall, GenerationRequest, StreamCall

MODE_VARIABLE = "ULTRA_LLM_CACHE"
OFF_VALUES = frozenset(("", "0", "off", "none", "false", "no"))


def enabled() -> bool:
    """True when ``ULTRA_LLM_CACHE`` asks for a cache (any value but empty, 0, off, none, false, no)."""
    return os.environ.get(MODE_VARIABLE, "").strip().lower() not in OFF_VALUES


@hookimpl(wrapper=True)
def ultra_llm_generate(request: GenerationRequest) -> Generator[None, GenerateCall, GenerateCall]:
    """Answer a deterministic whole generation from the cache, or generate and store it."""
    call = yield
    if not enabled():
        return call
    from .runtime import wrap_generate

    return wrap_generate(request, call)


@hookimpl(wrapper=True)
def ultra_llm_stream(request: GenerationRequest) -> Generator[None, StreamCall, StreamCall]:
    """Replay a deterministic stream's chunks from the cache, or stream, record and store them."""
    call = yield
    if not enabled():
        return call
    from .runtime import wrap_stream

    return wrap_stream(request, call)


@hookimpl
def ultra_llm_register_commands(cli: click.Group) -> None:
    """Add ``ultra-llm cache stats|clear``."""
    from .cli import COMMANDS

    for command in COMMANDS:
        cli.add_command(command)
