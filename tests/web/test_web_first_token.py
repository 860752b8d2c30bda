"""The web API answers a late first token with the adapter's first-token error (504), in the
first-token time, whole and streamed."""

from __future__ import annotations

import time
from typing import Any

import httpx2
import pytest


@pytest.mark.parametrize("stream", [False, True])
def test_a_late_first_token_is_a_504_in_the_first_token_time(
    web_server: Any, monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_FIRST_TOKEN_DELAY", "3")
    monkeypatch.setenv("ULTRA_LLM_FIRST_TOKEN_TIMEOUT", "0.3")
    server = web_server()
    with httpx2.Client(base_url=server.url, timeout=30) as client:
        started = time.monotonic()
        response = client.post("/api/generate", json={"prompt": "x", "backend": "mock", "stream": stream})
        elapsed = time.monotonic() - started
    assert response.status_code == 504, response.text
    body = response.json()
    assert body["error"] == "GenerationTimeoutError"
    assert body["message"].startswith("No answer from backend 'mock' within the 0.3 s first-token timeout"), body
    assert "ULTRA_LLM_FIRST_TOKEN_TIMEOUT" in body["fix"]
    assert elapsed < 2, elapsed
