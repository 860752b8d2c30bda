"""``ultra-llm serve`` over HTTP on 127.0.0.1 against a hostile third-party plugin: one request
cannot stop the server, and no request waits behind another backend's hung availability check."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

import pytest

from ultra_llm.testing.serve import wait_ready
from ultra_llm.testing.waiting import until

httpx2 = pytest.importorskip("httpx2")
pytest.importorskip("uvicorn")


@pytest.mark.parametrize("stream", [False, True])
def test_a_plugin_raising_system_exit_is_a_plugin_error_and_serve_keeps_serving(
    serve: Any, hostile_env: dict[str, str], stream: bool
) -> None:
    process, port = serve(env=hostile_env)
    base = f"http://127.0.0.1:{port}/api"
    assert wait_ready(process, f"{base}/models").status_code == 200
    answer = httpx2.post(f"{base}/generate", json={"prompt": "hi", "backend": "exits", "stream": stream}, timeout=30)
    assert answer.status_code == 500, answer.text
    body = answer.json()
    assert body["error"] == "PluginError" and "SystemExit" in body["message"], body
    assert "ultra_llm_hostile" in body["message"], "the plugin is named"
    again = httpx2.get(f"{base}/models", timeout=30)
    assert again.status_code == 200 and process.poll() is None, "the server keeps serving"


def test_a_hung_availability_check_blocks_no_other_request(
    serve: Any, hostile_env: dict[str, str], tmp_path: Path
) -> None:
    process, port = serve(env={**hostile_env, "ULTRA_LLM_CHECK_TIMEOUT": "600"})
    base = f"http://127.0.0.1:{port}/api"
    assert wait_ready(process, f"{base}/models").status_code == 200
    checking = Path(hostile_env["ULTRA_LLM_TEST_CHECKING"])

    def hung_request() -> None:
        with contextlib.suppress(httpx2.TransportError):  # the server stops at teardown with it waiting
            httpx2.get(f"{base}/models", params={"backend": "hanging-check"}, timeout=60)

    waiting = threading.Thread(target=hung_request, daemon=True)
    waiting.start()
    assert until(checking.exists, within=30), "the hanging check never started"
    other = httpx2.get(f"{base}/models", params={"backend": "mock"}, timeout=10)
    assert other.status_code == 200 and other.json()["backend"] == "mock"
    default = httpx2.post(f"{base}/generate", json={"prompt": "hi"}, timeout=10)
    assert default.status_code == 200, default.text
