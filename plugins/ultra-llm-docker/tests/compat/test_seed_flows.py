"""The seed's entry points, called as Ultra calls them, with the seed's environment variables.

``seed_llm_config_service`` below is the selection code of Ultra's ``llm_config_service``, verbatim
in its logic, so these tests show the replacement is a drop-in: same names, same variables, typed
errors instead of "Error: ..." text, and the mock's "mock response" when the runner is down.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import warnings
from typing import Any

import pytest
from ultra_llm_docker.errors import DockerDaemonDownError
from ultra_llm_docker.names import normalize_model_name
from ultra_llm_mock.backend import MockBackend

import ultra_llm
from ultra_llm import Adapter, UltraLLMError, create_adapter
from ultra_llm.errors import BackendUnavailableError, ConfigurationError

with warnings.catch_warnings():  # Ultra's 0.3 imports, through the shim (its warning: test_shim.py)
    warnings.simplefilter("ignore", DeprecationWarning)
    from ultra_llm import create_modelrunner_adapter, create_modelrunner_cli_adapter, get_available_models


async def seed_llm_config_service(options: dict[str, Any]) -> Adapter | None:
    """Ultra's selection, as in the seed: USE_MODEL_RUNNER, MODEL_RUNNER_TYPE, DEFAULT_MODEL."""
    model = options.get("model") or os.environ.get("DEFAULT_MODEL", "ai/smollm2")
    if os.environ.get("USE_MODEL_RUNNER") == "true":
        model_runner_type = os.environ.get("MODEL_RUNNER_TYPE", "cli")
        if model_runner_type == "cli":
            adapter: Adapter = await create_modelrunner_cli_adapter(model)
        else:
            adapter = await create_modelrunner_adapter(model)
        return adapter
    return None


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def answer(adapter: Adapter, prompt: str) -> tuple[str, str]:
    """The whole answer and the streamed answer of ``adapter``, which is then closed."""
    async with adapter:
        whole = await adapter.generate(prompt)
        streamed = "".join([text async for text in adapter.stream_generate(prompt)])
    return whole, streamed


@pytest.mark.parametrize(
    ("runner_type", "backend"), [(None, "docker-cli"), ("cli", "docker-cli"), ("api", "docker-api")]
)
def test_seed_selection_uses_the_runner_type(
    runner: type[MockBackend], monkeypatch: pytest.MonkeyPatch, runner_type: str | None, backend: str
) -> None:
    monkeypatch.setenv("USE_MODEL_RUNNER", "true")
    if runner_type is not None:
        monkeypatch.setenv("MODEL_RUNNER_TYPE", runner_type)
    monkeypatch.setenv("DEFAULT_MODEL", "ai/llama3.2")

    async def case() -> tuple[str, str, str, str]:
        adapter = await seed_llm_config_service({})
        assert adapter is not None
        whole, streamed = await answer(adapter, "hello there")
        return adapter.name, adapter.model, whole, streamed

    name, model, whole, streamed = run(case())
    assert name == backend
    assert model == normalize_model_name("ai/llama3.2")
    assert whole == streamed
    assert whole.startswith(f"{backend} runner answers {model}") and "mock response" not in whole


@pytest.mark.parametrize("runner_type", ["cli", "api"])
def test_request_model_wins_over_default_model(
    runner: type[MockBackend], monkeypatch: pytest.MonkeyPatch, runner_type: str
) -> None:
    monkeypatch.setenv("USE_MODEL_RUNNER", "true")
    monkeypatch.setenv("MODEL_RUNNER_TYPE", runner_type)
    monkeypatch.setenv("DEFAULT_MODEL", "ai/llama3.2")

    async def case() -> str:
        adapter = await seed_llm_config_service({"model": "smollm2"})
        assert adapter is not None
        async with adapter:
            return await adapter.generate("hi")

    assert f"answers {normalize_model_name('smollm2')}:" in run(case())


@pytest.mark.parametrize("runner_type", ["cli", "api"])
def test_runner_down_falls_back_to_the_mock_response(
    runner: type[MockBackend], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, runner_type: str
) -> None:
    monkeypatch.setenv("USE_MODEL_RUNNER", "true")
    monkeypatch.setenv("MODEL_RUNNER_TYPE", runner_type)
    monkeypatch.setattr(runner, "up", False)

    async def case() -> tuple[str, str, str | None, str, str]:
        adapter = await seed_llm_config_service({})
        assert adapter is not None
        whole, streamed = await answer(adapter, "What is Ultra?")
        return adapter.name, adapter.selection.requested, adapter.selection.fallback_reason, whole, streamed

    with caplog.at_level(logging.WARNING, logger="ultra_llm"):
        name, requested, reason, whole, streamed = run(case())
    assert name == "mock"
    assert requested == f"docker-{runner_type}"
    assert reason is not None and "Cannot connect to the Docker daemon" in reason
    assert "mock response" in whole and whole == streamed
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and requested in warnings[0] and DockerDaemonDownError.default_fix in warnings[0]


@pytest.mark.parametrize("runner_type", ["cli", "api"])
def test_fallback_none_raises_the_typed_error(
    runner: type[MockBackend], monkeypatch: pytest.MonkeyPatch, runner_type: str
) -> None:
    monkeypatch.setenv("USE_MODEL_RUNNER", "true")
    monkeypatch.setenv("MODEL_RUNNER_TYPE", runner_type)
    monkeypatch.setenv("ULTRA_LLM_FALLBACK", "none")
    monkeypatch.setattr(runner, "up", False)
    with pytest.raises(DockerDaemonDownError) as caught:
        run(seed_llm_config_service({}))
    assert caught.value.backend == f"docker-{runner_type}"


def test_without_use_model_runner_create_adapter_serves_the_mock(runner: type[MockBackend]) -> None:
    async def case() -> tuple[str, str, str]:
        adapter = await create_adapter()
        whole, _ = await answer(adapter, "hi")
        return adapter.name, adapter.model, whole

    name, model, whole = run(case())
    assert name == "mock" and model == "mock/default", "DEFAULT_MODEL unset: the serving backend's own default"
    assert "mock response" in whole


def test_create_adapter_applies_the_seed_variables(runner: type[MockBackend], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USE_MODEL_RUNNER", "true")
    monkeypatch.setenv("MODEL_RUNNER_TYPE", "api")
    monkeypatch.setenv("DEFAULT_LOCAL_MODEL", "ai/llama3.2")

    async def case() -> tuple[str, str]:
        adapter = await create_adapter()
        async with adapter:
            return adapter.name, adapter.model

    assert run(case()) == ("docker-api", normalize_model_name("ai/llama3.2"))


def test_plain_create_modelrunner_adapter_is_unchecked_and_usable(
    runner: type[MockBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "up", False)
    adapter = create_modelrunner_adapter("ai/smollm2")
    assert isinstance(adapter, Adapter) and adapter.name == "docker-api"

    async def case() -> None:
        async with adapter:
            await adapter.generate("hi")

    with pytest.raises(DockerDaemonDownError):
        run(case())

    monkeypatch.setattr(runner, "up", True)
    adapter = create_modelrunner_adapter("ai/smollm2")
    assert run(answer(adapter, "hi"))[0].startswith("docker-api runner answers")


def test_awaiting_the_unchecked_adapter_keeps_it_when_the_runner_is_up(runner: type[MockBackend]) -> None:
    async def case() -> tuple[bool, bool]:
        pending = create_modelrunner_adapter()
        adapter = await pending
        async with adapter:
            return adapter is pending, adapter.selection.availability is not None

    same, checked = run(case())
    assert same and checked


def test_errors_are_raised_never_returned_as_text(runner: type[MockBackend], monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed returned "Error: ..." from generate and yielded "\\nError: ..." from streams."""
    monkeypatch.setattr(runner, "up", False)
    adapter = create_modelrunner_adapter()
    seen: list[str] = []

    async def stream() -> None:
        async with adapter:
            async for text in adapter.stream_generate("hi"):
                seen.append(text)

    with pytest.raises(UltraLLMError) as caught:
        run(stream())
    assert isinstance(caught.value, BackendUnavailableError)
    assert seen == []
    assert caught.value.fix  # every error says what to do


def test_get_capabilities_is_a_dict_and_awaitable(runner: type[MockBackend]) -> None:
    async def case() -> tuple[dict[str, Any], dict[str, Any]]:
        adapter = await create_modelrunner_cli_adapter("ai/smollm2")
        async with adapter:
            plain = adapter.get_capabilities()
            awaited = await adapter.get_capabilities()
        return plain, awaited

    plain, awaited = run(case())
    assert plain == awaited
    assert {"name", "supports_streaming", "max_tokens", "supports_functions", "supports_vision", "source"} <= set(plain)
    assert plain["name"] == "docker-cli" and plain["source"] == "local"


def test_legacy_timeout_is_milliseconds(runner: type[MockBackend]) -> None:
    adapter = create_modelrunner_adapter(timeout=2500)
    assert adapter.config.timeout == pytest.approx(2.5)
    asyncio.run(adapter.aclose())


def test_unknown_legacy_arguments_are_refused_not_ignored(runner: type[MockBackend]) -> None:
    # base_url and api_key are honoured per adapter: plugins/ultra-llm-docker-api/tests/test_compat_base_url.py proves
    # it against the real engine (the stand-in backends here have no such settings).
    with pytest.raises(ConfigurationError, match="temperature"):
        create_modelrunner_adapter(temperature=0.2)
    with pytest.raises(ConfigurationError, match="no setting"):
        create_modelrunner_adapter(base_url="http://model-runner:8080")


@pytest.mark.parametrize(("runner_type", "backend"), [("cli", "docker-cli"), ("api", "docker-api")])
def test_get_available_models_asks_the_runner(
    runner: type[MockBackend], monkeypatch: pytest.MonkeyPatch, runner_type: str, backend: str
) -> None:
    monkeypatch.setenv("MODEL_RUNNER_TYPE", runner_type)
    names = run(get_available_models())
    assert names == ["ai/smollm2:latest", "ai/llama3.2:latest"]
    monkeypatch.setattr(runner, "up", False)
    with pytest.raises(DockerDaemonDownError) as caught:
        run(get_available_models())
    assert caught.value.backend == backend


def test_the_package_exports_the_compat_names_lazily() -> None:
    from ultra_llm_docker import compat

    assert ultra_llm.create_modelrunner_cli_adapter is compat.create_modelrunner_cli_adapter
    assert ultra_llm.create_modelrunner_adapter is compat.create_modelrunner_adapter
    assert ultra_llm.get_available_models is compat.get_available_models
    code = "import sys, ultra_llm; print('ultra_llm_docker.compat' in sys.modules, 'pydantic_settings' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
