"""Cache tests: a counting backend, and a cache reset around every test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from ultra_llm_cache import runtime

from tests.support.counting import CountingBackend, CountingPlugin
from ultra_llm import create_adapter_sync
from ultra_llm.adapter import Adapter
from ultra_llm.host import PluginHost


@pytest.fixture(autouse=True)
def _clean_environment(ultra_llm_clean_env: pytest.MonkeyPatch) -> None:
    """Every test starts with no ultra-llm variable set (``ultra_llm.testing``'s ``ultra_llm_clean_env``)."""


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    runtime.reset()
    CountingBackend.calls = 0
    yield
    runtime.reset()


@pytest.fixture
def counting_adapter(
    ultra_llm_host: PluginHost, register_plugin: Callable[..., str]
) -> Iterator[Callable[..., Adapter]]:
    """``make(model="mock/echo")``: a sync-usable adapter on the counting backend; all closed after the test."""
    register_plugin(CountingPlugin(), name="counting")
    made: list[Adapter] = []

    def make(model: str = "mock/echo") -> Adapter:
        adapter = create_adapter_sync(model, backend="counting", host=ultra_llm_host)
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        adapter.close()
