"""From configuration to a backend: which one is wanted, whether it is available, the fallback.

``-b``/``backend=`` and ``ULTRA_LLM_BACKEND`` win; else the first plugin whose
``ultra_llm_select_backend`` hook chooses one (a name or an alias); else the backend registered as
the stand-in. When the chosen backend is unavailable the fallback policy (``ULTRA_LLM_FALLBACK``)
applies: one warning with the reason and the fix, or the typed error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._faults import PASS_THROUGH
from ._types import Availability
from .errors import (
    BackendNotFoundError,
    BackendUnavailableError,
    ConfigurationError,
    PluginError,
    UltraLLMError,
)

if TYPE_CHECKING:
    from ._backend import Backend
    from ._config import UltraConfig
    from ._host import PluginHost

__all__ = ["Selection", "check_backend", "choose_backend_name", "fallback_name", "instantiate", "select_backend"]

logger = logging.getLogger("ultra_llm")
_warned: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Selection:
    """Which backend was asked for and why, which one serves, and why it differs if it does."""

    requested: str
    reason: str
    backend: str
    availability: Availability | None = None
    fallback_reason: str | None = None
    requested_error: UltraLLMError | None = field(default=None, compare=False, repr=False)
    """Why the requested backend could not serve, when the fallback serves in its place."""

    @property
    def fell_back(self) -> bool:
        """True when the serving backend is the fallback, not the requested one."""
        return self.backend != self.requested

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "requested": self.requested,
            "reason": self.reason,
            "backend": self.backend,
            "available": None if self.availability is None else self.availability.available,
            "fallback_reason": self.fallback_reason,
        }


def choose_backend_name(config: UltraConfig, host: PluginHost) -> tuple[str, str]:
    """The backend the configuration asks for, and what decided it: ``ULTRA_LLM_BACKEND``, then the
    plugins' ``ultra_llm_select_backend``, then the stand-in."""
    if config.backend:
        return config.backend, f"ULTRA_LLM_BACKEND={config.backend}"
    chosen = host.hooks.select_backend(config)
    if chosen is not None:
        return chosen
    stand_in = host.stand_in()
    if stand_in is None:
        raise BackendNotFoundError(
            "No backend is selected (ULTRA_LLM_BACKEND is unset and no plugin chose one) and no installed "
            "plugin registers a stand-in backend.",
            fix="Set ULTRA_LLM_BACKEND (or pass -b NAME), or install a plugin with a stand-in backend.",
        )
    return stand_in, f"ULTRA_LLM_BACKEND is unset and no plugin chose a backend, so the stand-in '{stand_in}' serves"


def fallback_name(config: UltraConfig, host: PluginHost) -> str | None:
    """The backend ``ULTRA_LLM_FALLBACK`` names: ``stand-in`` is the registered stand-in, ``none`` None."""
    if config.fallback == "none":
        return None
    return host.stand_in() if config.fallback == "stand-in" else config.fallback


def instantiate(host: PluginHost, name: str, config: UltraConfig, settings: Mapping[str, Any] | None = None) -> Backend:
    """Create the backend ``name`` (aliases accepted); errors are typed.

    The backend's ``settings_model`` is read here, once, and passed as ``settings=``; ``settings``
    overrides its fields for this instance only (the rest still come from the environment), e.g.
    ``{"url": "http://gpu-1:12434"}``.
    """
    spec = host.backend_spec(name)
    cls = spec.load()
    built = None
    if cls.settings_model is not None:
        known = {field.name for field in cls.settings_model.fields()}
        unknown = sorted(set(settings or ()) - known)
        if unknown:
            raise ConfigurationError(
                f"Backend '{spec.name}' has no setting(s) {', '.join(unknown)}.",
                fix=f"Use one of: {', '.join(sorted(known))}.",
            )
        built = cls.settings_model.load(**(settings or {}))
    elif settings:
        raise ConfigurationError(
            f"Backend '{spec.name}' has no settings, so {', '.join(sorted(settings))} cannot be set.",
            fix="Pass settings only to a backend that has them; `ultra-llm config` lists each backend's.",
        )
    try:
        if built is None:
            return cls(config)
        with_settings: Any = cls  # the contract: a backend with a settings_model takes settings=
        return with_settings(config, settings=built)  # type: ignore[no-any-return]
    except UltraLLMError:
        raise
    except Exception as exc:  # a plugin's constructor may raise anything
        raise PluginError(
            f"Backend '{spec.name}' (plugin '{spec.plugin}') failed to start: {type(exc).__name__}: {exc}",
            plugin=spec.plugin,
        ) from exc


async def check_backend(backend: Backend, timeout: float) -> Availability:
    """Run ``backend.check_availability()`` within ``timeout``; never raises for plugin faults."""
    try:
        result = await asyncio.wait_for(backend.check_availability(), timeout)
    except asyncio.TimeoutError:
        return Availability(
            False,
            error=BackendUnavailableError(
                f"Backend '{backend.name}' did not answer its availability check within {timeout:g} s.",
                fix="Check the server with `ultra-llm doctor`, or raise ULTRA_LLM_CHECK_TIMEOUT.",
                backend=backend.name,
            ),
        )
    except UltraLLMError as exc:
        return Availability(False, error=exc)
    except PASS_THROUGH:
        raise
    except BaseException as exc:  # a plugin's check may raise anything, SystemExit included
        return Availability(
            False,
            error=PluginError(
                f"Backend '{backend.name}' raised in its availability check: {type(exc).__name__}: {exc}",
                plugin=backend.name,
            ),
        )
    if not isinstance(result, Availability):
        return Availability(
            False,
            error=PluginError(
                f"Backend '{backend.name}' returned {type(result).__name__} from check_availability, "
                "not an Availability.",
                plugin=backend.name,
            ),
        )
    return result


async def select_backend(
    host: PluginHost,
    config: UltraConfig,
    *,
    backend: str | None = None,
    check: bool = True,
    settings: Mapping[str, Any] | None = None,
) -> tuple[Backend, Selection]:
    """Pick, create and (when ``check``) check the backend; fall back per ``config.fallback``.

    ``settings`` overrides the chosen backend's own settings (see ``instantiate``), not the fallback's.
    """
    if backend:
        requested, reason = backend, f"asked for by name ({backend})"
    else:
        requested, reason = choose_backend_name(config, host)
    explicit = bool(backend or config.backend)
    fallback = fallback_name(config, host)
    try:
        requested = host.resolve_backend_name(requested)
        chosen = instantiate(host, requested, config, settings)
    except BackendNotFoundError as exc:  # a name nothing registers is a mistake to fix, never a fallback
        if explicit:
            raise
        raise BackendNotFoundError(
            f"No installed backend answers to '{requested}' ({reason}). {exc.message}",
            fix="Name a registered backend or alias, or install the plugin that provides it.",
        ) from exc
    if not check:
        return chosen, Selection(requested=chosen.name, reason=reason, backend=chosen.name)
    availability = await check_backend(chosen, config.check_timeout)
    if availability.available:
        return chosen, Selection(chosen.name, reason, chosen.name, availability)
    await chosen.aclose()
    if fallback is None or host.resolve_backend_name(fallback) == chosen.name:
        raise _unavailable_error(chosen.name, availability)
    return await _fall_back(host, config, fallback, chosen.name, reason, availability)


def _unavailable_error(name: str, availability: Availability) -> UltraLLMError:
    error = availability.error
    if isinstance(error, UltraLLMError):
        return error
    return BackendUnavailableError(f"Backend '{name}' is unavailable: {availability.detail or error}", backend=name)


async def _fall_back(
    host: PluginHost, config: UltraConfig, name: str, requested: str, reason: str, availability: Availability
) -> tuple[Backend, Selection]:
    why = availability.reason
    fallback = instantiate(host, name, config)
    fallback_availability = await check_backend(fallback, config.check_timeout)
    if not fallback_availability.available:
        await fallback.aclose()
        raise _unavailable_error(requested, availability)
    key = (requested, why)
    if key not in _warned:
        _warned.add(key)
        logger.warning(
            "Backend '%s' is unavailable, using '%s' instead (ULTRA_LLM_FALLBACK=%s; set it to `none` to fail). "
            "Reason: %s",
            requested,
            fallback.name,
            config.fallback,
            why,
        )
    selection = Selection(
        requested,
        reason,
        fallback.name,
        fallback_availability,
        fallback_reason=why,
        requested_error=_unavailable_error(requested, availability),
    )
    return fallback, selection
