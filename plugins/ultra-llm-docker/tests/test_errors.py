"""The family's typed errors (``ultra_llm_docker.errors``): each keeps the statuses of the neutral
error it subclasses, none is an ``OSError``, and none takes the internal-error exit status."""

from __future__ import annotations

import inspect

from ultra_llm_docker import errors as docker_errors

from ultra_llm import errors


def error_classes() -> list[type[errors.UltraLLMError]]:
    return [
        cls
        for _, cls in inspect.getmembers(docker_errors, inspect.isclass)
        if issubclass(cls, errors.UltraLLMError) and cls.__module__ == docker_errors.__name__
    ]


def test_the_daemon_down_error_has_the_unavailable_statuses() -> None:
    error = docker_errors.DockerDaemonDownError("x")
    assert (error.exit_code, error.http_status) == (3, 503)


def test_no_error_class_is_an_os_error() -> None:
    assert error_classes(), "the family defines typed errors"
    assert [cls.__name__ for cls in error_classes() if issubclass(cls, OSError)] == []


def test_no_typed_error_shares_the_internal_status() -> None:
    exported = [getattr(docker_errors, name) for name in docker_errors.__all__]
    typed = [cls for cls in exported if isinstance(cls, type) and issubclass(cls, errors.UltraLLMError)]
    assert typed, "the family exports typed errors"
    assert errors.InternalError.exit_code not in {cls.exit_code for cls in typed}
