"""Configuration: defaults, the environment matrix, bad values, and where values came from."""

from __future__ import annotations

import pytest

from ultra_llm import load_config
from ultra_llm.errors import ConfigurationError
from ultra_llm.host import PluginHost
from ultra_llm.selection import choose_backend_name


def test_defaults_match_the_seed() -> None:
    config = load_config()
    assert config.use_model_runner is False
    assert config.model_runner_type == "cli"
    assert config.default_model is None, "unset: each backend's own default (ai/smollm2 for Docker's)"
    assert config.fallback == "stand-in"
    assert choose_backend_name(config, PluginHost())[0] == "mock"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "mock"),
        ({"USE_MODEL_RUNNER": "false", "MODEL_RUNNER_TYPE": "api"}, "mock"),
        ({"USE_MODEL_RUNNER": "true"}, "docker-cli"),
        ({"USE_MODEL_RUNNER": "true", "MODEL_RUNNER_TYPE": "cli"}, "docker-cli"),
        ({"USE_MODEL_RUNNER": "true", "MODEL_RUNNER_TYPE": "api"}, "docker-api"),
        ({"USE_MODEL_RUNNER": "TRUE", "MODEL_RUNNER_TYPE": "API"}, "docker-api"),
        ({"USE_MODEL_RUNNER": "1", "MODEL_RUNNER_TYPE": "docker-api"}, "docker-api"),
        ({"ULTRA_LLM_BACKEND": "example"}, "example"),
        ({"USE_MODEL_RUNNER": "true", "MODEL_RUNNER_TYPE": "api", "ULTRA_LLM_BACKEND": "mock"}, "mock"),
    ],
)
def test_environment_matrix(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    host = PluginHost()
    name, reason = choose_backend_name(load_config(), host)
    assert (host.resolve_backend_name(name) if name != "example" else name) == expected
    assert reason


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("USE_MODEL_RUNNER", "maybe", "1, true, yes, on, 0, false, no, off"),
        ("USE_MODEL_RUNNER", "y", "1, true, yes, on, 0, false, no, off"),
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
    monkeypatch.setenv("MODEL_RUNNER_TYPE", "api")
    rows = {row.variable: row for row in load_config().describe()}
    assert rows["MODEL_RUNNER_TYPE"].source == "environment (MODEL_RUNNER_TYPE)"
    assert rows["MODEL_RUNNER_TYPE"].value == "api"
    assert rows["USE_MODEL_RUNNER"].source == "default"
    assert all(row.description for row in rows.values())
