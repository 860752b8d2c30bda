"""Fixtures for the docker-api backend tests: the real engine, the runner proxy, backend builders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

__all__ = ["make_backend"]

pytest.importorskip("httpx2")
pytest.importorskip("ultra_llm_docker_api")


@pytest.fixture(autouse=True)
def _clean_environment(ultra_llm_docker_clean_env: pytest.MonkeyPatch) -> None:
    """Every test starts with no ultra-llm or Docker Model Runner variable set (the family's
    ``ultra_llm_docker_clean_env``, on top of the kernel's ``ultra_llm_clean_env``)."""


@pytest.fixture
def make_backend() -> Callable[..., Any]:
    """Build a ``DockerAPIBackend`` for ``url`` with settings overrides (fast retries by default);
    ``clock``/``wall_clock`` go to the backend (its endpoint pool's clocks)."""
    from ultra_llm_docker_api.backend import DockerAPIBackend
    from ultra_llm_docker_api.settings import DockerAPISettings

    from ultra_llm._config import load_config

    def build(url: str, **settings: Any) -> DockerAPIBackend:
        settings.setdefault("retry_wait_initial", 0.01)
        core = {name: settings.pop(name) for name in ("timeout", "first_token_timeout") if name in settings}
        clocks = {name: settings.pop(name) for name in ("clock", "wall_clock") if name in settings}
        return DockerAPIBackend(load_config(**core), settings=DockerAPISettings.load(url=url, **settings), **clocks)

    return build
