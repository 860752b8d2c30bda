"""An adapter over a backend instance, for testing a backend where applications meet it.

The adapter owns the deadlines (``ultra_llm._deadline``): a backend's first-token and total timeouts,
and their one wording, are only seen through it. ``adapter_over(backend)`` wraps an instance a test
built (its own settings, clocks, URL) with no plugins and no availability check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._adapter import Adapter
    from .._backend import Backend

__all__ = ["adapter_over"]


def adapter_over(backend: Backend, model: str | None = None) -> Adapter:
    """An ``Adapter`` over ``backend`` with its ``config`` (timeouts included) and no middleware,
    for ``model`` (default: the backend's default model). Close it (``async with``) to close the backend."""
    from .._adapter import Adapter
    from .._host import PluginHost
    from .._selection import Selection

    return Adapter(
        PluginHost(entry_points=lambda: []),
        backend,
        model=model,
        config=backend.config,
        selection=Selection(backend.name, "a test", backend.name),
    )
