"""Configuration: defaults, the environment matrix, bad values, and where values came from."""

from __future__ import annotations

import pytest

from ultra_llm import load_config
from ultra_llm._host import PluginHost
from ultra_llm._selection import choose_backend_name
from ultra_llm.errors import ConfigurationError


def test_defaults() -> None:
    config = load_config()
    assert not hasattr(config, "use_model_runner"), "the seed's selection variables are the Docker family's"
    assert config.default_model is None, "unset: each backend's own default"
    assert config.fallback == "stand-in"
    assert choose_backend_name(config, PluginHost(environ={"ULTRA_LLM_LOAD_PLUGINS": "mock"}))[0] == "mock"


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("ULTRA_LLM_TIMEOUT", "-1", "greater than 0"),
        ("ULTRA_LLM_TIMEOUT", "soon", "must be a number"),
        ("LOCAL_MODEL_TIMEOUT", "-5", "greater than 0"),
    ],
)
def test_bad_values_name_variable_value_and_allowed(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, allowed: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        load_config()
    message = caught.value.message
    assert variable in message and repr(value) in message and allowed in message


def test_legacy_default_local_model_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFAULT_LOCAL_MODEL", "ai/llama3.2")
    assert load_config().default_model == "ai/llama3.2"


def test_describe_settings_tells_the_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_FALLBACK", "none")
    rows = {row.variable: row for row in load_config().describe()}
    assert rows["ULTRA_LLM_FALLBACK"].source == "environment (ULTRA_LLM_FALLBACK)"
    assert rows["ULTRA_LLM_FALLBACK"].value == "none"
    assert rows["ULTRA_LLM_BACKEND"].source == "default"
    assert all(row.description for row in rows.values())
