"""Making adapters: from the environment (``create_adapter``) or by backend name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._adapter import Adapter
    from ._config import UltraConfig
    from ._host import PluginHost
    from ._sync import SyncAdapter

__all__ = ["create_adapter", "create_adapter_sync"]


async def create_adapter(
    model: str | None = None,
    *,
    backend: str | None = None,
    config: UltraConfig | None = None,
    host: PluginHost | None = None,
    check: bool = True,
    settings: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> Adapter:
    """An adapter chosen as the environment says (``ULTRA_LLM_BACKEND``, else the plugins'
    ``ultra_llm_select_backend``, else the stand-in), for ``model`` (default ``DEFAULT_MODEL``), with
    the fallback policy applied.

    ``backend`` names a backend explicitly; ``overrides`` set ``UltraConfig`` fields by name;
    ``settings`` set the backend's own settings for this adapter (a ``settings_model``'s fields, e.g. ``{"url": ...}``);
    ``check=False`` skips the availability check (and so the fallback).
    """
    from ._adapter import Adapter
    from ._config import load_config
    from ._host import get_host
    from ._selection import select_backend

    config = config or load_config(**overrides)
    host = host or get_host()
    chosen, selection = await select_backend(host, config, backend=backend, check=check, settings=settings)
    return Adapter(host, chosen, model=model, config=config, selection=selection)


def create_adapter_sync(model: str | None = None, **kwargs: Any) -> SyncAdapter:
    """``create_adapter`` for code without an event loop: ``with create_adapter_sync() as llm:
    llm.generate("hi")``. The adapter lives on its own loop thread until ``close()``."""
    from ._sync import LoopThread, SyncAdapter

    loop = LoopThread()
    try:
        adapter = loop.run(create_adapter(model, **kwargs))
    except BaseException:
        loop.close()
        raise
    return SyncAdapter(adapter, loop)
