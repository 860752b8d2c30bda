"""The state behind the API: the plugin host, the configuration, and one adapter per backend.

Adapters are created on first use and kept until ``aclose()`` (so a backend's clients and, for
a stand-in, its pulled models live as long as the app). A request naming no backend gets the one the
configuration selects; when that one was unavailable and the fallback served, the choice is
re-checked at most every ``RESELECT_SECONDS``. A request naming a backend never falls back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .._adapter import Adapter
    from .._config import UltraConfig
    from .._host import PluginHost

__all__ = ["RESELECT_SECONDS", "WebService"]

RESELECT_SECONDS = 15.0


class WebService:
    """Adapters for the API, by backend name; safe for concurrent requests on one event loop, and no
    request waits for another backend's adapter to be made."""

    def __init__(
        self,
        *,
        host: PluginHost | None = None,
        config: UltraConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._host = host
        self.clock = clock
        """Seconds, monotonic: when to re-select after a fallback (injectable: tests pass a fake one)."""
        self._config = config
        self._adapters: dict[str, Adapter] = {}
        self._default: str | None = None
        self._default_until = 0.0
        self._pending: dict[str | None, asyncio.Future[Adapter]] = {}

    @property
    def host(self) -> PluginHost:
        """The plugin host (the process-wide one unless one was given)."""
        if self._host is None:
            from .._host import get_host

            self._host = get_host()
        return self._host

    @property
    def config(self) -> UltraConfig:
        """The core configuration (read from the environment on first use unless one was given)."""
        if self._config is None:
            from .._config import load_config

            self._config = load_config()
        return self._config

    async def adapter(self, backend: str | None = None) -> Adapter:
        """The adapter for ``backend`` (default: as configured, with fallback); typed errors if none can serve.

        No lock is held while an adapter is made (its availability check may wait on a hung server):
        concurrent requests for the same backend share one creation, the others do not wait for it.
        """
        if backend:
            name = self.host.resolve_backend_name(backend)
            found = self._adapters.get(name)
            return found if found is not None else await self._once(name, lambda: self._create(name))
        if self._default is not None and self.clock() < self._default_until:
            return self._adapters[self._default]
        return await self._once(None, self._select_default)

    async def _once(self, key: str | None, make: Callable[[], Awaitable[Adapter]]) -> Adapter:
        """Await the creation of ``key`` in flight, started now when there is none. A request that is
        cancelled (its client left) does not cancel the creation the others wait for."""
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(make())
            self._pending[key] = pending

            def done(task: asyncio.Future[Adapter]) -> None:
                if self._pending.get(key) is task:
                    del self._pending[key]
                if not task.cancelled():
                    task.exception()  # retrieved: a failure nobody awaits any more is not logged

            pending.add_done_callback(done)
        return await asyncio.shield(pending)

    async def _keep(self, adapter: Adapter) -> Adapter:
        """Store ``adapter`` under its name, unless one was made meanwhile: that one is kept, this one closed."""
        kept = self._adapters.setdefault(adapter.name, adapter)
        if kept is not adapter:
            await adapter.aclose()
        return kept

    async def _create(self, name: str) -> Adapter:
        from .._factory import create_adapter

        strict = dataclasses.replace(self.config, fallback="none")
        return await self._keep(await create_adapter(backend=name, host=self.host, config=strict))

    async def _select_default(self) -> Adapter:
        from .._factory import create_adapter

        adapter = await create_adapter(host=self.host, config=self.config)
        kept = await self._keep(adapter)
        self._default = kept.name
        fell_back = adapter.selection.fell_back
        self._default_until = self.clock() + RESELECT_SECONDS if fell_back else float("inf")
        return kept

    async def aclose(self) -> None:
        """Close every adapter (their clients and processes); the service may be used again after."""
        for pending in list(self._pending.values()):
            pending.cancel()
        adapters = list(self._adapters.values())
        self._adapters.clear()
        self._default = None
        for adapter in adapters:
            try:
                await adapter.aclose()
            except Exception:  # closing must not stop the others from closing
                continue

    # -- status -----------------------------------------------------------------------------------

    async def backends(self) -> dict[str, Any]:
        """Every registered backend with availability, capabilities and options schema, and the selection."""
        from .._status import describe_backends

        return await describe_backends(self.host, self.config, options_schemas=True)

    async def doctor(self) -> list[dict[str, Any]]:
        """The checks ``ultra-llm doctor`` makes (without its smoke generation), as dicts, in order.

        Stops at the first failing required check, as the doctor does.
        """
        from .._status import run_checks

        checks = await run_checks(self.host, config=self._config)
        return [check.to_dict() for check in checks]
