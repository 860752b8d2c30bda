"""Issue 11 over HTTP on 127.0.0.1, through ``ultra-llm serve``: the web API refuses a prompt naming a
file (the docker-cli backend, against the docker double) and an empty prompt with a 422 in the error
shape, before any process starts and with nothing read; an e-mail address passes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ultra_llm_docker.testing.double.fixtures import DockerDouble

from ultra_llm.testing.serve import wait_ready

httpx2 = pytest.importorskip("httpx2")

SECRET = "TOP-SECRET-web-3d2a"


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / ".env"
    path.write_text(f"API_KEY={SECRET}\n", encoding="utf-8")
    return path


@pytest.fixture
def api(docker_double: DockerDouble, ultra_llm_serve: Any) -> Iterator[str]:
    """``ultra-llm serve`` (the double first on its PATH): the base URL of its API, once it answers."""
    process, port = ultra_llm_serve()
    url = f"http://127.0.0.1:{port}/api"
    assert wait_ready(process, f"{url}/backends").status_code == 200
    yield url


def post(api: str, body: dict[str, Any]) -> Any:
    return httpx2.post(f"{api}/generate", json=body, timeout=30)


@pytest.mark.parametrize(
    "prompt",
    [
        "summarize @{path}",
        "summarize @'{path}'",
        [
            {"role": "user", "content": "see @{path}"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "so?"},
        ],
    ],
    ids=["absolute", "quoted", "earlier-turn"],
)
def test_web_api_refuses_a_file_token_with_422(
    docker_double: DockerDouble, api: str, secret_file: Path, prompt: Any
) -> None:
    if isinstance(prompt, str):
        prompt = prompt.format(path=secret_file)
    else:
        prompt = [{**m, "content": m["content"].format(path=secret_file)} for m in prompt]
    for stream in (False, True):
        response = post(api, {"prompt": prompt, "model": "smollm2", "backend": "docker-cli", "stream": stream})
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["error"] == "UnsafePromptError" and str(secret_file) in body["message"] and body["fix"]
        assert SECRET not in response.text
    assert docker_double.invocations() == [] and docker_double.sent_prompts() == []


def test_web_api_passes_an_email_address(docker_double: DockerDouble, api: str) -> None:
    prompt = "mail someone@example.com"
    response = post(api, {"prompt": prompt, "model": "smollm2", "backend": "docker-cli"})
    assert response.status_code == 200 and response.json()["text"] == docker_double.expected_answer(prompt, "smollm2")


@pytest.mark.parametrize("stream", [False, True])
def test_web_api_refuses_an_empty_prompt_with_422(docker_double: DockerDouble, api: str, stream: bool) -> None:
    response = post(api, {"prompt": "  ", "model": "smollm2", "backend": "docker-cli", "stream": stream})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "EmptyPromptError" and body["fix"] and body["status"] == 422
    assert docker_double.invocations() == []
