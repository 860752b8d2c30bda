"""The seed's ``create_modelrunner_adapter(base_url=..., api_key=...)`` and ``get_available_models(base_url)``
apply to that adapter only, against the real engine behind the runner proxy."""

from __future__ import annotations

import asyncio

import pytest
from ultra_llm_docker.compat import create_modelrunner_adapter, get_available_models
from ultra_llm_docker.testing.engine.fixtures import DMRRunner

from ultra_llm import create_adapter, create_adapter_sync
from ultra_llm.errors import ConfigurationError

DEAD_URL = "http://127.0.0.1:9"  # the discard port: nothing answers there


def test_base_url_is_honoured_per_adapter(dmr_runner: DMRRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_RUNNER_URL", DEAD_URL)
    monkeypatch.setenv("ULTRA_LLM_FALLBACK", "none")
    monkeypatch.setenv("MODEL_RUNNER_TYPE", "cli")  # a base_url still means the API backend

    async def run() -> tuple[str, str, list[str], str]:
        plain = create_modelrunner_adapter("ai/tiny", base_url=dmr_runner.url, api_key="sk-test")
        checked = await create_modelrunner_adapter("ai/tiny", base_url=dmr_runner.url)
        async with plain, checked:
            key = plain.backend.settings.api_key.get()  # type: ignore[attr-defined]
            text = await checked.generate("hello", temperature=0, max_tokens=4)
            names = await get_available_models(base_url=dmr_runner.url)
            return key, checked.backend.settings.url, names, text  # type: ignore[attr-defined]

    key, url, names, text = asyncio.run(run())
    assert key == "sk-test" and url == dmr_runner.url
    assert "ai/tiny:latest" in names
    assert isinstance(text, str)


def test_create_adapter_takes_backend_settings_and_refuses_unknown_ones(
    dmr_runner: DMRRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_RUNNER_URL", DEAD_URL)

    async def run() -> list[str]:
        async with await create_adapter(
            "ai/tiny", backend="docker-api", fallback="none", settings={"url": dmr_runner.url}
        ) as adapter:
            return await adapter.get_available_models()

    assert "ai/tiny:latest" in asyncio.run(run())
    with pytest.raises(ConfigurationError, match="no setting"):
        create_adapter_sync(backend="docker-api", settings={"base_url": dmr_runner.url})
    with pytest.raises(ConfigurationError, match="url"):
        create_modelrunner_adapter(url=dmr_runner.url)
