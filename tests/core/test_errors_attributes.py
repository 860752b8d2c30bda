"""Each error class owns its CLI exit status and HTTP status; none is an OSError."""

from __future__ import annotations

import inspect

import pytest

from ultra_llm import errors


class ServerDownError(errors.BackendUnavailableError):
    """A plugin's own error, a subclass of a neutral one: it keeps the neutral statuses."""


def error_classes() -> list[type[errors.UltraLLMError]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.UltraLLMError) and cls.__module__ == errors.__name__
    ]


@pytest.mark.parametrize(
    ("error", "exit_code", "http_status"),
    [
        (errors.ConfigurationError("x"), 2, 422),
        (errors.BackendNotFoundError("x"), 2, 404),
        (errors.InvalidOptionsError("x"), 2, 422),
        (errors.EmptyPromptError("x"), 2, 422),
        (errors.BackendUnavailableError("x"), 3, 503),
        (ServerDownError("x"), 3, 503),
        (errors.ModelNotFoundError("ai/x:latest"), 4, 404),
        (errors.GenerationTimeoutError("x", timeout=1.0), 5, 504),
        (errors.GenerationError("x"), 6, 502),
        (errors.ContextLengthExceededError("x"), 6, 422),
        (errors.PluginError("x", plugin="p"), 7, 500),
        (errors.UnsupportedOperationError("x"), 1, 501),
        (errors.InternalError("x"), 70, 500),
        (errors.UltraLLMError("x"), 1, 500),
    ],
)
def test_statuses_are_the_classes_own(error: errors.UltraLLMError, exit_code: int, http_status: int) -> None:
    assert (error.exit_code, error.http_status) == (exit_code, http_status)


def test_no_error_class_is_an_os_error() -> None:
    assert [cls.__name__ for cls in error_classes() if issubclass(cls, OSError)] == []


def test_a_plugin_errors_default_fix_names_the_plugin_to_skip() -> None:
    assert "ULTRA_LLM_DISABLE_PLUGINS=ollama-mw;" in errors.PluginError("x", plugin="ollama-mw").fix
    assert errors.PluginError("x", plugin="p", fix="Do this.").fix == "Do this."
