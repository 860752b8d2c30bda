"""Pytest fixtures for code that uses ultra-llm: an isolated host, one-test plugins, a clean environment.

Registered with pytest by the ``pytest11`` entry point ``ultra_llm``; nothing here runs at import.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from .._host import PluginHost, reset_host
from .serve import ultra_llm_serve  # noqa: F401  (registered with pytest from here)

if TYPE_CHECKING:
    from .._settings import Settings

ENVIRONMENT_PREFIXES = ("ULTRA_LLM_",)
"""The kernel's own prefix; every other variable cleared is one a loaded settings class reads."""


def settings_variables() -> set[str]:
    """The variables (and aliases) ``Settings`` classes read: the kernel's (``UltraConfig``,
    ``HostSettings`` ...), every subclass imported so far, and those of the installed plugins (their
    backends' ``settings_model`` and the classes they register), found once per process."""
    from .. import _config, _host  # noqa: F401  (the kernel's settings classes, loaded)
    from .._settings import Settings

    names: set[str] = set()
    pending: list[type[Settings]] = [Settings, *_installed_settings_classes()]
    seen: set[type[Settings]] = set()
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        pending.extend(cls.__subclasses__())
        if cls is Settings:
            continue
        try:
            fields = cls.fields()
        except (TypeError, NameError):  # an abstract or half-defined subclass (a test's)
            continue
        for field in fields:
            names.add(field.variable)
            names.update(alias.name for alias in field.aliases)
    return names


@functools.cache
def _installed_settings_classes() -> tuple[type[Settings], ...]:
    """The settings classes of the plugins installed here (entry points), loaded once; a plugin that
    fails to load or to name its classes adds none."""
    from .._registry import load_settings_target

    plugins = PluginHost()
    found: list[type[Settings]] = []
    for spec in plugins.backends().values():
        try:
            model = spec.load().settings_model
        except Exception:  # a broken plugin: its variables are not known, nothing else changes
            continue
        if model is not None:
            found.append(model)
    for plugin, target in plugins.hooks.register_settings().values():
        try:
            found.append(load_settings_target(target, plugin=plugin))
        except Exception:  # as above
            continue
    return tuple(found)


@pytest.fixture
def ultra_llm_clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Unset the kernel's variables and those of the settings classes loaded (``ULTRA_LLM_*``,
    ``DEFAULT_MODEL`` ...) for one test; yields ``monkeypatch`` to set some. A plugin family clears
    its own others with its own fixture. The process-wide host is reset before and after, so it
    re-reads the environment."""
    variables = settings_variables()
    for name in list(os.environ):
        if name.startswith(ENVIRONMENT_PREFIXES) or name in variables:
            monkeypatch.delenv(name, raising=False)
    reset_host()
    yield monkeypatch
    reset_host()


@pytest.fixture
def ultra_llm_host(ultra_llm_clean_env: pytest.MonkeyPatch) -> PluginHost:
    """A fresh ``PluginHost`` over the installed entry points, in a clean environment."""
    host = PluginHost()
    host.load()
    return host


@pytest.fixture
def register_plugin(ultra_llm_host: PluginHost) -> Iterator[Callable[..., str]]:
    """``register_plugin(obj, name=None)`` registers a plugin on ``ultra_llm_host`` for one test;
    every plugin registered this way is unregistered afterwards, whatever the test did."""
    names: list[str] = []

    def register(plugin: object, name: str | None = None) -> str:
        registered = ultra_llm_host.register(plugin, name)
        names.append(registered)
        return registered

    try:
        yield register
    finally:
        for name in reversed(names):
            ultra_llm_host.unregister(name)
