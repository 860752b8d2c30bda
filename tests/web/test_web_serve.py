"""``ultra-llm serve`` as a real process (stopped by its own handle), and the import boundary."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

import pytest

from ultra_llm.testing.serve import SCRIPT, wait_ready

httpx2 = pytest.importorskip("httpx2")
pytest.importorskip("uvicorn")

TOKEN = "serve-test-token-0123456789abcdef"


def test_serve_on_loopback_by_default(serve: Any) -> None:
    process, port = serve()
    response = wait_ready(process, f"http://127.0.0.1:{port}/api/models")
    assert response.status_code == 200 and response.json()["backend"] == "mock"
    page = httpx2.get(f"http://127.0.0.1:{port}/")
    assert page.status_code == 200 and "ultra-llm console" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0


def test_serve_refuses_non_loopback_without_a_token(serve: Any) -> None:
    process, _ = serve("--host", "0.0.0.0")
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "without a token" in stderr and "ULTRA_LLM_WEB_TOKEN" in stderr


def test_serve_non_loopback_with_a_token_requires_it(serve: Any) -> None:
    process, port = serve("--host", "0.0.0.0", env={"ULTRA_LLM_WEB_TOKEN": TOKEN})
    denied = wait_ready(process, f"http://127.0.0.1:{port}/api/models")
    assert denied.status_code == 401
    allowed = httpx2.get(f"http://127.0.0.1:{port}/api/models", headers={"Authorization": f"Bearer {TOKEN}"})
    assert allowed.status_code == 200


def test_importing_ultra_llm_and_the_cli_loads_nothing_web() -> None:
    code = (
        "import sys, ultra_llm, ultra_llm._cli.app as app; app.build_cli(); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'uvicorn', 'starlette') "
        "or m.startswith('ultra_llm.web')); print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
    helps = subprocess.run([SCRIPT, "serve", "--help"], capture_output=True, text=True, check=True)
    assert "ULTRA_LLM_WEB_TOKEN" in helps.stdout


def test_serve_on_another_loopback_address_answers_its_own_url_and_still_checks_the_host(serve: Any) -> None:
    process, port = serve("--host", "127.0.0.2")
    own = wait_ready(process, f"http://127.0.0.2:{port}/api/models")
    assert own.status_code == 200 and own.json()["backend"] == "mock", own.text
    assert httpx2.get(f"http://127.0.0.2:{port}/").status_code == 200, "the console it printed opens"
    for foreign in (f"attacker.example:{port}", f"127.0.0.3:{port}", "127.0.0.2.attacker.example"):
        refused = httpx2.get(f"http://127.0.0.2:{port}/api/models", headers={"Host": foreign})
        assert refused.status_code == 400 and refused.json()["error"] == "HostNotAllowed", foreign
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0
