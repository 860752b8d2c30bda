"""The conformance suite's feature checks: exercised on a backend that declares and implements every
feature (tests/support/feature_backend.py), the refusals on one that declares none, and the checks
failing for a backend that declares a feature it does not deliver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest

from tests.support.feature_backend import FeatureBackend, FeaturePlugin
from ultra_llm import Chunk, Result
from ultra_llm._host import PluginHost
from ultra_llm._tools import ToolCall
from ultra_llm.plugin import GenerationRequest, hookimpl
from ultra_llm.testing import BackendConformance


class AssemblingBackend(FeatureBackend):
    """Declares tools and answers whole with a call, but streams the assembled call instead of
    pieces, and makes no call at all for ``mock/fixed``: what the tools check must catch."""

    name: ClassVar[str] = "assembling"

    async def generate(self, request: GenerationRequest) -> Result:
        calls = () if request.model == "mock/fixed" else (ToolCall("c1", request.tools[0].name, "{}"),)
        return Result("", request.model, self.name, "tool_calls", tool_calls=calls)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        if request.tools and request.model != "mock/fixed":
            yield Chunk("", tool_calls=(ToolCall("c1", request.tools[0].name, "{}"),))
        yield Chunk("answer", finish_reason="stop")


class Plugins:
    @hookimpl
    def ultra_llm_register_backends(self, register: Any) -> None:
        register("assembling", AssemblingBackend)


class _OnTestBackends(BackendConformance):
    model = "mock/echo"
    options: ClassVar[dict[str, Any]] = {"temperature": 0}

    @pytest.fixture
    def conformance_host(self) -> PluginHost:
        host = PluginHost()
        host.load()
        host.register(FeaturePlugin(), name="features")
        host.register(Plugins(), name="test-backends")
        return host

    @pytest.fixture
    def backend_settings(self, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any] | None:
        monkeypatch.setenv("ULTRA_LLM_MOCK_FAULT", "unknown-model")
        return None

    def test_loads_through_its_entry_point(self, conformance_host: PluginHost) -> None:
        pytest.skip("registered by the test, not through an entry point")


class TestEveryFeatureDeclared(_OnTestBackends):
    backend = "features"
    unknown_model = None  # it answers any model name
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
    }


class TestNoFeatureDeclared(_OnTestBackends):
    backend = "plain"


def test_the_tools_check_fails_a_backend_that_streams_assembled_calls_or_calls_nothing() -> None:
    suite = _OnTestBackends()
    host = suite.conformance_host.__wrapped__(suite)  # type: ignore[attr-defined]
    suite.backend = "assembling"  # type: ignore[misc]

    def factory(config: Any) -> Any:
        return AssemblingBackend(config)

    with pytest.raises(AssertionError, match="streamed assembled tool_calls"):
        suite.test_tools_when_declared(factory, host)
    suite.model = "mock/fixed"  # type: ignore[misc]
    with pytest.raises(AssertionError, match="no tool call for tool_choice='required'"):
        suite.test_tools_when_declared(factory, host)
