"""A password in MODEL_RUNNER_URL reaches no error, log line or API answer, on every path an error
can take: each failing answer of a scripted loopback runner, through the real ``ultra-llm`` console
script (with and without ``--debug``), through ``ultra-llm serve``'s JSON and its log, and through
``logging`` in a library user's process. The request URLs carry no user-info at all: it is sent as
``Authorization: Basic`` (built once with the endpoint)."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import subprocess
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from ultra_llm import create_adapter
from ultra_llm._host import PluginHost
from ultra_llm.errors import UltraLLMError
from ultra_llm.testing.scripted_server import ScriptedServer, SeenRequest, chunked, send_json, send_text, sse_head
from ultra_llm.testing.serve import SCRIPT, wait_ready

httpx2 = pytest.importorskip("httpx2")

SECRET = "pa55-w0rd-in-url"
USER = "alice"
BASIC = base64.b64encode(f"{USER}:{SECRET}".encode()).decode()
"""What the password looks like in the Authorization header: never shown either."""

Answer = Callable[[asyncio.StreamWriter], Awaitable[None]]


def _json(status: int, value: Any) -> Answer:
    async def answer(writer: asyncio.StreamWriter) -> None:
        await send_json(writer, status, value)

    return answer


def _text(status: int, text: str) -> Answer:
    async def answer(writer: asyncio.StreamWriter) -> None:
        await send_text(writer, status, text)

    return answer


def _stream(*events: bytes) -> Answer:
    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(sse_head() + b"".join(chunked(e) for e in events) + b"0\r\n\r\n")
        await writer.drain()

    return answer


NO_JINJA = "tools param requires --jinja flag"
UNFINISHED = b'{"choices":[{"delta":{"content":"x"}}]}'
"""A stream event with no finish reason: the stream then ends without one."""

# (what the error says, how the runner answers the chat completion, the API path, stream?)
CASES: dict[str, tuple[str, Answer, str, bool]] = {
    "404": ("answered 404", _json(404, {"error": "no such route"}), "", False),
    "401": ("refused the request", _text(401, "unauthorized"), "", False),
    "403": ("refused the request", _text(403, "forbidden"), "", False),
    "429": ("rate limiting", _text(429, "slow down"), "", False),
    "408": ("timed out serving", _text(408, "timeout"), "", False),
    "501": ("answered 501", _text(501, "not here"), "", False),
    "503": ("is unavailable", _text(503, "down"), "", False),
    "too-large": ("request too large", _text(400, "request too large"), "", False),
    "no-jinja": (
        "cannot call tools",
        _json(500, {"error": {"message": "tools param requires --jinja flag"}}),
        "",
        False,
    ),
    "missing-model": ("was not found", _json(404, {"error": {"message": "model not found"}}), "/v1", False),
    "malformed": ("malformed answer", _text(200, "this is not JSON"), "", False),
    "malformed-stream": ("malformed answer", _stream(b"data: {not json\n\n"), "", True),
    "cut-stream": (
        "ended before it was complete",
        _stream(b'data: {"choices":[{"delta":{"content":"x"}}]}\n\n'),
        "",
        True,
    ),
}


def runner(chat: Answer) -> ScriptedServer:
    """A runner that answers its checks and listings, and ``chat`` for every chat completion."""

    async def handler(request: SeenRequest, writer: asyncio.StreamWriter) -> None:
        if request.path.endswith("/chat/completions"):
            await chat(writer)
        elif request.path.endswith("/models"):
            await send_json(writer, 200, {"object": "list", "data": [{"id": "ai/tiny"}]})
        else:
            await send_text(writer, 200, "Docker Model Runner is running")

    return ScriptedServer(handler)


def secret_url(server: ScriptedServer, path: str = "") -> str:
    return server.url.replace("http://", f"http://{USER}:{SECRET}@") + path


def clean_env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ULTRA_LLM_", "MODEL_RUNNER_"))}
    return {**base, "ULTRA_LLM_FALLBACK": "none", "ULTRA_LLM_DOCKER_API_RETRIES": "1", **extra}


def assert_hidden(text: str) -> None:
    assert SECRET not in text and BASIC not in text, text


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_no_error_shows_the_password_in_the_cli(case: str, debug: bool) -> None:
    expected, chat, path, stream = CASES[case]
    with runner(chat) as server:
        args = [SCRIPT, *(["--debug"] if debug else []), "generate", "-b", "docker-api", "-m", "ai/tiny"]
        done = subprocess.run(
            [*args, *(["--stream"] if stream else []), "hi"],
            env=clean_env(MODEL_RUNNER_URL=secret_url(server, path)),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        seen = list(server.requests)
    shown = done.stdout + done.stderr
    assert done.returncode != 0 and expected in shown, shown
    assert_hidden(shown)
    if debug:  # the debug log ran: httpx2's request lines, with URLs and no password
        assert "HTTP Request: POST http://127.0.0.1:" in done.stderr, done.stderr
    assert seen and all(r.headers.get("authorization") == f"Basic {BASIC}" for r in seen)


def test_no_error_shows_the_password_through_serve_its_json_or_its_log(ultra_llm_serve: Any) -> None:
    statuses = {"/engines/v1/chat/completions": 401, "/models": 403}

    async def handler(request: SeenRequest, writer: asyncio.StreamWriter) -> None:
        if request.path in statuses:
            await send_text(writer, statuses[request.path], "go away")
        elif request.path == "/engines/v1/models":
            await send_text(writer, 404, "no such route")
        else:
            await send_text(writer, 200, "Docker Model Runner is running")

    with ScriptedServer(handler) as server:
        env = clean_env(MODEL_RUNNER_URL=secret_url(server), ULTRA_LLM_BACKEND="docker-api")
        process, port = ultra_llm_serve(env=env, debug=True)
        api = f"http://127.0.0.1:{port}/api"
        models = wait_ready(process, f"{api}/models")
        whole = httpx2.post(f"{api}/generate", json={"prompt": "hi", "model": "ai/tiny"}, timeout=30)
        streamed = httpx2.post(f"{api}/generate", json={"prompt": "hi", "model": "ai/tiny", "stream": True}, timeout=30)
        process.terminate()
        _, log = process.communicate(timeout=30)
    assert models.status_code == 503 and "refused the request" in models.json()["message"], models.text
    assert whole.status_code == 503 and "refused the request" in whole.json()["message"], whole.text
    assert "refused the request" in streamed.text, streamed.text
    for text in (models.text, whole.text, streamed.text, log):
        assert_hidden(text)
    assert "HTTP Request: POST http://127.0.0.1:" in log, log  # the library's log did run


def test_a_library_users_log_never_shows_the_password(caplog: pytest.LogCaptureFixture) -> None:
    expected, chat, _, _ = CASES["401"]
    caplog.set_level(logging.DEBUG)
    with runner(chat) as server:

        async def generate() -> None:
            async with await create_adapter(
                "ai/tiny",
                backend="docker-api",
                host=PluginHost(),
                settings={"url": secret_url(server), "retries": 1},
                check=False,
            ) as adapter:
                await adapter.generate("hi")

        with pytest.raises(UltraLLMError) as caught:
            asyncio.run(generate())
    assert expected in caught.value.message and "HTTP Request: POST" in caplog.text
    assert_hidden(str(caught.value) + repr(caught.value.to_dict()) + caplog.text)


def test_every_error_and_log_record_masks_a_url_however_it_was_built() -> None:
    from ultra_llm._redact import RedactingFilter

    error = UltraLLMError(f"GET http://{USER}:{SECRET}@h/x failed", fix=f"See https://h/?token={SECRET}.")
    assert_hidden(error.message + error.fix + str(error) + repr(error.args))
    record = logging.LogRecord(
        "httpx2", logging.INFO, __file__, 1, "HTTP Request: %s %s", ("GET", f"http://u:{SECRET}@h/"), None
    )
    assert RedactingFilter().filter(record) and record.getMessage() == "HTTP Request: GET http://***@h/"


@pytest.mark.parametrize("password", ["half@" + SECRET, "half%40" + SECRET], ids=["raw-at", "encoded-at"])
def test_a_password_holding_an_at_sign_is_sent_whole_and_shown_nowhere(password: str) -> None:
    with runner(CASES["401"][1]) as server:
        url = server.url.replace("http://", f"http://{USER}:{password}@")
        shown = ""
        for command in (["config"], ["generate", "-b", "docker-api", "-m", "ai/tiny", "hi"]):
            done = subprocess.run(
                [SCRIPT, *command], env=clean_env(MODEL_RUNNER_URL=url), capture_output=True, text=True, timeout=60
            )
            shown += done.stdout + done.stderr
        seen = list(server.requests)
    assert "refused the request" in shown and "***@127.0.0.1" in shown, shown
    assert SECRET not in shown and "half" not in shown, shown
    sent = base64.b64encode(f"{USER}:half@{SECRET}".encode()).decode()
    assert seen and all(r.headers.get("authorization") == f"Basic {sent}" for r in seen)
