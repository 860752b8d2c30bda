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
    from collections.abc import Callable

    from ..adapter import Adapter
    from ..config import UltraConfig
    from ..host import PluginHost

__all__ = ["RESELECT_SECONDS", "WebService"]

RESELECT_SECONDS = 15.0


class WebService:
    """Adapters for the API, by backend name; safe for concurrent requests on one event loop."""

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
        self._lock: asyncio.Lock | None = None

    @property
    def host(self) -> PluginHost:
        """The plugin host (the process-wide one unless one was given)."""
        if self._host is None:
            from ..host import get_host

            self._host = get_host()
        return self._host

    @property
    def config(self) -> UltraConfig:
        """The core configuration (read from the environment on first use unless one was given)."""
        if self._config is None:
            from ..config import load_config

            self._config = load_config()
        return self._config

    def _get_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def adapter(self, backend: str | None = None) -> Adapter:
        """The adapter for ``backend`` (default: as configured, with fallback); typed errors if none can serve."""
        from ..factory import create_adapter

        async with self._get_lock():
            if backend:
                name = self.host.resolve_backend_name(backend)
                if name not in self._adapters:
                    strict = dataclasses.replace(self.config, fallback="none")
                    self._adapters[name] = await create_adapter(backend=name, host=self.host, config=strict)
                return self._adapters[name]
            if self._default is not None and self.clock() < self._default_until:
                return self._adapters[self._default]
            adapter = await create_adapter(host=self.host, config=self.config)
            name = adapter.name
            if name in self._adapters:
                await adapter.aclose()
            else:
                self._adapters[name] = adapter
            self._default = name
            fell_back = adapter.selection.fell_back
            self._default_until = self.clock() + RESELECT_SECONDS if fell_back else float("inf")
            return self._adapters[name]

    async def aclose(self) -> None:
        """Close every adapter (their clients and processes); the service may be used again after."""
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
        from ..status import describe_backends

        return await describe_backends(self.host, self.config, options_schemas=True)

    async def doctor(self) -> list[dict[str, Any]]:
        """The checks ``ultra-llm doctor`` makes (without its smoke generation), as dicts, in order.

        Stops at the first failing required check, as the doctor does.
        """
        from ..status import run_checks

        checks = await run_checks(self.host, config=self._config)
        return [check.to_dict() for check in checks]
