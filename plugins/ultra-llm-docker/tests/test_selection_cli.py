"""The family's selection variables through the ``ultra-llm`` CLI (click's CliRunner): ``backends``
names what ``USE_MODEL_RUNNER`` asked for and why the stand-in serves; a ``MODEL_RUNNER_TYPE`` no
backend answers to is one configuration-error line (exit 2)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ultra_llm._cli.app import build_cli
from ultra_llm._host import reset_host


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_cli(), list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_backends_shows_what_use_model_runner_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USE_MODEL_RUNNER", "true")
    monkeypatch.setenv("ULTRA_LLM_LOAD_PLUGINS", "mock,docker")  # the family's hook, not its backends
    reset_host()  # the process-wide host read the plugin lists when it was first used
    data = json.loads(invoke("backends", "--json")[1])
    assert data["selection"]["requested"] == "cli" and data["selection"]["serving"] == "mock"
    assert "not installed" in data["selection"]["fallback_reason"]


def test_a_runner_type_no_backend_answers_to_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USE_MODEL_RUNNER", "true")
    monkeypatch.setenv("MODEL_RUNNER_TYPE", "grpc")
    monkeypatch.setenv("ULTRA_LLM_FALLBACK", "none")
    code, _, err = invoke("generate", "hi")
    assert code == 2 and "No installed backend answers to 'grpc'" in err and "MODEL_RUNNER_TYPE=grpc" in err
    assert "Traceback" not in err
