"""The seed's selection variables, the family's: defaults, the environment matrix, bad values, sources."""

from __future__ import annotations

import pytest
from ultra_llm_docker.settings import SelectionSettings

from ultra_llm import load_config
from ultra_llm._host import PluginHost
from ultra_llm._selection import choose_backend_name
from ultra_llm.errors import ConfigurationError


def test_defaults_match_the_seed() -> None:
    settings = SelectionSettings.load()
    assert settings.use_model_runner is False and settings.model_runner_type == "cli"
    assert choose_backend_name(load_config(), PluginHost())[0] == "mock"


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


@pytest.mark.parametrize("value", ["maybe", "y"])
def test_a_bad_use_model_runner_names_variable_value_and_allowed(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("USE_MODEL_RUNNER", value)
    with pytest.raises(ConfigurationError) as caught:
        choose_backend_name(load_config(), PluginHost())
    message = caught.value.message
    assert "USE_MODEL_RUNNER" in message and repr(value) in message
    assert "1, true, yes, on, 0, false, no, off" in message


def test_describe_settings_tells_the_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_RUNNER_TYPE", "api")
    rows = {row.variable: row for row in SelectionSettings.load().describe()}
    assert rows["MODEL_RUNNER_TYPE"].source == "environment (MODEL_RUNNER_TYPE)"
    assert rows["MODEL_RUNNER_TYPE"].value == "api"
    assert rows["USE_MODEL_RUNNER"].source == "default"
    assert all(row.description for row in rows.values())


def test_the_family_fixture_clears_its_variables_and_the_kernels_does_not() -> None:
    """``ultra_llm_clean_env`` clears the variables of loaded settings classes (this one is loaded);
    ``ultra_llm_docker_clean_env`` clears every ``MODEL_RUNNER_*`` whether loaded or not."""
    from ultra_llm_docker.testing import ENVIRONMENT_NAMES, ENVIRONMENT_PREFIXES

    from ultra_llm.testing.fixtures import settings_variables

    assert {"USE_MODEL_RUNNER", "MODEL_RUNNER_TYPE"} <= settings_variables()
    assert "USE_MODEL_RUNNER" in ENVIRONMENT_NAMES and "MODEL_RUNNER_" in ENVIRONMENT_PREFIXES
