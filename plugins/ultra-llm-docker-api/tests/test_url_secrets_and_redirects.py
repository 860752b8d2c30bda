"""MODEL_RUNNER_URL's credentials never shown; a malformed URL is a configuration error (exit 2);
a redirect from the server is an error, never a success. Through the real ``ultra-llm`` console
script in a subprocess, and against a scripted loopback server."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ultra_llm_docker.testing.engine.launcher import free_port

from ultra_llm import create_adapter
from ultra_llm._host import PluginHost
from ultra_llm._redact import redact_urls
from ultra_llm.errors import ConfigurationError
from ultra_llm.testing.scripted_server import ScriptedServer, SeenRequest, send_json, send_text

CONSOLE_SCRIPT = Path(sys.executable).with_name("ultra-llm")
SECRET = "s3cret-pa55"


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ULTRA_LLM_", "MODEL_RUNNER_"))}
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *args],
        env={**base, "ULTRA_LLM_CHECK_TIMEOUT": "2", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_redaction_masks_user_info_and_query_values_even_in_malformed_urls() -> None:
    assert (
        redact_urls(f"x http://me:{SECRET}@h:1/v1?api_key={SECRET}&b=2 y") == "x http://***@h:1/v1?api_key=***&b=*** y"
    )
    assert redact_urls(f"http://{SECRET}@[::1") == "http://***@[::1"
    assert redact_urls("unix:///var/run/docker.sock and http://localhost:12434") == (
        "unix:///var/run/docker.sock and http://localhost:12434"
    )


@pytest.mark.parametrize(
    "command",
    [
        ("config",),
        ("config", "--json"),
        ("backends", "--json"),
        ("doctor", "--backend", "docker-api"),
        ("generate", "-b", "docker-api", "hi"),
        ("models", "-b", "docker-api"),
    ],
)
def test_credentials_in_the_url_are_never_shown(command: tuple[str, ...]) -> None:
    url = f"http://ultra:{SECRET}@127.0.0.1:{free_port()}"  # closed: every command reports the failure
    done = cli(*command, MODEL_RUNNER_URL=url, ULTRA_LLM_FALLBACK="none")
    shown = done.stdout + done.stderr
    assert SECRET not in shown, shown
    assert "***@127.0.0.1" in shown, shown


def test_a_url_with_a_query_is_refused_and_the_query_masked() -> None:
    done = cli("generate", "-b", "docker-api", "hi", MODEL_RUNNER_URL=f"http://127.0.0.1:1/?api_key={SECRET}")
    assert done.returncode == 2, done.stderr
    assert SECRET not in done.stdout + done.stderr and "api_key=***" in done.stderr
    assert "ULTRA_LLM_DOCKER_API_API_KEY" in done.stderr


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:99999", "http://:80", f"http://u:{SECRET}@[::1"])
def test_a_malformed_url_is_a_configuration_error_not_the_plugins_fault(url: str) -> None:
    done = cli("generate", "-b", "docker-api", "hi", MODEL_RUNNER_URL=url)
    assert done.returncode == 2, (done.returncode, done.stderr)  # 7 would blame the plugin
    assert "MODEL_RUNNER_URL=" in done.stderr and "Traceback" not in done.stderr
    assert SECRET not in done.stderr


def test_user_info_is_sent_as_basic_auth() -> None:
    seen: list[SeenRequest] = []

    async def handler(request: SeenRequest, writer: asyncio.StreamWriter) -> None:
        seen.append(request)
        await send_json(writer, 200, {"object": "list", "data": [{"id": "ai/tiny"}]})

    with ScriptedServer(handler) as server:
        url = server.url.replace("http://", f"http://ultra:{SECRET}@") + "/v1"
        done = cli("models", "-b", "docker-api", MODEL_RUNNER_URL=url)
    assert done.returncode == 0, done.stderr
    expected = "Basic " + base64.b64encode(f"ultra:{SECRET}".encode()).decode()
    assert seen and all(request.headers.get("authorization") == expected for request in seen)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_an_error_for_generation_and_for_rm(status: int) -> None:
    closed = free_port()  # the redirect points at a closed loopback port: never followed anyway

    async def handler(request: SeenRequest, writer: asyncio.StreamWriter) -> None:
        await send_text(writer, status, "", location=f"http://127.0.0.1:{closed}/?token={SECRET}")

    with ScriptedServer(handler) as server:

        async def generate() -> None:
            async with await create_adapter(
                "ai/tiny", backend="docker-api", host=PluginHost(), settings={"url": server.url}, check=False
            ) as adapter:
                await adapter.generate("hi")

        with pytest.raises(ConfigurationError) as caught:
            asyncio.run(generate())
        removed = cli("rm", "-b", "docker-api", "ai/tiny", MODEL_RUNNER_URL=server.url)
    assert f"answered {status}, a redirect" in caught.value.message and SECRET not in str(caught.value)
    assert removed.returncode == 2 and "Removed" not in removed.stdout, removed.stdout + removed.stderr
    assert f"answered {status}" in removed.stderr
