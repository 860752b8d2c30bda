"""Pytest fixtures for code that uses ultra-llm: an isolated host, one-test plugins, a clean environment.

Registered with pytest by the ``pytest11`` entry point ``ultra_llm``; nothing here runs at import.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from ..host import PluginHost, reset_host

ENVIRONMENT_PREFIXES = ("ULTRA_LLM_", "MODEL_RUNNER_")
ENVIRONMENT_NAMES = ("USE_MODEL_RUNNER", "DEFAULT_MODEL", "DEFAULT_LOCAL_MODEL", "LOCAL_MODEL_TIMEOUT")


@pytest.fixture
def ultra_llm_clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Unset every ultra-llm and model-runner variable for one test; yields ``monkeypatch``
    to set some. The process-wide host is reset before and after, so it re-reads the environment."""
    for name in list(os.environ):
        if name.startswith(ENVIRONMENT_PREFIXES) or name in ENVIRONMENT_NAMES:
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
