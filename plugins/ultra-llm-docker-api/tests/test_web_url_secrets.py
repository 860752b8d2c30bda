"""Credentials in MODEL_RUNNER_URL never reach ``ultra-llm serve``'s web API: not in the backends
listing, the doctor or a generation's error, where the URL shows as ``***@host`` (the runner down)."""

from __future__ import annotations

from typing import Any

import pytest

from ultra_llm.testing.serve import free_port, wait_ready

httpx2 = pytest.importorskip("httpx2")


def test_credentials_in_the_runner_url_never_reach_the_web_api(ultra_llm_serve: Any) -> None:
    secret = "s3cret-in-url"
    env = {
        "MODEL_RUNNER_URL": f"http://ultra:{secret}@127.0.0.1:{free_port()}",  # closed port
        "ULTRA_LLM_CHECK_TIMEOUT": "2",
    }
    process, port = ultra_llm_serve(env=env)
    api = f"http://127.0.0.1:{port}/api"
    backends = wait_ready(process, f"{api}/backends").text
    doctor = httpx2.get(f"{api}/doctor", timeout=30).text
    generated = httpx2.post(f"{api}/generate", json={"prompt": "x", "backend": "docker-api"}, timeout=30).text
    assert secret not in backends + doctor + generated
    assert "***@127.0.0.1" in backends and "***@127.0.0.1" in generated
