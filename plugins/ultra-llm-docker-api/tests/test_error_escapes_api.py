"""Escape sequences a runner or a model put in the docker-api backend's errors never reach the terminal
through ``ultra-llm``'s error lines, warnings or ``--debug`` log: shown as ``\\xNN`` text, the message
still readable. Each test runs the console script as a real process against a scripted loopback
runner (stderr a pipe: error text is neutralised wherever it goes, since a log file is read on a
terminal later)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest

from ultra_llm.testing.scripted_server import ScriptedServer, SeenRequest, send_json, send_text
from ultra_llm.testing.serve import SCRIPT

HOSTILE = "boom \x1b]52;c;cm0gLXJmIH4=\x07 \x1b]0;pwned\x07 \x1b[2J\x1b[31mred \x9b2J \x9d0;t\x9c end"
"""An OSC 52 clipboard write and an OSC 0 title (BEL-terminated), CSI clear and colour, C1 CSI and OSC."""


def assert_neutralised(stderr: bytes) -> str:
    """No ESC, BEL or C1 control in ``stderr``; the text decoded for further checks."""
    assert b"\x1b" not in stderr and b"\x07" not in stderr, stderr
    text = stderr.decode("utf-8")
    assert "\x9b" not in text and "\x9d" not in text and "\x9c" not in text, text
    return text


def ultra_llm(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([SCRIPT, *args], capture_output=True, env={**os.environ, **env}, timeout=60)


def api_env(url: str) -> dict[str, str]:
    return {
        "MODEL_RUNNER_URL": url,
        "ULTRA_LLM_BACKEND": "docker-api",
        "ULTRA_LLM_FALLBACK": "none",
        "ULTRA_LLM_DOCKER_API_RETRIES": "1",
    }


@pytest.mark.parametrize("debug", [[], ["--debug"]], ids=["line", "debug"])
def test_a_runner_error_body_is_shown_not_obeyed(debug: list[str]) -> None:
    """docker-api: a 500 whose body holds escapes: the one error line (or, with ``--debug``, the log
    and the traceback) shows them as text."""

    async def handler(request: SeenRequest, writer: asyncio.StreamWriter) -> None:
        await send_text(writer, 500, f"unable to load runner: {HOSTILE}\n")

    with ScriptedServer(handler) as server:
        done = ultra_llm(*debug, "generate", "-m", "ai/smollm2", "hi", env=api_env(server.url))
    assert done.returncode == 6, done
    text = assert_neutralised(done.stderr)
    assert "\\x1b]52;c;cm0gLXJmIH4=\\x07" in text and "\\x9b2J" in text and "end" in text
    if not debug:
        assert text.startswith("Error: Docker Model Runner could not load the model (500).")


def test_structured_output_backend_output_is_shown_not_obeyed() -> None:
    """A schema answer that is not JSON: ``StructuredOutputError``'s ``Backend output:`` quotes the model."""

    async def handler(request: SeenRequest, writer: asyncio.StreamWriter) -> None:
        answer = {
            "id": "x",
            "object": "chat.completion",
            "model": "ai/smollm2",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": HOSTILE}, "finish_reason": "stop"}],
        }
        await send_json(writer, 200, answer)

    with ScriptedServer(handler) as server:
        done = ultra_llm(
            "generate", "-m", "ai/smollm2", "--schema", '{"type": "object"}', "hi", env=api_env(server.url)
        )
    assert done.returncode == 6, done
    text = assert_neutralised(done.stderr)
    assert text.startswith("Error: ") and "Backend output: boom \\x1b]52;c;cm0gLXJmIH4=\\x07" in text
    assert any("chat/completions" in request.path for request in server.requests)


def test_a_warning_line_is_shown_not_obeyed() -> None:
    """A log warning quoting a runner's text (the fallback's reason: the runner's 503 body)."""

    async def handler(request: SeenRequest, writer: asyncio.StreamWriter) -> None:
        await send_text(writer, 503, HOSTILE)

    with ScriptedServer(handler) as server:
        env = {**api_env(server.url), "ULTRA_LLM_FALLBACK": "mock"}
        done = ultra_llm("generate", "-m", "mock/echo", "hi", env=env)
    assert done.returncode == 0 and done.stdout == b"hi\n", done
    text = assert_neutralised(done.stderr)
    assert text.startswith("Warning: Backend 'docker-api' is unavailable") and "(503 boom \\x1b]52;c;" in text, text


def test_batch_per_prompt_errors_stay_escaped_json(tmp_path: Path) -> None:
    """``batch``: each failed prompt's error (a runner's 400 body quoted in its message) is a JSON line,
    its control characters ``\\u``-escaped; the summary on stderr carries none."""

    async def handler(request: SeenRequest, writer: asyncio.StreamWriter) -> None:
        if request.path.endswith("/chat/completions"):
            await send_text(writer, 400, HOSTILE)
        else:
            await send_json(writer, 200, {"object": "list", "data": [{"id": "ai/smollm2", "object": "model"}]})

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("one\ntwo\n", encoding="utf-8")
    with ScriptedServer(handler) as server:
        done = ultra_llm("batch", "-m", "ai/smollm2", str(prompts), env=api_env(server.url))
    assert done.returncode == 1, done
    assert_neutralised(done.stderr)
    assert_neutralised(done.stdout)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["error"]["message"] for line in lines] == [f"The server refused the request: 400 {HOSTILE}"] * 2
