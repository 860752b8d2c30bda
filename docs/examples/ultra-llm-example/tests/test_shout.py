"""The shout backend through the installed plugin: answers, options, settings, errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from ultra_llm import PluginHost, create_adapter
from ultra_llm.errors import ConfigurationError, InvalidOptionsError, ModelNotFoundError
from ultra_llm.plugin import Result


def complete(host: PluginHost, model: str, prompt: str, **options: Any) -> Result:
    async def case() -> Result:
        async with await create_adapter(model, backend="shout", host=host) as adapter:
            return await adapter.complete(prompt, **options)

    return asyncio.run(case())


def test_the_entry_point_is_installed_and_loaded(ultra_llm_host: PluginHost) -> None:
    record = ultra_llm_host.records.get("example")
    assert record is not None, "the plugin is not installed: run `pip install -e .` in its folder"
    assert record.status == "loaded", record.error
    assert "shout" in ultra_llm_host.backends()
    assert {"ultra_llm_register_backends", "ultra_llm_middleware"} <= set(record.hooks)


def test_upper_and_reverse(ultra_llm_host: PluginHost) -> None:
    assert complete(ultra_llm_host, "shout/upper", "hello there").text == "HELLO THERE!"
    assert complete(ultra_llm_host, "shout/reverse", "abc", exclamations=3).text == "CBA!!!"


def test_max_tokens_stops_with_finish_reason_length(ultra_llm_host: PluginHost) -> None:
    result = complete(ultra_llm_host, "shout/upper", "one two three four", max_tokens=2)
    assert result.text == "ONE TWO"
    assert result.finish_reason == "length"
    assert result.usage is not None and result.usage.completion_tokens == 2


def test_the_alias_selects_the_backend(ultra_llm_host: PluginHost) -> None:
    async def case() -> str:
        async with await create_adapter("shout/upper", backend="example-shout", host=ultra_llm_host) as adapter:
            return adapter.name

    assert asyncio.run(case()) == "shout"


def test_out_of_range_option_is_a_typed_error(ultra_llm_host: PluginHost) -> None:
    with pytest.raises(InvalidOptionsError, match="exclamations"):
        complete(ultra_llm_host, "shout/upper", "hi", exclamations=99)


def test_unknown_model_names_the_served_ones(ultra_llm_host: PluginHost) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        complete(ultra_llm_host, "shout/whisper", "hi")
    assert "shout/upper" in caught.value.fix


def test_bad_setting_names_the_variable(ultra_llm_host: PluginHost, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_SHOUT_DELAY", "-1")
    with pytest.raises(ConfigurationError, match="ULTRA_LLM_SHOUT_DELAY"):
        complete(ultra_llm_host, "shout/upper", "hi")
