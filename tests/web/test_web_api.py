"""The web API over a real uvicorn server on 127.0.0.1 with an HTTP client (httpx2).

Whole and streamed generation, option validation, typed errors and their statuses, pull progress,
remove, embeddings, backends and the doctor, the token, the body cap, CORS and the Host check.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from ultra_llm._settings import Settings, setting
from ultra_llm.errors import BackendUnavailableError
from ultra_llm.plugin import Availability, Backend, Chunk, GenerationRequest, ModelInfo, hookimpl

httpx2 = pytest.importorskip("httpx2")

ECHO = "mock/echo"


@dataclass(frozen=True)
class RemoteSettings(Settings):
    env_prefix: ClassVar[str] = "ULTRA_LLM_REMOTE_"

    url: str | None = setting(None, help="The server's URL (credentials may be in it).")


class RemoteBackend(Backend):
    """A backend for a server at a URL that does not answer: its errors quote the URL, credentials
    and all, as a client library's would."""

    name: ClassVar[str] = "remote"
    settings_model: ClassVar[type[Settings] | None] = RemoteSettings

    def _down(self) -> BackendUnavailableError:
        assert isinstance(self.settings, RemoteSettings)
        return BackendUnavailableError(f"Nothing answers at {self.settings.url}.", backend=self.name)

    async def check_availability(self) -> Availability:
        return Availability(False, error=self._down())

    async def list_models(self) -> list[ModelInfo]:
        raise self._down()

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        raise self._down()
        yield Chunk("")  # pragma: no cover - makes this an async generator


class RemotePlugin:
    @hookimpl
    def ultra_llm_register_backends(self, register: Any) -> None:
        register("remote", RemoteBackend)


def events_of(response: Any) -> Iterator[tuple[str, dict[str, Any], float]]:
    """``(event, data, arrival time)`` for each SSE frame of a streamed response, as it arrives."""
    event, data = "message", []
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            yield event, json.loads("\n".join(data)), time.monotonic()
            event, data = "message", []


def stream_events(client: Any, body: dict[str, Any], path: str = "/api/generate") -> tuple[int, list[Any]]:
    with client.stream("POST", path, json=body) as response:
        if response.status_code != 200:
            response.read()
            return response.status_code, [response.json()]
        assert response.headers["content-type"].startswith("text/event-stream")
        return 200, list(events_of(response))


@pytest.fixture
def client_for() -> Iterator[Callable[..., Any]]:
    clients: list[Any] = []

    def make(server: Any, **kwargs: Any) -> Any:
        client = httpx2.Client(base_url=server.url, timeout=30, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_generate_whole_answers_json(web_server: Any, client_for: Any) -> None:
    client = client_for(web_server())
    response = client.post("/api/generate", json={"prompt": "hello web world", "model": ECHO})
    assert response.status_code == 200
    body = response.json()
    assert body["text"] == "hello web world"
    assert (body["model"], body["backend"], body["finish_reason"]) == (ECHO, "mock", "stop")
    assert body["usage"]["completion_tokens"] == 3


def test_generate_accepts_messages_and_system_message(web_server: Any, client_for: Any) -> None:
    client = client_for(web_server())
    messages = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "second question"},
    ]
    body = client.post("/api/generate", json={"prompt": messages, "model": ECHO, "system_message": "Be brief."}).json()
    assert body["text"] == "second question"


def test_generate_streamed_arrives_chunk_by_chunk(
    web_server: Any, client_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_DELAY", "0.05")
    client = client_for(web_server())
    prompt = "one two three four five six"
    status, events = stream_events(client, {"prompt": prompt, "model": ECHO, "stream": True})
    assert status == 200
    chunks = [e for e in events if e[0] == "chunk"]
    assert [e[1]["text"] for e in chunks] == ["one ", "two ", "three ", "four ", "five ", "six"]
    assert "".join(e[1]["text"] for e in chunks) == prompt
    # Streamed, not buffered: the last chunk arrived well after the first.
    assert chunks[-1][2] - chunks[0][2] >= 0.15
    name, done, _ = events[-1]
    assert name == "done"
    assert done["finish_reason"] == "stop" and done["backend"] == "mock" and done["usage"]["completion_tokens"] == 6


def test_options_are_validated_and_applied(web_server: Any, client_for: Any) -> None:
    client = client_for(web_server())
    unknown = client.post("/api/generate", json={"prompt": "x", "options": {"bogus": 1}})
    assert unknown.status_code == 422
    body = unknown.json()
    assert body["error"] == "InvalidOptionsError" and "bogus" in body["message"] and "temperature" in body["message"]
    assert body["fix"] and body["status"] == 422
    out_of_range = client.post("/api/generate", json={"prompt": "x", "options": {"temperature": 5}, "stream": True})
    assert out_of_range.status_code == 422 and "temperature" in out_of_range.json()["message"]
    status, events = stream_events(
        client, {"prompt": "a b c d e", "model": ECHO, "stream": True, "options": {"max_tokens": 2}}
    )
    assert status == 200
    assert [e[1]["text"] for e in events if e[0] == "chunk"] == ["a ", "b "]
    assert events[-1][1]["finish_reason"] == "length"


def test_request_body_validation_is_an_error_body(web_server: Any, client_for: Any) -> None:
    client = client_for(web_server())
    missing = client.post("/api/generate", json={"model": ECHO})
    assert missing.status_code == 422
    body = missing.json()
    assert body["error"] == "RequestValidationError" and "prompt" in body["message"] and body["detail"]
    malformed = client.post("/api/generate", content=b"{not json", headers={"content-type": "application/json"})
    assert malformed.status_code == 422
    extra = client.post("/api/generate", json={"prompt": "x", "tempreature": 1})
    assert extra.status_code == 422 and "tempreature" in extra.json()["message"]


SCHEMA_NAMED = re.compile(r"the OpenAPI schema \((/[^)\s]*)\)")


def test_the_schema_an_error_names_answers_200(web_server: Any, client_for: Any, web_host: Any) -> None:
    """A 422 (a bad body, a body that is not UTF-8) and a 404 name the schema at the URL the app
    serves it from: ``/api/openapi.json`` for ``ultra-llm serve`` (0.3 named ``/openapi.json``, a 404),
    the host app's own for a router Ultra mounts."""
    from fastapi import FastAPI

    from tests.web.conftest import WebServer
    from ultra_llm.web import create_router
    from ultra_llm.web._service import WebService

    client = client_for(web_server())
    answers = [
        client.post("/api/generate", json={"model": ECHO}),
        client.post("/api/generate", content=b'{"prompt": "\xff"}', headers={"content-type": "application/json"}),
        client.get("/api/no-such-route"),
    ]
    assert [answer.status_code for answer in answers] == [422, 422, 404]
    named = [SCHEMA_NAMED.search(answer.json()["fix"]) for answer in answers]
    assert [match.group(1) if match else None for match in named] == ["/api/openapi.json"] * 3
    assert client.get("/api/openapi.json").status_code == 200

    ultra = FastAPI()  # Ultra's own app, its schema at FastAPI's default place
    ultra.include_router(create_router(service=WebService(host=web_host)), prefix="/llm")
    mounted = WebServer(ultra, web_host).start()
    try:
        mounted_client = client_for(mounted)
        refused = mounted_client.post("/llm/generate", json={"model": ECHO})
        match = SCHEMA_NAMED.search(refused.json()["fix"])
        assert refused.status_code == 422 and match is not None and match.group(1) == "/openapi.json"
        assert mounted_client.get(match.group(1)).status_code == 200
    finally:
        mounted.stop()


@pytest.mark.parametrize("stream", [False, True])
def test_unknown_model_is_404_with_the_pull_fix(
    web_server: Any, client_for: Any, monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_FAULT", "unknown-model")
    client = client_for(web_server())
    response = client.post("/api/generate", json={"prompt": "x", "model": "ai/nope", "stream": stream})
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "ModelNotFoundError" and "ai/nope" in body["message"]
    assert "`ultra-llm models`" in body["fix"], "the mock gives the core's neutral fix"


def test_unavailable_runner_is_503(web_server: Any, client_for: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_FAULT", "unavailable")
    monkeypatch.setenv("ULTRA_LLM_FALLBACK", "none")
    client = client_for(web_server())
    for response in (client.get("/api/models"), client.post("/api/generate", json={"prompt": "x"})):
        assert response.status_code == 503
        assert response.json()["error"] == "BackendUnavailableError"
        assert response.json()["fix"] == "Unset ULTRA_LLM_MOCK_FAULT."
    backends = client.get("/api/backends").json()
    assert backends["selection"]["serving"] is None
    mock = next(b for b in backends["backends"] if b["name"] == "mock")
    assert mock["available"] is False and mock["fix"] == "Unset ULTRA_LLM_MOCK_FAULT."
    doctor = client.get("/api/doctor").json()
    assert doctor["ok"] is False and doctor["steps"][-1]["fix"] == "Unset ULTRA_LLM_MOCK_FAULT."


def test_unknown_backend_is_404(web_server: Any, client_for: Any) -> None:
    response = client_for(web_server()).get("/api/models", params={"backend": "nope"})
    assert response.status_code == 404 and response.json()["error"] == "BackendNotFoundError"


@pytest.mark.parametrize("stream", [False, True])
def test_timeouts_are_504(web_server: Any, client_for: Any, monkeypatch: pytest.MonkeyPatch, stream: bool) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_FAULT", "hang")
    monkeypatch.setenv("ULTRA_LLM_TIMEOUT", "0.3")
    client = client_for(web_server())
    started = time.monotonic()
    response = client.post("/api/generate", json={"prompt": "x", "stream": stream})
    assert response.status_code == 504
    assert response.json()["error"] == "GenerationTimeoutError" and "ULTRA_LLM_TIMEOUT" in response.json()["fix"]
    assert time.monotonic() - started < 5


def test_backend_failure_is_502_and_midstream_failure_an_error_event(
    web_server: Any, client_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_FAULT", "fail")
    client = client_for(web_server())
    failed = client.post("/api/generate", json={"prompt": "x"})
    assert failed.status_code == 502 and failed.json()["error"] == "GenerationError"
    monkeypatch.setenv("ULTRA_LLM_MOCK_FAULT", "fail-midstream")
    client = client_for(web_server())
    status, events = stream_events(client, {"prompt": "a b c d e f", "model": ECHO, "stream": True})
    assert status == 200
    assert [e[0] for e in events] == ["chunk", "chunk", "error"]
    error = events[-1][1]
    assert error["error"] == "StreamInterruptedError" and error["status"] == 502 and error["fix"]


def test_pull_streams_progress_then_remove(web_server: Any, client_for: Any) -> None:
    client = client_for(web_server())
    status, events = stream_events(client, {"model": "ai/gemma3"}, path="/api/models/pull")
    assert status == 200
    progress = [e[1] for e in events if e[0] == "progress"]
    fractions = [p["fraction"] for p in progress]
    assert len(progress) >= 3 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert progress[0]["message"] == "Downloaded 1 MB of 3 MB"
    assert events[-1][0] == "done" and events[-1][1] == {"model": "ai/gemma3", "backend": "mock"}
    names = [m["name"] for m in client.get("/api/models").json()["models"]]
    assert "ai/gemma3" in names
    removed = client.delete("/api/models/ai/gemma3")
    assert removed.status_code == 200 and removed.json() == {"removed": "ai/gemma3", "backend": "mock"}
    assert "ai/gemma3" not in [m["name"] for m in client.get("/api/models").json()["models"]]
    again = client.delete("/api/models/ai/gemma3")
    assert again.status_code == 404 and again.json()["error"] == "ModelNotFoundError"


def test_embeddings(web_server: Any, client_for: Any) -> None:
    client = client_for(web_server())
    body = client.post("/api/embeddings", json={"input": ["a", "b"], "model": ECHO}).json()
    assert len(body["vectors"]) == 2 and all(len(v) == 8 for v in body["vectors"])
    assert body["vectors"][0] != body["vectors"][1]
    single = client.post("/api/embeddings", json={"input": "a", "model": ECHO}).json()
    assert single["vectors"] == body["vectors"][:1]


def test_backends_models_doctor_and_openapi(web_server: Any, client_for: Any) -> None:
    client = client_for(web_server())
    backends = client.get("/api/backends").json()
    assert backends["selection"]["serving"] == "mock"
    mock = next(b for b in backends["backends"] if b["name"] == "mock")
    assert mock["selected"] and mock["available"]
    assert {"temperature", "max_tokens", "stop"} <= set(mock["options_schema"]["properties"])
    models = client.get("/api/models").json()
    assert models["backend"] == "mock" and {ECHO, "mock/fixed"} <= {m["name"] for m in models["models"]}
    doctor = client.get("/api/doctor").json()
    assert doctor["ok"] and [s["title"] for s in doctor["steps"]][:3] == ["ultra-llm", "plugins", "configuration"]
    schema = client.get("/api/openapi.json").json()
    assert {
        "GenerateRequest",
        "GenerateResponse",
        "ErrorBody",
        "ProgressEvent",
        "ChunkEvent",
        "DoneEvent",
        "PullDoneEvent",
    } <= set(schema["components"]["schemas"])
    assert "404" in schema["paths"]["/api/generate"]["post"]["responses"]


def test_token_is_required_and_compared(web_server: Any, client_for: Any) -> None:
    token = "s3cret-token-for-tests-0123456789"
    server = web_server(token=token)
    anonymous = client_for(server)
    response = anonymous.get("/api/models")
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == "WebError" and "Authorization: Bearer" in response.json()["fix"]
    assert anonymous.get("/api/models", headers={"Authorization": f"Bearer {token}x"}).status_code == 401
    assert anonymous.get("/api/models", headers={"Authorization": f"Basic {token}"}).status_code == 401
    assert anonymous.post("/api/generate", json={"prompt": "x"}).status_code == 401
    authorised = client_for(server, headers={"Authorization": f"Bearer {token}"})
    assert authorised.get("/api/models").status_code == 200
    # The console page holds no secret: it loads without the token, and asks for it.
    assert anonymous.get("/").status_code == 200
    # With a token, any Host is fine (the token, not the Host, protects the server).
    assert authorised.get("/api/models", headers={"Host": "models.example"}).status_code == 200


def test_short_token_is_refused() -> None:
    from ultra_llm.errors import ConfigurationError
    from ultra_llm.web._settings import WebSettings

    with pytest.raises(ConfigurationError, match="ULTRA_LLM_WEB_TOKEN"):
        WebSettings.load(token="short")


def test_non_loopback_bind_needs_a_token() -> None:
    from ultra_llm.errors import ConfigurationError
    from ultra_llm.web import create_app
    from ultra_llm.web._settings import WebSettings

    with pytest.raises(ConfigurationError, match="without a token") as caught:
        create_app(settings=WebSettings.load(), bind_host="0.0.0.0")
    assert "ULTRA_LLM_WEB_TOKEN" in caught.value.fix
    create_app(settings=WebSettings.load(), bind_host="127.0.0.1")
    create_app(settings=WebSettings.load(), bind_host="::1")
    create_app(settings=WebSettings.load(token="x" * 32), bind_host="0.0.0.0")


def test_host_header_is_checked_without_a_token(web_server: Any, client_for: Any) -> None:
    server = web_server(allowed_hosts="ultra.internal")
    client = client_for(server)
    assert client.get("/api/models").status_code == 200
    assert client.get("/api/models", headers={"Host": f"localhost:{server.port}"}).status_code == 200
    assert client.get("/api/models", headers={"Host": "ultra.internal"}).status_code == 200
    rebound = client.get("/api/models", headers={"Host": f"attacker.example:{server.port}"})
    assert rebound.status_code == 400 and rebound.json()["error"] == "HostNotAllowed"


def test_request_bodies_are_capped(web_server: Any, client_for: Any) -> None:
    client = client_for(web_server(max_body_bytes=4096))
    big = {"prompt": "x" * 10_000, "model": ECHO}
    declared = client.post("/api/generate", json=big)
    assert declared.status_code == 413 and declared.json()["error"] == "RequestTooLarge"

    def chunked() -> Iterator[bytes]:
        data = json.dumps(big).encode()
        for start in range(0, len(data), 1000):
            yield data[start : start + 1000]

    streamed = client.post("/api/generate", content=chunked(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    small = client.post("/api/generate", json={"prompt": "x" * 3000, "model": ECHO})
    assert small.status_code == 200 and len(small.json()["text"]) == 3000


def test_cors_is_off_unless_configured(web_server: Any, client_for: Any) -> None:
    preflight = {
        "Origin": "http://ultra.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    closed = client_for(web_server())
    response = closed.options("/api/generate", headers=preflight)
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-origin" not in closed.get("/api/models", headers={"Origin": "http://x"}).headers
    opened = client_for(web_server(cors_origins="http://ultra.example"))
    response = opened.options("/api/generate", headers=preflight)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://ultra.example"
    other = opened.options("/api/generate", headers={**preflight, "Origin": "http://evil.example"})
    assert other.headers.get("access-control-allow-origin") != "http://evil.example"


def test_credentials_in_the_runner_url_never_reach_the_web_api(
    web_host: Any, web_server: Any, client_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ultra_llm.testing.serve import free_port

    secret = "s3cret-in-url"
    monkeypatch.setenv("ULTRA_LLM_REMOTE_URL", f"http://ultra:{secret}@127.0.0.1:{free_port()}")  # closed port
    monkeypatch.setenv("ULTRA_LLM_CHECK_TIMEOUT", "2")
    web_host.register(RemotePlugin(), "remote")
    client = client_for(web_server())
    backends = client.get("/api/backends").text
    doctor = client.get("/api/doctor").text
    generated = client.post("/api/generate", json={"prompt": "x", "backend": "remote"}).text
    assert secret not in backends + doctor + generated
    assert "***@127.0.0.1" in backends and "***@127.0.0.1" in generated


def test_generate_asks_several_models_whole_and_streamed(
    web_server: Any, client_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``models`` (issue 33): one answer per model in their order, a model the backend lacks failing
    only its own; streamed, every frame labelled with its model, one ``done`` or ``error`` each."""
    monkeypatch.setenv("ULTRA_LLM_MOCK_FAULT", "unknown-model")  # the mock knows three models only
    client = client_for(web_server())
    body = {"prompt": "hi there", "models": [ECHO, "ghost", "mock/fixed"]}
    whole = client.post("/api/generate", json=body).json()
    answers = whole["answers"]
    assert [(a["index"], a["model"], a["ok"]) for a in answers] == [
        (0, ECHO, True),
        (1, "ghost", False),
        (2, "mock/fixed", True),
    ]
    assert answers[0]["result"]["text"] == "hi there" and answers[1]["error"]["error"] == "ModelNotFoundError"
    status, events = stream_events(client, {**body, "stream": True})
    assert status == 200
    echoed = "".join(data["text"] for name, data, _ in events if name == "chunk" and data["model"] == ECHO)
    assert echoed == "hi there"
    ends = sorted((name, data["model"]) for name, data, _ in events if name in ("done", "error"))
    assert ends == [("done", ECHO), ("done", "mock/fixed"), ("error", "ghost")]
    both = client.post("/api/generate", json={**body, "model": ECHO})
    assert both.status_code == 422 and "not both" in both.json()["message"]
