"""The docker-cli backend against a real `docker model`, where one works (marked `docker`).

Skipped, with the reason, wherever `docker model status` does not succeed. Uses the first model
`docker model list` shows and never pulls or removes anything.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest
from ultra_llm_docker.testing.double.cli_backend import make_backend

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def real_docker() -> str:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker executable on PATH")
    try:
        status = subprocess.run([docker, "model", "status"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.skip("`docker model status` did not answer within 20 s")
    if status.returncode != 0:
        reason = (status.stderr or status.stdout).strip().splitlines()
        pytest.skip(f"`docker model status` failed: {reason[0] if reason else status.returncode}")
    return docker


def test_real_availability_and_listing(real_docker: str) -> None:
    backend = make_backend(docker_bin=real_docker)
    assert asyncio.run(backend.check_availability()).available
    models = asyncio.run(backend.list_models())
    assert all(backend.canonical_model(m.name) == m.name for m in models)


def test_real_generation(real_docker: str) -> None:
    backend = make_backend(docker_bin=real_docker)
    models = asyncio.run(backend.list_models())
    if not models:
        pytest.skip("no model pulled locally (`docker model pull ai/smollm2` enables this test)")
    from ultra_llm._types import GenerationRequest, to_messages

    result = asyncio.run(
        backend.generate(GenerationRequest(models[0].name, to_messages("Say hi."), None, "docker-cli"))
    )
    assert result.text.strip() and not result.text.endswith("\n")
