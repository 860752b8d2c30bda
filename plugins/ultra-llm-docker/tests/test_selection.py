"""The seed's selection through the family's ``ultra_llm_select_backend``: ``USE_MODEL_RUNNER`` and
``MODEL_RUNNER_TYPE`` pick, availability decides, the fallback says why; ``ULTRA_LLM_BACKEND`` wins."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import ClassVar

import pytest
from ultra_llm_docker.errors import DockerDaemonDownError

from ultra_llm import Chunk, ModelInfo, create_adapter, load_config
from ultra_llm._host import PluginHost
from ultra_llm._selection import _warned, select_backend
from ultra_llm.errors import BackendNotFoundError
from ultra_llm.plugin import Availability, Backend, GenerationRequest, hookimpl


class DownRunnerBackend(Backend):
    """Stands in for a Docker backend whose daemon is down (its availability check says so)."""

    name: ClassVar[str] = "docker-cli"

    async def check_availability(self) -> Availability:
        error = DockerDaemonDownError("Cannot connect to the Docker daemon.", backend=self.name)
        return Availability(False, error=error)

    async def list_models(self) -> list[ModelInfo]:
        raise DockerDaemonDownError("Cannot connect to the Docker daemon.", backend=self.name)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        raise DockerDaemonDownError("Cannot connect to the Docker daemon.", backend=self.name)
        yield Chunk("")  # pragma: no cover - makes this an async generator


class UpRunnerBackend(DownRunnerBackend):
    """Stands in for a working API backend: answers with the prompt reversed."""

    name: ClassVar[str] = "docker-api"

    async def check_availability(self) -> Availability:
        return Availability(True, "up")

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("ai/smollm2:latest", self.name)]

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        for char in reversed(request.prompt):
            yield Chunk(char)


class RunnerStandIns:
    """A plugin registering both stand-ins under the Docker backends' names."""

    @hookimpl
    def ultra_llm_register_backends(self, register):  # type: ignore[no-untyped-def]
        register("docker-cli", DownRunnerBackend, summary="down", aliases=["cli"])
        register("docker-api", UpRunnerBackend, summary="up", aliases=["api", "api-alias"])


@pytest.fixture
def host() -> PluginHost:
    host = PluginHost(environ={"ULTRA_LLM_LOAD_PLUGINS": "mock,docker"})  # the stand-ins take the Docker names
    host.register(RunnerStandIns(), name="standins")
    _warned.clear()
    return host


def select(host: PluginHost, **overrides: object) -> tuple[str, object]:
    async def run() -> tuple[str, object]:
        backend, selection = await select_backend(host, load_config(**overrides))
        await backend.aclose()
        return backend.name, selection

    return asyncio.run(run())


def test_unavailable_runner_falls_back_to_mock_with_one_warning(
    host: PluginHost, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("USE_MODEL_RUNNER", "true")
    with caplog.at_level(logging.WARNING, logger="ultra_llm"):
        name, selection = select(host)
        select(host)
    assert name == "mock"
    assert selection.requested == "docker-cli" and selection.fell_back  # type: ignore[attr-defined]
    assert "Cannot connect to the Docker daemon" in selection.fallback_reason  # type: ignore[attr-defined]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "docker-cli" in warnings[0].getMessage() and "Start Docker Desktop" in warnings[0].getMessage()


def test_fallback_none_raises_the_typed_error(host: PluginHost, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USE_MODEL_RUNNER", "true")
    monkeypatch.setenv("ULTRA_LLM_FALLBACK", "none")
    with pytest.raises(DockerDaemonDownError) as caught:
        select(host)
    assert caught.value.fix == DockerDaemonDownError.default_fix


def test_available_runner_is_used(host: PluginHost, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USE_MODEL_RUNNER", "true")
    monkeypatch.setenv("MODEL_RUNNER_TYPE", "api")
    name, selection = select(host)
    assert name == "docker-api" and not selection.fell_back  # type: ignore[attr-defined]


def test_explicit_backend_wins_and_third_party_names_work(host: PluginHost, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USE_MODEL_RUNNER", "true")
    monkeypatch.setenv("ULTRA_LLM_BACKEND", "api-alias")
    name, selection = select(host)
    assert name == "docker-api"
    assert "ULTRA_LLM_BACKEND" in selection.reason  # type: ignore[attr-defined]


def test_explicit_unknown_backend_is_an_error_naming_the_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_BACKEND", "nonesuch")
    with pytest.raises(BackendNotFoundError) as caught:
        select(PluginHost())
    assert "nonesuch" in caught.value.message and "mock" in caught.value.message


@pytest.mark.parametrize("fallback", ["stand-in", "none", "mock"])
def test_a_runner_type_nothing_registers_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, fallback: str
) -> None:
    """0.3 answered from the stand-in (exit 0) for a name no plugin registers: a mistake, never a fallback."""
    monkeypatch.setenv("USE_MODEL_RUNNER", "true")
    monkeypatch.setenv("MODEL_RUNNER_TYPE", "bogus")
    monkeypatch.setenv("ULTRA_LLM_FALLBACK", fallback)
    with pytest.raises(BackendNotFoundError) as caught:
        select(PluginHost(environ={"ULTRA_LLM_LOAD_PLUGINS": "mock,docker"}))
    assert "No installed backend answers to 'bogus'" in caught.value.message
    assert "MODEL_RUNNER_TYPE=bogus" in caught.value.message and "install the plugin" in caught.value.fix


def test_create_adapter_uses_default_model_and_fallback(host: PluginHost, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USE_MODEL_RUNNER", "true")
    monkeypatch.setenv("DEFAULT_MODEL", "ai/llama3.2")

    async def run() -> tuple[str, str, str]:
        async with await create_adapter(host=host) as adapter:
            return adapter.name, adapter.model, await adapter.generate("hi")

    name, model, text = asyncio.run(run())
    assert name == "mock" and model == "ai/llama3.2"
    assert "mock response" in text


def test_without_the_family_the_seed_variables_are_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel alone ignores USE_MODEL_RUNNER and MODEL_RUNNER_TYPE: they are the family's."""
    monkeypatch.setenv("USE_MODEL_RUNNER", "true")
    monkeypatch.setenv("MODEL_RUNNER_TYPE", "bogus")
    name, selection = select(PluginHost(environ={"ULTRA_LLM_LOAD_PLUGINS": "mock"}))
    assert name == "mock" and "stand-in" in selection.reason  # type: ignore[attr-defined]


def test_the_reason_names_the_family(host: PluginHost, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USE_MODEL_RUNNER", "true")
    monkeypatch.setenv("MODEL_RUNNER_TYPE", "api")
    _, selection = select(host)
    assert selection.reason == "USE_MODEL_RUNNER=true, MODEL_RUNNER_TYPE=api (plugin 'docker')"  # type: ignore[attr-defined]
