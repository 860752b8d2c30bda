"""The Docker family's test kit, a pytest plugin registered by its ``pytest11`` entry point.

- ``ultra_llm_docker_clean_env``: every Docker Model Runner variable unset, loaded or not (the
  kernel's ``ultra_llm_clean_env`` clears the variables of installed plugins' settings classes);
- ``double``: a faithful fake ``docker`` binary (``docker model ...``, the ``docker_double`` fixture);
- ``engine``: llama.cpp's ``llama-server``, pinned and built once per machine, with a tiny model and a
  proxy in the runner's layout (``real_engine``, ``dmr_runner``); and, with no real engine, a canned
  one behind that proxy with the runner's memory: slots, load time, eviction, load counters
  (``make_memory_runner``);
- ``balancer``: nginx in front of several runners.

Importing this package starts nothing and imports neither double nor engine until a fixture runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

pytest_plugins = [
    "ultra_llm_docker.testing.double.fixtures",
    "ultra_llm_docker.testing.engine.fixtures",
]

ENVIRONMENT_PREFIXES = ("MODEL_RUNNER_", "ULTRA_LLM_DOCKER_")
ENVIRONMENT_NAMES = ("USE_MODEL_RUNNER",)


@pytest.fixture
def ultra_llm_docker_clean_env(ultra_llm_clean_env: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Unset the seed's and the Docker backends' variables (``USE_MODEL_RUNNER``, ``MODEL_RUNNER_*``)
    on top of ``ultra_llm_clean_env``; yields its ``monkeypatch``."""
    for name in list(os.environ):
        if name.startswith(ENVIRONMENT_PREFIXES) or name in ENVIRONMENT_NAMES:
            ultra_llm_clean_env.delenv(name, raising=False)
    yield ultra_llm_clean_env
