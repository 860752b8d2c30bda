"""The routes ``docs/ultra-integration.md`` gives Ultra, run as written on a real loopback server.

The block is taken from the page and executed, mounted in a FastAPI app served by uvicorn, and
called over HTTP. It must not fall into the two traps the page names: a streamed answer that is an
empty 200 when the model is unknown, and a ``/models`` that answers 503 while ``/generate`` answers
from the stand-in.
"""

from __future__ import annotations

import importlib.util
import re
import types
from collections.abc import Iterator
from typing import Any

import pytest

from tests.docs.docs_support import page
from ultra_llm.testing.serve import free_port

httpx2 = pytest.importorskip("httpx2")
BLOCK = re.compile(r"```python\n(?P<code>.*?)```", re.DOTALL)


def routes_module() -> types.ModuleType:
    """The page's route block, executed as a module of its own."""
    blocks = [match["code"] for match in BLOCK.finditer(page("ultra-integration.md"))]
    chosen = [code for code in blocks if "class GenerateRequest" in code and "@router.post" in code]
    assert len(chosen) == 1, "the page must hold exactly one complete route block"
    module = types.ModuleType("ultra_routes_from_the_docs")
    exec(compile(chosen[0], "docs/ultra-integration.md", "exec"), module.__dict__)
    return module


@pytest.fixture
def ultra_app(ultra_llm_clean_env: pytest.MonkeyPatch) -> Iterator[Any]:
    """A client of Ultra's app (the page's router in a FastAPI app) on a real loopback server."""
    from fastapi import FastAPI

    from tests.web.conftest import WebServer
    from ultra_llm import get_host

    app = FastAPI()
    app.include_router(routes_module().router)
    server = WebServer(app, get_host()).start()
    try:
        with httpx2.Client(base_url=server.url, timeout=30) as client:
            yield client
    finally:
        server.stop()


def test_an_unknown_model_is_a_404_whole_and_streamed(ultra_app: Any, ultra_llm_clean_env: pytest.MonkeyPatch) -> None:
    ultra_llm_clean_env.setenv("ULTRA_LLM_BACKEND", "mock")
    ultra_llm_clean_env.setenv("ULTRA_LLM_MOCK_FAULT", "unknown-model")
    for stream in (False, True):
        answer = ultra_app.post("/api/modelrunner/generate", json={"prompt": "hi", "model": "nope", "stream": stream})
        assert answer.status_code == 404, (stream, answer.text)
        assert answer.json()["detail"]["error"] == "ModelNotFoundError"


def test_a_streamed_answer_arrives_whole(ultra_app: Any, ultra_llm_clean_env: pytest.MonkeyPatch) -> None:
    ultra_llm_clean_env.setenv("ULTRA_LLM_BACKEND", "mock")
    whole = ultra_app.post("/api/modelrunner/generate", json={"prompt": "hello there"})
    streamed = ultra_app.post("/api/modelrunner/generate", json={"prompt": "hello there", "stream": True})
    assert whole.status_code == streamed.status_code == 200
    assert "hello there" in whole.json()["text"]
    assert streamed.text == whole.json()["text"]


@pytest.mark.skipif(
    importlib.util.find_spec("ultra_llm_docker_api") is None,
    reason="needs a backend that can be down: the docker-api plugin (CI's full run)",
)
def test_models_falls_back_as_generate_does(ultra_app: Any, ultra_llm_clean_env: pytest.MonkeyPatch) -> None:
    """With the runner down, both routes answer from the stand-in (the old ``/models`` gave 503)."""
    ultra_llm_clean_env.setenv("ULTRA_LLM_BACKEND", "docker-api")
    ultra_llm_clean_env.setenv("MODEL_RUNNER_URL", f"http://127.0.0.1:{free_port()}")  # a closed loopback port
    listed = ultra_app.get("/api/modelrunner/models")
    answered = ultra_app.post("/api/modelrunner/generate", json={"prompt": "hi"})
    assert listed.status_code == 200 and answered.status_code == 200, (listed.text, answered.text)
    assert listed.json()["backend"] == "mock" and listed.json()["models"]
    assert "mock response" in answered.json()["text"]
