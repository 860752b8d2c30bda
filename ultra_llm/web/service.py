"""The state behind the API: the plugin host, the configuration, and one adapter per backend.

Adapters are created on first use and kept until ``aclose()`` (so a backend's clients and, for
the mock, its pulled models live as long as the app). A request naming no backend gets the one the
configuration selects; when that one was unavailable and the fallback served, the choice is
re-checked at most every ``RESELECT_SECONDS``. A request naming a backend never falls back.
"""

from __future__ import annotations

import asyncio
import platform
import time
from typing import TYPE_CHECKING, Any

from ..errors import UltraLLMError

if TYPE_CHECKING:
    from ..adapter import Adapter
    from ..config import UltraConfig
    from ..host import PluginHost

__all__ = ["RESELECT_SECONDS", "WebService"]

RESELECT_SECONDS = 15.0


class WebService:
    """Adapters for the API, by backend name; safe for concurrent requests on one event loop."""

    def __init__(self, *, host: PluginHost | None = None, config: UltraConfig | None = None) -> None:
        self._host = host
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
                    strict = self.config.model_copy(update={"fallback": "none"})
                    self._adapters[name] = await create_adapter(backend=name, host=self.host, config=strict)
                return self._adapters[name]
            if self._default is not None and time.monotonic() < self._default_until:
                return self._adapters[self._default]
            adapter = await create_adapter(host=self.host, config=self.config)
            name = adapter.name
            if name in self._adapters:
                await adapter.aclose()
            else:
                self._adapters[name] = adapter
            self._default = name
            fell_back = adapter.selection.fell_back
            self._default_until = time.monotonic() + RESELECT_SECONDS if fell_back else float("inf")
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
        from ..selection import check_backend, choose_backend_name, instantiate

        host, config = self.host, self.config
        specs = host.backends()
        requested, reason = choose_backend_name(config)

        async def describe(name: str) -> dict[str, Any]:
            spec = specs[name]
            row: dict[str, Any] = {
                "name": name,
                "plugin": spec.plugin,
                "summary": spec.summary,
                "aliases": list(spec.aliases),
                "selected": False,
            }
            try:
                cls = spec.load()
                row["capabilities"] = cls.capabilities()
                options_model = cls.options_model
                row["options_schema"] = None if options_model is None else options_model.model_json_schema()
                backend = instantiate(host, name, config)
            except UltraLLMError as exc:
                row.update(available=False, reason=exc.message, fix=exc.fix)
                return row
            except Exception as exc:  # a plugin may raise anything
                row.update(available=False, reason=f"{type(exc).__name__}: {exc}")
                return row
            try:
                availability = await check_backend(backend, config.check_timeout)
            finally:
                await backend.aclose()
            error = availability.error
            row.update(
                available=availability.available,
                reason=availability.detail if availability.available else getattr(error, "message", str(error)),
                fix=None if availability.available else getattr(error, "fix", None),
            )
            return row

        rows = list(await asyncio.gather(*(describe(name) for name in sorted(specs))))
        by_name = {row["name"]: row for row in rows}
        try:
            resolved = host.resolve_backend_name(requested)
        except UltraLLMError:
            resolved = requested
        serving: str | None = resolved
        fallback_reason = None
        if resolved not in by_name or not by_name[resolved]["available"]:
            fallback_reason = by_name[resolved]["reason"] if resolved in by_name else f"'{resolved}' is not installed"
            fallback = by_name.get(config.fallback)
            serving = config.fallback if config.fallback != "none" and fallback and fallback["available"] else None
        if serving in by_name:
            by_name[serving]["selected"] = True
        selection = {
            "requested": resolved,
            "reason": reason,
            "serving": serving,
            "fallback": config.fallback,
            "fallback_reason": fallback_reason,
        }
        return {"selection": selection, "backends": rows}

    async def doctor(self) -> list[dict[str, Any]]:
        """The checks ``ultra-llm doctor`` makes (without its smoke generation), as dicts, in order.

        Stops at the first failing required check, as the doctor does.
        """
        from .. import __version__
        from ..adapter import Adapter
        from ..config import load_config
        from ..selection import Selection, check_backend, choose_backend_name, instantiate

        steps: list[dict[str, Any]] = []

        def add(title: str, ok: bool, detail: str = "", fix: str = "", required: bool = True) -> bool:
            steps.append({"title": title, "ok": ok, "detail": detail, "fix": fix, "required": required})
            return ok

        def failed(title: str, error: Exception, required: bool = True) -> bool:
            if isinstance(error, UltraLLMError):
                return add(title, False, error.message, error.fix, required)
            return add(title, False, f"{type(error).__name__}: {error}", "Check the server's log.", required)

        add("ultra-llm", True, f"{__version__} on Python {platform.python_version()}")
        host = self.host
        host.load()
        specs = host.backends()
        broken = [r for r in host.records.values() if r.status == "failed"]
        add(
            "plugins",
            not broken,
            f"{sum(r.status == 'loaded' for r in host.records.values())} loaded, backends: {', '.join(sorted(specs))}"
            + (f"; failed: {', '.join(f'{r.name} ({r.error})' for r in broken)}" if broken else ""),
            "Fix or uninstall the failing plugin, or skip it with ULTRA_LLM_DISABLE_PLUGINS=<name>.",
            required=False,
        )
        try:
            config = self._config or load_config()
        except UltraLLMError as error:
            failed("configuration", error)
            return steps
        requested, reason = choose_backend_name(config)
        add(
            "configuration",
            True,
            f"backend '{requested}' ({reason}), model '{config.default_model}', fallback '{config.fallback}'",
        )
        try:
            backend = instantiate(host, requested, config)
        except UltraLLMError as error:
            failed(f"backend '{requested}'", error)
            return steps
        try:
            availability = await check_backend(backend, config.check_timeout)
            title = f"backend '{backend.name}' available"
            if not availability.available:
                failed(title, availability.error or RuntimeError(availability.detail))
                return steps
            add(title, True, availability.detail)
            selection = Selection(backend.name, reason, backend.name, availability)
            adapter = Adapter(host, backend, model=config.default_model, config=config, selection=selection)
            try:
                names = await adapter.get_available_models()
            except Exception as error:  # typed or not, it is the check's answer
                failed("models", error)
                return steps
            add("models", True, f"{len(names)} found" + (f": {', '.join(names[:8])}" if names else ""))
            if adapter.model not in names and backend.name != "mock":
                add(
                    f"default model '{adapter.model}'",
                    False,
                    "not found locally",
                    f"docker model pull {adapter.model} (or pull it from this page)",
                    required=False,
                )
        finally:
            await backend.aclose()
        return steps
