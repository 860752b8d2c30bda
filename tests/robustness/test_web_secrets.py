"""``ultra-llm serve`` keeps its token to itself: a bad ``ULTRA_LLM_WEB_TOKEN`` is one line that never
shows the value, and no page on the console's origin loads a third-party script."""

from __future__ import annotations

import os
import re
import subprocess
from typing import Any

import pytest

from ultra_llm.testing.serve import SCRIPT, wait_ready

httpx2 = pytest.importorskip("httpx2")
pytest.importorskip("uvicorn")

MARK = b"SeCrEtMaRk"


@pytest.mark.parametrize(
    "token",
    [MARK + b"-4", MARK + b"-long-enough-but-\xff", MARK + b"-long-enough-but\x01ctl", MARK + b" long enough sp"],
    ids=["short", "invalid-utf8", "control", "space"],
)
def test_a_bad_token_is_one_line_that_never_shows_it(token: bytes) -> None:
    env = {**{k.encode(): v.encode() for k, v in os.environ.items()}, b"ULTRA_LLM_WEB_TOKEN": token}
    done = subprocess.run([SCRIPT, "serve", "--port", "0"], capture_output=True, timeout=60, env=env)
    assert done.returncode == 2, done
    assert done.stderr.startswith(b"Error: ") and done.stderr.count(b"\n") == 1, done.stderr
    assert b"ULTRA_LLM_WEB_TOKEN" in done.stderr and MARK.lower() not in done.stderr.lower()
    assert b"Traceback" not in done.stderr


def test_no_page_on_the_console_origin_loads_a_third_party_script(serve: Any) -> None:
    process, port = serve()
    base = f"http://127.0.0.1:{port}"
    assert wait_ready(process, f"{base}/api/openapi.json").status_code == 200
    assert httpx2.get(f"{base}/api/docs", timeout=10).status_code == 404
    console = httpx2.get(f"{base}/", timeout=10)
    assert console.status_code == 200 and "api/docs" not in console.text
    pages = [console.text, httpx2.get(f"{base}/api/openapi.json", timeout=10).text]
    for page in pages:
        assert not re.search(r"<script[^>]+src=[\"']?(https?:)?//", page), "a script from another origin"
