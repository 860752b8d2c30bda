"""Bad text and reserved keys at the boundaries: invalid UTF-8 in ``argv`` and ``-o model=...`` on the
CLI (exit 2, one line), lone surrogates and smuggled reserved keys in JSON bodies of ``ultra-llm
serve`` (422 with the documented error body), and a model's lone surrogate never a 500 or a cut stream."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from ultra_llm.testing.serve import SCRIPT, wait_ready

httpx2 = pytest.importorskip("httpx2")
pytest.importorskip("uvicorn")

BAD = b"caf\xe9 \xff"
"""Latin-1 bytes, not UTF-8: what a terminal in the wrong encoding sends."""

ERROR_KEYS = {"error", "message", "fix", "backend", "status"}


def run_cli(*args: bytes | str) -> subprocess.CompletedProcess[bytes]:
    argv = [SCRIPT.encode(), *(a.encode() if isinstance(a, str) else a for a in args)]
    return subprocess.run(argv, capture_output=True, timeout=60, env=dict(os.environ))


@pytest.mark.parametrize(
    "args",
    [
        ("generate", BAD),
        ("generate", "--stream", BAD),
        ("generate", "--system", BAD, "hi"),
        ("generate", "-m", b"mock/\xff", "hi"),
        ("generate", "-o", b"stop=\xff", "hi"),
        ("embed", BAD),
    ],
    ids=["prompt", "streamed", "system", "model", "option", "embed"],
)
def test_invalid_utf8_in_argv_is_exit_2_in_one_line(args: tuple[bytes | str, ...]) -> None:
    done = run_cli(*args)
    assert done.returncode == 2, done
    assert done.stdout == b""
    err = done.stderr.decode()
    assert err.startswith("Error: ") and err.count("\n") == 1 and "valid text" in err and "Traceback" not in err


@pytest.mark.parametrize("key", ["model", "system_message", "progress"])
def test_reserved_keys_cannot_be_smuggled_through_dash_o(key: str) -> None:
    done = run_cli("generate", "-o", f"{key}=x", "hi")
    assert done.returncode == 2, done
    err = done.stderr.decode()
    assert err.startswith("Error: ") and key in err and "reserved" in err and done.stdout == b""


def post_raw(url: str, raw: str) -> Any:
    """POST ``raw`` JSON text as it is (``\\ud800`` escapes kept: no client re-encodes them)."""
    return httpx2.post(url, content=raw.encode("ascii"), headers={"Content-Type": "application/json"}, timeout=30)


def test_web_refuses_lone_surrogates_and_reserved_options_with_422(serve: Any) -> None:
    process, port = serve()
    api = f"http://127.0.0.1:{port}/api"
    assert wait_ready(process, f"{api}/models").status_code == 200
    refused = {
        "prompt": ("/generate", '{"prompt": "hi \\ud800"}'),
        "streamed": ("/generate", '{"prompt": "hi \\udfff", "stream": true}'),
        "stream route": ("/generate/stream", '{"prompt": "hi \\udc80"}'),
        "message": ("/generate", '{"prompt": [{"role": "user", "content": "\\ud83d"}]}'),
        "option": ("/generate", '{"prompt": "hi", "options": {"stop": ["\\ud800"]}}'),
        "model": ("/generate", '{"prompt": "hi", "model": "\\ud800"}'),
        "backend": ("/generate", '{"prompt": "hi", "backend": "\\ud800"}'),
        "embeddings": ("/embeddings", '{"input": ["ok", "\\ud800"]}'),
        "pull": ("/models/pull", '{"model": "\\ud800"}'),
        "option key": ("/generate", '{"prompt": "hi", "options": {"\\ud800": 1}}'),
        "schema key": ("/generate", '{"prompt": "hi", "response_format": {"type": "object", "\\udc00x": {}}}'),
        "streamed key": ("/generate/stream", '{"prompt": "hi", "options": {"stop": {"\\udfff": "a"}}}'),
        "tool key": (
            "/generate",
            '{"prompt": "hi", "tools": [{"function": {"name": "f", "parameters": {"\\ud800": {}}}}]}',
        ),
        "reserved model": ("/generate", '{"prompt": "hi", "options": {"model": "mock/echo"}}'),
        "reserved system": ("/generate", '{"prompt": "hi", "options": {"system_message": "x"}}'),
        "reserved progress": ("/generate", '{"prompt": "hi", "stream": true, "options": {"progress": 1}}'),
    }
    for case, (route, raw) in refused.items():
        answer = post_raw(api + route, raw)
        assert answer.status_code == 422, (case, answer.status_code, answer.text)
        body = answer.json()
        assert set(body) >= ERROR_KEYS and body["status"] == 422, (case, body)
        if "key" in case:  # where it is, the key shown escaped
            assert "\\ud" in body["message"], (case, body["message"])
    paired = post_raw(f"{api}/generate", '{"prompt": "a pair \\ud83d\\ude00 is one character"}')
    assert paired.status_code == 200 and "\U0001f600" in paired.json()["text"]


def test_a_lone_surrogate_from_a_model_is_escaped_never_a_500_or_a_cut_stream(
    serve: Any, hostile_env: dict[str, str]
) -> None:
    process, port = serve(env=hostile_env)
    api = f"http://127.0.0.1:{port}/api"
    assert wait_ready(process, f"{api}/models").status_code == 200
    whole = httpx2.post(f"{api}/generate", json={"prompt": "hi", "backend": "surrogate"}, timeout=30)
    assert whole.status_code == 200 and whole.json()["text"] == "a\udcffbc"
    streamed = httpx2.post(f"{api}/generate/stream", json={"prompt": "hi", "backend": "surrogate"}, timeout=30)
    events = [line.split(" ", 1)[1] for line in streamed.text.splitlines() if line.startswith("event:")]
    data = [json.loads(line.split(" ", 1)[1]) for line in streamed.text.splitlines() if line.startswith("data:")]
    assert events == ["chunk", "chunk", "done"], streamed.text
    assert "".join(d.get("text", "") for d in data) == "a\udcffbc"
