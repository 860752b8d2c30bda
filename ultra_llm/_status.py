"""What the setup looks like: every backend's availability, the doctor's checks, every setting, as data.

One implementation for every front end: ``ultra-llm backends`` and ``ultra-llm doctor`` print these,
the web API returns them. Nothing here prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import platform
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._settings import SettingRow
from ._types import Check
from .errors import UltraLLMError

if TYPE_CHECKING:
    from ._adapter import Adapter
    from ._backend import Backend
    from ._config import UltraConfig
    from ._host import PluginHost, PluginRecord
    from ._settings import Settings

__all__ = ["check_from_error", "describe_backends", "run_checks"]

SMOKE_PROMPT = "Say hello in one short sentence."


def check_from_error(title: str, error: BaseException, required: bool = True) -> Check:
    """A failed check from an error: a typed error's message and fix, or the exception's text."""
    if isinstance(error, UltraLLMError):
        return Check(title, False, error.message, error.fix, required)
    return Check(title, False, f"{type(error).__name__}: {error}", "Run with --debug for details.", required)


def _diagnostics(backend: Backend) -> dict[str, Any]:
    try:
        return dict(backend.diagnostics() or {})
    except Exception as error:  # a plugin's diagnostics must not break a listing
        return {"error": f"{type(error).__name__}: {error}"}


async def describe_backends(host: PluginHost, config: UltraConfig, *, options_schemas: bool = False) -> dict[str, Any]:
    """Every registered backend (plugin, capabilities, availability and why, diagnostics) and the
    selection the configuration makes: ``{"selection": {...}, "backends": [...]}``.

    ``options_schemas`` adds each backend's options JSON schema (for forms). Checks run concurrently,
    each within ``config.check_timeout``; every backend built is closed again.
    """
    from ._selection import check_backend, choose_backend_name, fallback_name, instantiate

    specs = host.backends()
    try:
        requested, reason = choose_backend_name(config, host)
    except UltraLLMError as error:
        requested, reason = "none", error.message
    fallback_backend = fallback_name(config, host)

    async def describe(name: str) -> dict[str, Any]:
        spec = specs[name]
        row: dict[str, Any] = {
            "name": name,
            "plugin": spec.plugin,
            "summary": spec.summary,
            "aliases": list(spec.aliases),
            "conflicts": list(spec.conflicts),
            "selected": False,
            "capabilities": None,
            "fix": None,
        }
        try:
            cls = spec.load()
            row["capabilities"] = cls.capabilities()
            if options_schemas:
                model = cls.options_class()
                row["options_schema"] = None if model is None else model.model_json_schema()
            backend = instantiate(host, name, config)
        except Exception as error:  # typed or not, it is this row's answer
            failed = check_from_error(name, error)
            row.update(available=False, reason=failed.detail, fix=failed.fix)
            return row
        try:
            availability = await check_backend(backend, config.check_timeout)
            diagnostics = _diagnostics(backend)
        finally:
            await backend.aclose()
        if availability.available:
            row.update(available=True, reason=availability.detail)
        else:
            failed = check_from_error(name, availability.error or RuntimeError(availability.detail))
            row.update(available=False, reason=failed.detail, fix=failed.fix)
        if diagnostics:
            row["diagnostics"] = diagnostics
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
        fallback = by_name.get(fallback_backend or "")
        serving = fallback_backend if fallback and fallback["available"] else None
    if serving in by_name:
        by_name[serving]["selected"] = True
    selection = {
        "requested": resolved,
        "reason": reason,
        "serving": serving,
        "fallback": fallback_backend or "none",
        "fallback_reason": fallback_reason,
    }
    return {"selection": selection, "backends": rows}


async def run_checks(
    host: PluginHost,
    *,
    backend: str | None = None,
    config: UltraConfig | None = None,
    smoke: bool = False,
    on_check: Callable[[Check], None] | None = None,
) -> list[Check]:
    """The doctor's checks in order: version, plugins, configuration, the hooks an adapter calls
    later run against the backend (``ultra_llm_middleware``, ``ultra_llm_register_models``: a plugin
    failing there is a warning naming it), the backend's availability,
    the backend's own ``doctor_checks`` (its models and the default model by default), and with
    ``smoke`` one whole and one streamed generation. Stops at the first failing required check;
    ``on_check`` sees each check as it is made.
    """
    from . import __version__
    from ._adapter import Adapter
    from ._config import load_config
    from ._selection import Selection, check_backend, choose_backend_name, instantiate

    checks: list[Check] = []

    def add(check: Check) -> bool:
        checks.append(check)
        if on_check is not None:
            on_check(check)
        return check.ok or not check.required

    add(Check("ultra-llm", True, f"{__version__} on Python {platform.python_version()}"))
    host.load()
    specs = host.backends()
    broken = [r for r in host.records.values() if r.status == "failed"]
    add(
        Check(
            "plugins",
            not broken,
            f"{sum(r.status == 'loaded' for r in host.records.values())} loaded, backends: {', '.join(sorted(specs))}"
            + (f"; failed: {', '.join(f'{r.name} ({r.error})' for r in broken)}" if broken else ""),
            _skip_fix(broken),
            required=False,
        )
    )
    try:
        config = config or load_config()
    except UltraLLMError as error:
        add(check_from_error("configuration", error))
        return checks
    try:
        requested, reason = (backend, "asked for by name") if backend else choose_backend_name(config, host)
    except UltraLLMError as error:
        add(check_from_error("configuration", error))
        return checks
    with contextlib.suppress(UltraLLMError):  # an unknown name fails at the backend check below
        requested = host.resolve_backend_name(requested)
    default_model = "the backend's default"
    add(
        Check(
            "configuration",
            True,
            f"backend '{requested}' ({reason}), model '{config.default_model or default_model}', "
            f"fallback '{config.fallback}'",
        )
    )
    try:
        chosen = instantiate(host, requested, config)
    except UltraLLMError as error:
        add(check_from_error(f"backend '{requested}'", error))
        return checks
    try:
        if not add(_later_hooks_check(host, chosen)):
            return checks
        availability = await check_backend(chosen, config.check_timeout)
        title = f"backend '{chosen.name}' available"
        passed = add(
            Check(title, True, availability.detail)
            if availability.available
            else check_from_error(title, availability.error or RuntimeError(availability.detail))
        )
        if not passed:
            return checks
        try:  # the adapter owns the default model and its canonical name
            adapter = Adapter(
                host, chosen, config=config, selection=Selection(chosen.name, reason, chosen.name, availability)
            )
            model = adapter.model
        except UltraLLMError as error:
            add(check_from_error("default model", error))
            return checks
        try:
            backend_checks = await chosen.doctor_checks(model)
        except Exception as error:  # typed or not, it is the check's answer
            backend_checks = [check_from_error(f"backend '{chosen.name}' checks", error)]
        for check in backend_checks:
            if not add(check):
                return checks
        if smoke:
            await _smoke(adapter, add)
    finally:
        await chosen.aclose()
    return checks


def _skip_fix(failed: list[PluginRecord]) -> str:
    """The fix of a check that found ``failed`` plugins, naming them in the variable that skips them."""
    names = ",".join(record.name for record in failed) or "<name>"
    return f"Fix or uninstall the failing plugin, or skip it with ULTRA_LLM_DISABLE_PLUGINS={names}."


def _later_hooks_check(host: PluginHost, backend: Backend) -> Check:
    """The hooks an adapter calls after loading, run against ``backend`` (``Hooks.exercise``): a
    warning naming each plugin that failed in one, with why; a failure for a plugin's typed error
    (a bad setting), which every adapter would raise too."""
    title = f"plugin hooks on backend '{backend.name}'"
    failed_before = {name for name, record in host.records.items() if record.status == "failed"}
    try:
        layers = host.hooks.exercise(backend)
    except UltraLLMError as error:
        return check_from_error(title, error)
    failed = [r for name, r in host.records.items() if r.status == "failed" and name not in failed_before]
    detail = f"middleware from: {', '.join(layer.plugin for layer in layers) or 'no plugin'}"
    if not failed:
        return Check(title, True, detail)
    detail += f"; failed: {', '.join(f'{r.name} ({r.error})' for r in failed)}"
    return Check(title, False, detail, _skip_fix(failed), required=False)


async def _smoke(adapter: Adapter, add: Callable[[Check], bool]) -> None:
    started = time.perf_counter()
    try:
        text = await adapter.generate(SMOKE_PROMPT)
        add(Check("generate", bool(text), f"{len(text)} characters in {time.perf_counter() - started:.2f} s"))
        started = time.perf_counter()
        chunks = [chunk async for chunk in adapter.stream_generate(SMOKE_PROMPT)]
        add(Check("stream", bool(chunks), f"{len(chunks)} chunks in {time.perf_counter() - started:.2f} s"))
    except Exception as error:  # typed or not, it is the check's answer
        add(check_from_error("generate", error))


def settings_sections(host: PluginHost) -> dict[str, list[SettingRow]]:
    """Every setting, by owner: the core, the plugin host, the web server (with the web extra), each
    backend's ``settings_model`` and each plugin's registered settings; a section that cannot be read
    (a bad value, a plugin that fails) is one row saying why."""
    from ._config import UltraConfig
    from ._host import HostSettings
    from ._registry import load_settings_target

    owners: list[tuple[str, Callable[[], type[Settings] | None]]] = [
        ("core", lambda: UltraConfig),
        ("plugins", lambda: HostSettings),
        ("web", _web_settings),
    ]
    for name, spec in sorted(host.backends().items()):
        owners.append((name, lambda spec=spec: spec.load().settings_model))  # type: ignore[misc]
    for section, (plugin, target) in sorted(host.hooks.register_settings().items()):
        owners.append((section, lambda plugin=plugin, target=target: load_settings_target(target, plugin=plugin)))  # type: ignore[misc]
    sections: dict[str, list[SettingRow]] = {}
    for name, find in owners:
        try:
            model = find()
            if model is not None:
                sections[name] = model.load().describe()
        except Exception as exc:  # a bad value or a broken plugin: say so in the listing
            text = str(exc) if isinstance(exc, UltraLLMError) else f"{type(exc).__name__}: {exc}"
            sections[name] = [SettingRow("-", None, "error", text)]
    return sections


def _web_settings() -> type[Settings] | None:
    try:
        from .web._settings import WebSettings
    except ImportError:  # the web extra is not installed
        return None
    return WebSettings
