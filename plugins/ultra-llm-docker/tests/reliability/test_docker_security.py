"""Security properties of the Docker backends, proved: prompts never in argv, names validated before
argv or URL, secrets never in errors, logs or `ultra-llm config`, TLS verified by default, bounded
reads; and no shell in the family's three packages (the repository's tests/reliability/test_security.py
scans the kernel and every plugin under plugins/ the same way)."""

from __future__ import annotations

import ast
import asyncio
import http.server
import json
import logging
import shutil
import ssl
import subprocess
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ultra_llm_docker
from click.testing import CliRunner
from ultra_llm_docker.testing.double.fixtures import DockerDouble

from ultra_llm import create_adapter
from ultra_llm._cli.app import build_cli
from ultra_llm._config import load_config
from ultra_llm._host import PluginHost
from ultra_llm._types import GenerationRequest, to_messages
from ultra_llm.errors import GenerationError, InvalidModelNameError, UltraLLMError
from ultra_llm.testing.scripted_server import ScriptedServer, SeenRequest, send_json, send_text

SECRET = "sk-ultra-TEST-5ecr3t-7a9f"

HOSTILE_PROMPTS = [
    "; rm -rf / #",
    "$(touch /tmp/ultra-llm-pwned)",
    "`id`",
    "--help",
    "-o /etc/passwd",
    "--version\n--debug",
    'a\' "b" && echo owned || true',
    "\x00nul\x00byte",
    "\u202eright-to-left override",
]

BAD_MODEL_NAMES = ["--help", "-x", "ai/x;rm -rf /", "../../etc/passwd", "ai/x y", "ai/x$(id)", "ai//x", "ai/x:a:b"]


def family_packages() -> list[Path]:
    """The directories of the family's three packages, wherever they are installed."""
    import ultra_llm_docker_api
    import ultra_llm_docker_cli

    return [Path(module.__file__).parent for module in (ultra_llm_docker, ultra_llm_docker_cli, ultra_llm_docker_api)]


def test_no_shell_in_the_familys_source() -> None:
    """AST scan of the family's packages: no ``shell=True``, ``os.system``/``os.popen``,
    ``create_subprocess_shell``, ``getoutput``."""
    forbidden_calls = {"system", "popen", "create_subprocess_shell", "getoutput", "getstatusoutput"}
    packages = family_packages()
    assert {path.name for path in packages} == {"ultra_llm_docker", "ultra_llm_docker_cli", "ultra_llm_docker_api"}
    sources = [path for directory in packages for path in sorted(directory.rglob("*.py"))]
    assert len(sources) > 20
    found: list[str] = []
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in forbidden_calls:
                found.append(f"{path}:{node.lineno} calls {name}")
            for keyword in node.keywords:
                if keyword.arg == "shell" and not (
                    isinstance(keyword.value, ast.Constant) and keyword.value.value is False
                ):
                    found.append(f"{path}:{node.lineno} passes shell=")
    assert found == []


# -- the prompt never reaches an argv ------------------------------------------------------------


@pytest.mark.parametrize("prompt", HOSTILE_PROMPTS)
def test_hostile_prompts_go_to_stdin_never_to_argv(docker_double: DockerDouble, prompt: str) -> None:
    from ultra_llm_docker_cli.backend import DockerCLIBackend

    backend = DockerCLIBackend(load_config())
    request = GenerationRequest("smollm2", to_messages(prompt), None, "docker-cli")
    result = asyncio.run(backend.generate(request))
    (call,) = docker_double.invocations()
    assert call["argv"][-3:] == ["model", "run", "ai/smollm2:latest"], call["argv"]
    assert all(prompt not in arg and arg not in ("--help", "--version") for arg in call["argv"][1:])
    assert call["stdin_bytes"] == len(prompt.encode("utf-8"))
    assert result.text == docker_double.expected_answer(prompt, "smollm2")
    assert not Path("/tmp/ultra-llm-pwned").exists()


# -- model names validated before argv or URL -------------------------------------------------------


@pytest.mark.parametrize("name", BAD_MODEL_NAMES)
def test_bad_model_names_stop_before_any_process(docker_double: DockerDouble, name: str) -> None:
    async def calls() -> None:
        adapter = await create_adapter(name, host=PluginHost(), backend="docker-cli")
        await adapter.aclose()

    with pytest.raises(InvalidModelNameError):
        asyncio.run(calls())
    from ultra_llm_docker_cli.backend import DockerCLIBackend

    backend = DockerCLIBackend(load_config())
    for action in (backend.pull(name), backend.remove(name)):
        with pytest.raises(InvalidModelNameError):
            asyncio.run(action)
    assert docker_double.invocations() == []


@pytest.mark.parametrize("name", BAD_MODEL_NAMES)
def test_bad_model_names_stop_before_any_request(name: str) -> None:
    pytest.importorskip("httpx2")

    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        await send_json(writer, 200, [])

    async def calls(url: str) -> None:
        adapter = await create_adapter("ai/smollm2", host=PluginHost(), backend="docker-api")
        try:
            for call in (lambda: adapter.generate("hi", model=name), lambda: adapter.pull(name)):
                with pytest.raises(InvalidModelNameError):
                    await call()
            with pytest.raises(InvalidModelNameError):
                await adapter.remove(name)
        finally:
            await adapter.aclose()

    with ScriptedServer(handler) as server, pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODEL_RUNNER_URL", server.url)
        asyncio.run(calls(server.url))
    # only the availability check of create_adapter reached the server; nothing carried the name
    assert [(r.method, r.path) for r in server.requests] == [("GET", "/")]


def test_api_backend_validates_names_itself() -> None:
    pytest.importorskip("httpx2")
    from ultra_llm_docker_api.backend import DockerAPIBackend
    from ultra_llm_docker_api.settings import DockerAPISettings

    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        await send_text(writer, 404, "no such model\n")

    async def remove(url: str) -> None:
        backend = DockerAPIBackend(load_config(), settings=DockerAPISettings.load(url=url))
        try:
            await backend.remove("../engines/unload")
        finally:
            await backend.aclose()

    with ScriptedServer(handler) as server:
        with pytest.raises(InvalidModelNameError):
            asyncio.run(remove(server.url))
        assert server.requests == []


# -- secrets ------------------------------------------------------------------------------------


def api_backend(url: str, **settings: Any) -> Any:
    pytest.importorskip("httpx2")
    from ultra_llm_docker_api.backend import DockerAPIBackend
    from ultra_llm_docker_api.settings import DockerAPISettings

    settings.setdefault("retry_wait_initial", 0.0)
    return DockerAPIBackend(load_config(), settings=DockerAPISettings.load(url=url, api_key=SECRET, **settings))


def whole_text(error: BaseException) -> str:
    """Everything an error shows: str, repr, the JSON form, the output and the chained causes."""
    parts = [str(error), repr(error)]
    if isinstance(error, UltraLLMError):
        parts.append(json.dumps(error.to_dict()))
    parts.append(getattr(error, "output", ""))
    cause = error.__cause__ or error.__context__
    if cause is not None:
        parts.extend([str(cause), repr(cause)])
    return "\n".join(parts)


@pytest.mark.parametrize(
    "reply",
    [
        (401, "unauthorized\n", "BackendUnavailableError"),
        (403, "forbidden\n", "BackendUnavailableError"),
        (500, "unable to load runner: oom\n", "GenerationError"),
        (200, "<html>", "GenerationError"),
    ],
)
def test_the_api_key_is_sent_as_bearer_and_never_shown(
    reply: tuple[int, str, str], caplog: pytest.LogCaptureFixture
) -> None:
    status, body, expected = reply

    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        await send_text(writer, status, body)

    async def call(url: str) -> None:
        backend = api_backend(url, retries=1)
        try:
            await backend.generate(GenerationRequest("ai/x:latest", to_messages("hi"), None, "docker-api", {}))
        finally:
            await backend.aclose()

    with caplog.at_level(logging.DEBUG), ScriptedServer(handler) as server, pytest.raises(UltraLLMError) as caught:
        asyncio.run(call(server.url))
    assert type(caught.value).__name__ == expected, repr(caught.value)
    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert SECRET not in whole_text(caught.value)
    assert SECRET not in caplog.text
    assert caplog.records, "the debug log was captured"


def test_a_refused_connection_does_not_show_the_key(caplog: pytest.LogCaptureFixture) -> None:
    from ultra_llm_docker.testing.engine.launcher import free_port

    async def call() -> None:
        backend = api_backend(f"http://127.0.0.1:{free_port()}", retries=1)
        try:
            await backend.generate(GenerationRequest("ai/x:latest", to_messages("hi"), None, "docker-api", {}))
        finally:
            await backend.aclose()

    with caplog.at_level(logging.DEBUG), pytest.raises(UltraLLMError) as caught:
        asyncio.run(call())
    assert type(caught.value).__name__ == "ModelRunnerNotEnabledError", repr(caught.value)
    assert SECRET not in whole_text(caught.value) and SECRET not in caplog.text


KEY_VARIABLE = "ULTRA_LLM_DOCKER_API_API_KEY"
"""The variable the setting reads today (env prefix + field name)."""


def test_ultra_llm_config_masks_the_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_VARIABLE, SECRET)
    for args in (["config"], ["config", "--json"]):
        result = CliRunner().invoke(build_cli(), args)
        assert result.exit_code == 0, result.output
        assert SECRET not in result.output and SECRET not in result.stderr
        assert KEY_VARIABLE in result.output and "***" in result.output


def test_the_variable_the_401_fix_names_sets_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("httpx2")
    from ultra_llm_docker_api.settings import DockerAPISettings

    monkeypatch.setenv("ULTRA_LLM_DOCKER_API_KEY", SECRET)
    assert DockerAPISettings.load().api_key is not None


def test_debug_cli_output_on_a_failure_does_not_show_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("httpx2")

    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        await send_text(writer, 401, "unauthorized\n")

    with ScriptedServer(handler) as server:
        monkeypatch.setenv(KEY_VARIABLE, SECRET)
        monkeypatch.setenv("MODEL_RUNNER_URL", server.url)
        monkeypatch.setenv("ULTRA_LLM_BACKEND", "docker-api")
        monkeypatch.setenv("ULTRA_LLM_DOCKER_API_RETRIES", "1")
        monkeypatch.setenv("ULTRA_LLM_FALLBACK", "none")
        result = CliRunner().invoke(build_cli(), ["--debug", "generate", "hi"])
    shown = result.output + result.stderr
    if result.exception is not None:  # --debug lets the traceback through
        shown += "".join(traceback.format_exception(result.exception))
    assert result.exit_code != 0 and "401" in shown
    assert SECRET not in shown
    assert server.requests and server.requests[0].headers["authorization"] == f"Bearer {SECRET}"


def test_settings_and_endpoint_reprs_hide_the_key() -> None:
    backend = api_backend("http://127.0.0.1:9")
    assert SECRET not in repr(backend.settings)
    assert SECRET not in repr(backend.endpoint)


# -- TLS verification on by default ---------------------------------------------------------------


@pytest.fixture
def self_signed_https(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server on loopback with a self-signed certificate no CA store trusts."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = b'{"choices": [{"message": {"content": "served"}}]}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_https_certificates_are_verified_by_default(self_signed_https: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv(variable, raising=False)

    async def call() -> None:
        backend = api_backend(self_signed_https, retries=1, path="/v1")
        try:
            await backend.generate(GenerationRequest("ai/x:latest", to_messages("hi"), None, "docker-api", {}))
        finally:
            await backend.aclose()

    with pytest.raises(UltraLLMError) as caught:
        asyncio.run(call())
    assert type(caught.value).__name__ == "BackendUnavailableError", repr(caught.value)
    assert "certificate" in whole_text(caught.value).lower()


# -- bounded reads --------------------------------------------------------------------------------


def test_cli_stderr_read_into_memory_is_capped(docker_double: DockerDouble) -> None:
    from ultra_llm_docker_cli.backend import DockerCLIBackend

    docker_double.set(fault="crash", fault_after=0, fault_message="E" * (2 * 1024 * 1024))
    backend = DockerCLIBackend(load_config())
    with pytest.raises(GenerationError) as caught:
        asyncio.run(backend.generate(GenerationRequest("smollm2", to_messages("hi"), None, "docker-cli")))
    assert 1024 <= len(caught.value.output) <= 64 * 1024


def test_cli_error_message_stays_short_when_stderr_is_huge(docker_double: DockerDouble) -> None:
    from ultra_llm_docker_cli.backend import DockerCLIBackend

    docker_double.set(fault="crash", fault_after=0, fault_message="E" * (256 * 1024))
    backend = DockerCLIBackend(load_config())
    with pytest.raises(GenerationError) as caught:
        asyncio.run(backend.generate(GenerationRequest("smollm2", to_messages("hi"), None, "docker-cli")))
    assert len(caught.value.message) < 1000
