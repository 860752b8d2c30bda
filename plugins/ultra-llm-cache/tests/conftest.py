"""The cache suite's own support, as fixtures (nothing here is imported by a test module):

- ``counting_adapter``: adapters on ``counting``, the mock counting the generations that reach it
  (a prompt starting with "boom" fails);
- ``features``: an adapter on ``features``, a backend that answers every request feature in a fixed,
  checkable way (below), the cache on;
- ``generations()``: how many generations reached either backend in this test;
- ``hostile_env``: variables for a child ``ultra-llm`` that loads ``hostile_plugin.py`` (a runner
  named by its endpoint, a middleware that changes a request in place) as an installed plugin;
- the cache reset around every test, and a clean environment.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from ultra_llm_cache import runtime
from ultra_llm_mock.backend import MockBackend

from ultra_llm import Chunk, create_adapter_sync
from ultra_llm._adapter import Adapter
from ultra_llm._host import PluginHost
from ultra_llm._tools import ToolCallDelta
from ultra_llm._types import Usage
from ultra_llm.errors import GenerationError, ModelNotFoundError
from ultra_llm.plugin import GenerationRequest, hookimpl


class _Tally:
    generations: ClassVar[int] = 0
    missing: ClassVar[set[str]] = set()
    """Models the counting backend answers ``ModelNotFoundError`` for, as a server without them would."""


class CountingBackend(MockBackend):
    """The mock, counting the generations that reach it; a prompt starting with "boom" fails, and so
    does a model in ``_Tally.missing`` (not found)."""

    name: ClassVar[str] = "counting"

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        _Tally.generations += 1
        if request.prompt.startswith("boom"):
            raise GenerationError("boom", backend=self.name)
        if request.model in _Tally.missing:
            raise ModelNotFoundError(request.model, backend=self.name)
        async for chunk in super().stream(request):
            yield chunk


def _pieces(text: str, size: int = 4) -> list[str]:
    """``text`` in pieces of ``size`` characters (so arguments span many deltas)."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class FeatureBackend(MockBackend):
    """The mock's models and options, every ``supports_*`` flag set (the mock's own), and answers
    that are easy to check, streamed as the contract asks:

    - tools (``tool_choice`` not ``"none"``): one call per tool, or only the named one; arguments
      ``{"prompt": <the prompt>}`` in pieces; finish reason ``tool_calls``;
    - a response format: ``{"answer": <the prompt>, "images": <count>}`` as JSON text;
    - otherwise ``echo: <the prompt>`` plus `` [N image(s): type, ...]`` when images were sent;
    - ``reasoning=True`` (and a budget other than 0) first streams a reasoning chunk ``thinking``.
    """

    name: ClassVar[str] = "features"

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        _Tally.generations += 1
        if request.reasoning and request.reasoning_budget != 0:
            yield Chunk("thinking", kind="reasoning")
        tools = self._called(request)
        if tools:
            arguments = json.dumps({"prompt": request.prompt})
            for index, name in enumerate(tools):
                parts = _pieces(arguments)
                yield Chunk("", tool_call_deltas=(ToolCallDelta(index, f"call_{index}_{name}", name, parts[0]),))
                for part in parts[1:]:
                    yield Chunk("", tool_call_deltas=(ToolCallDelta(index, arguments=part),))
            yield Chunk("", finish_reason="tool_calls", usage=Usage(1, 1, 2))
            return
        if request.response_format is not None:
            text = json.dumps({"answer": request.prompt, "images": len(request.images)})
        else:
            text = f"echo: {request.prompt}"
            if request.images:
                kinds = ", ".join(image.media_type for image in request.images)
                text += f" [{len(request.images)} image(s): {kinds}]"
        for part in _pieces(text):
            yield Chunk(part)
        yield Chunk("", finish_reason="stop", usage=Usage(1, 1, 2))

    @staticmethod
    def _called(request: GenerationRequest) -> list[str]:
        choice = request.tool_choice
        if not request.tools or choice == "none":
            return []
        if isinstance(choice, Mapping):
            return [str(choice["function"]["name"])]
        return [tool.name for tool in request.tools]


class _TestBackends:
    @hookimpl
    def ultra_llm_register_backends(self, register: Any) -> None:
        register("counting", CountingBackend)
        register("features", FeatureBackend)


@pytest.fixture(autouse=True)
def _clean_environment(ultra_llm_clean_env: pytest.MonkeyPatch) -> None:
    """Every test starts with no ultra-llm variable set (``ultra_llm.testing``'s ``ultra_llm_clean_env``)."""


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    runtime.reset()
    _Tally.generations = 0
    _Tally.missing.clear()
    yield
    runtime.reset()


@pytest.fixture
def generations() -> Callable[[], int]:
    """``generations()``: how many generations have reached ``counting`` or ``features`` in this test."""
    return lambda: _Tally.generations


@pytest.fixture
def _test_backends(register_plugin: Callable[..., str]) -> None:
    """``counting`` and ``features`` registered on ``ultra_llm_host``."""
    register_plugin(_TestBackends(), name="cache-test-backends")


@pytest.fixture
def counting_adapter(ultra_llm_host: PluginHost, _test_backends: None) -> Iterator[Callable[..., Adapter]]:
    """``make(model="mock/echo")``: a sync-usable adapter on the counting backend; all closed after the test."""
    made: list[Adapter] = []

    def make(model: str = "mock/echo") -> Adapter:
        adapter = create_adapter_sync(model, backend="counting", host=ultra_llm_host)
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        adapter.close()


@pytest.fixture
def features(
    ultra_llm_host: PluginHost, _test_backends: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Adapter]:
    """An adapter on the feature backend, the cache on (memory; ``ULTRA_LLM_CACHE_PATH`` set for sqlite)."""
    monkeypatch.setenv("ULTRA_LLM_CACHE", "memory")
    monkeypatch.setenv("ULTRA_LLM_CACHE_PATH", str(tmp_path / "cache.sqlite3"))
    adapter = create_adapter_sync("mock/echo", backend="features", host=ultra_llm_host)
    yield adapter
    adapter.close()


HOSTILE_SOURCE = Path(__file__).with_name("hostile_plugin.py")


@pytest.fixture
def hostile_env(tmp_path: Path) -> dict[str, str]:
    """Variables for a child ``ultra-llm`` that loads ``hostile_plugin.py`` as the installed plugin
    ``ultra_llm_hostile``: the module and a ``*.dist-info`` declaring its ``ultra_llm`` entry point,
    in a directory put on ``PYTHONPATH``."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "ultra_llm_hostile.py").write_text(HOSTILE_SOURCE.read_text(encoding="utf-8"), encoding="utf-8")
    info = site / "ultra_llm_test_ultra_llm_hostile-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ultra-llm-test-ultra-llm-hostile\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text("[ultra_llm]\nultra_llm_hostile = ultra_llm_hostile\n")
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": path}
