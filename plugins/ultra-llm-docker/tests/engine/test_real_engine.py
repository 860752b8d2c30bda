"""The real engine fixture and the Docker Model Runner proxy over it: real inference, runner shapes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest
from ultra_llm_docker.testing.engine.fixtures import DMRRunner, RealEngine, require_engine
from ultra_llm_docker.testing.engine.launcher import EngineStartError, start_engine

CHAT = {"messages": [{"role": "user", "content": "hello world"}], "max_tokens": 24, "temperature": 0}


def sse_events(response: httpx2.Response) -> list[str]:
    """The ``data:`` payloads of an SSE response, in order."""
    return [line[len("data: ") :] for line in response.iter_lines() if line.startswith("data: ")]


def stream_text(client: httpx2.Client, url: str, body: dict[str, Any]) -> tuple[list[str], str | None, list[str]]:
    with client.stream("POST", url, json={**body, "stream": True}) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    assert events[-1] == "[DONE]"
    pieces: list[str] = []
    finish: str | None = None
    for event in events[:-1]:
        for choice in json.loads(event)["choices"]:  # llama-server's usage chunk has none
            pieces.append(choice["delta"].get("content") or "")
            finish = choice.get("finish_reason") or finish
    return pieces, finish, events


def test_engine_answers_whole_and_deterministically(real_engine: RealEngine) -> None:
    with httpx2.Client(timeout=60) as client:
        listing = client.get(f"{real_engine.url}/models").json()
        assert [m["id"] for m in listing["data"]] == [real_engine.model]
        first = client.post(f"{real_engine.url}/chat/completions", json={"model": real_engine.model, **CHAT}).json()
        second = client.post(f"{real_engine.url}/chat/completions", json={"model": real_engine.model, **CHAT}).json()
    text = first["choices"][0]["message"]["content"]
    assert text == second["choices"][0]["message"]["content"]
    assert first["choices"][0]["finish_reason"] in ("length", "stop")
    usage = first["usage"]
    assert usage["completion_tokens"] <= 24
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_stream_through_proxy_matches_the_whole_answer(dmr_runner: DMRRunner) -> None:
    with httpx2.Client(timeout=60) as client:
        whole = client.post(f"{dmr_runner.url}/engines/v1/chat/completions", json={"model": "ai/tiny", **CHAT})
        assert whole.status_code == 200
        expected = whole.json()["choices"][0]["message"]["content"]
        streamed = []
        for path in ("/engines/v1", "/engines/llama.cpp/v1", "/v1"):
            pieces, finish, events = stream_text(
                client, f"{dmr_runner.url}{path}/chat/completions", {"model": "tiny", **CHAT}
            )
            streamed.append(pieces)
            assert finish in ("length", "stop")
            assert len(events) > 3
    assert streamed[0] == streamed[1] == streamed[2]
    # The tiny model's answers are valid UTF-8 (tiny_model.py), so the stream is the whole answer.
    assert "".join(pieces) == expected
    assert pieces[0] == ""  # llama-server's first chunk has the role and a null content


def test_direct_stream_equals_proxied_stream(real_engine: RealEngine, dmr_runner: DMRRunner) -> None:
    body = {"model": real_engine.model, **CHAT}
    with httpx2.Client(timeout=60) as client:
        direct, _, _ = stream_text(client, f"{real_engine.url}/chat/completions", body)
        proxied, _, _ = stream_text(client, f"{dmr_runner.url}/engines/v1/chat/completions", body)
    assert direct == proxied


def test_embeddings_through_proxy(dmr_runner: DMRRunner) -> None:
    with httpx2.Client(timeout=60) as client:
        response = client.post(
            f"{dmr_runner.url}/engines/v1/embeddings", json={"model": "ai/tiny", "input": ["hello", "world"]}
        )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert len(data) == 2
    vectors = [item["embedding"] for item in data]
    assert all(len(v) == 64 and all(isinstance(x, float) for x in v) for v in vectors)
    assert vectors[0] != vectors[1]


def test_runner_management_shapes(dmr_runner: DMRRunner) -> None:
    with httpx2.Client(base_url=dmr_runner.url, timeout=30) as client:
        root = client.get("/")
        assert root.text == "Docker Model Runner is running"
        models = client.get("/models").json()
        assert isinstance(models, list)
        tiny = next(m for m in models if "ai/tiny:latest" in m["tags"])
        assert tiny["id"].startswith("sha256:") and len(tiny["id"]) == 71
        assert tiny["config"]["format"] == "gguf" and isinstance(tiny["created"], int)
        assert client.get("/models/tiny").json()["id"] == tiny["id"]  # partial name
        assert client.get("/models/ai/tiny").json()["id"] == tiny["id"]
        openai = client.get("/engines/v1/models").json()
        assert openai["object"] == "list"
        assert "ai/tiny:latest" in [m["id"] for m in openai["data"]]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "text"),
    [
        ("GET", "/models/nope", None, 404, "model not found\n"),
        ("POST", "/engines/v1/chat/completions", {"model": "ai/nope", **CHAT}, 404, "model not found\n"),
        ("POST", "/engines/v1/chat/completions", CHAT, 400, "model is required\n"),
        ("POST", "/engines/vllm/v1/chat/completions", {"model": "ai/tiny", **CHAT}, 404, "backend not found\n"),
        ("POST", "/models/create", {"from": "ai/nowhere"}, 404, "Model not found\n"),
        ("POST", "/models/create", {"from": "ai/Bad Name"}, 400, "Invalid model reference\n"),
        ("DELETE", "/models/ai/nope", None, 404, "error while deleting model: model not found\n"),
    ],
)
def test_runner_plain_text_errors(
    dmr_runner: DMRRunner, method: str, path: str, body: dict[str, Any] | None, status: int, text: str
) -> None:
    with httpx2.Client(base_url=dmr_runner.url, timeout=30) as client:
        response = client.request(method, path, json=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == text


def test_llama_cpp_json_error_passes_through(dmr_runner: DMRRunner) -> None:
    long_prompt = "hello world " * 1500
    body = {"model": "ai/tiny", "messages": [{"role": "user", "content": long_prompt}], "max_tokens": 4}
    with httpx2.Client(timeout=60) as client:
        response = client.post(f"{dmr_runner.url}/engines/v1/chat/completions", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    # llama-server's shape (tools/server/server-common.cpp, format_error_response, ERROR_TYPE_EXCEED_CONTEXT_SIZE)
    assert (error["code"], error["type"], error["n_ctx"]) == (400, "exceed_context_size_error", 2048)
    assert error["n_prompt_tokens"] > 2048
    assert f"({error['n_prompt_tokens']} tokens) exceeds the available context size (2048 tokens)" in error["message"]


def test_streamed_usage_comes_in_its_own_last_chunk(real_engine: RealEngine) -> None:
    """llama-server's shape, which clients must read: the chunk with ``finish_reason`` carries no
    usage; with ``stream_options.include_usage`` a further chunk has empty ``choices`` and the usage."""
    body = {"model": real_engine.model, **CHAT, "stream": True, "stream_options": {"include_usage": True}}
    url = f"{real_engine.url}/chat/completions"
    with httpx2.Client(timeout=60) as client, client.stream("POST", url, json=body) as response:
        events = sse_events(response)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    finishing = [i for i, chunk in enumerate(chunks) if chunk["choices"] and chunk["choices"][0].get("finish_reason")]
    assert finishing == [len(chunks) - 2]
    assert not chunks[-2].get("usage")
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 24


def pull(
    client: httpx2.Client, name: str, accept: str | None = "application/json"
) -> tuple[httpx2.Response, list[str]]:
    headers = {"Accept": accept} if accept else {}
    with client.stream("POST", "/models/create", json={"from": name}, headers=headers) as response:
        lines = [line for line in response.iter_lines() if line]
    return response, lines


def test_pull_streams_ndjson_progress_then_success(dmr_runner: DMRRunner) -> None:
    with httpx2.Client(base_url=dmr_runner.url, timeout=30) as client:
        client.delete("/models/ai/smollm2")  # may or may not be present
        response, lines = pull(client, "smollm2")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        records = [json.loads(line) for line in lines]
        assert {r["type"] for r in records[:-1]} == {"progress"}
        assert records[-1] == {
            "type": "success",
            "message": "Model pulled successfully",
            "total": 0,
            "layer": {"size": 0, "current": 0},
            "mode": "pull",
        }
        for record in records[:-1]:
            assert 0 < record["layer"]["current"] <= record["layer"]["size"] <= record["total"]
        assert "ai/smollm2:latest" in [t for m in client.get("/models").json() for t in m["tags"]]
        # The pulled model is served by the same real engine.
        answer = client.post("/engines/v1/chat/completions", json={"model": "ai/smollm2", **CHAT})
        assert answer.status_code == 200
        # A second pull is a cache hit.
        _, again = pull(client, "ai/smollm2:latest")
        assert [json.loads(line)["type"] for line in again] == ["success"]
        assert json.loads(again[0])["message"].startswith("Using cached model")
        removed = client.delete("/models/smollm2").json()
        assert removed[0] == {"Untagged": "ai/smollm2:latest"} and removed[1]["Deleted"].startswith("sha256:")
        assert client.get("/models/smollm2").status_code == 404


def test_pull_error_record_under_200_and_text_plain_escaping(dmr_runner: DMRRunner) -> None:
    with httpx2.Client(base_url=dmr_runner.url, timeout=30) as client:
        response, lines = pull(client, "ai/broken")
        assert response.status_code == 200
        records = [json.loads(line) for line in lines]
        assert records[-1]["type"] == "error" and records[-1]["message"].startswith("Error: ")
        assert client.get("/models/ai/broken").status_code == 404
        plain, escaped = pull(client, "ai/tiny", accept=None)
    assert plain.headers["content-type"] == "text/plain"
    assert escaped and all(line.startswith("{&#34;type&#34;:") for line in escaped)


def test_injected_failures_come_before_the_engine(dmr_runner: DMRRunner) -> None:
    dmr_runner.proxy.inject(503, "service unavailable", headers={"Retry-After": "1"})
    with httpx2.Client(timeout=60) as client:
        url = f"{dmr_runner.url}/engines/v1/chat/completions"
        first = client.post(url, json={"model": "ai/tiny", **CHAT})
        second = client.post(url, json={"model": "ai/tiny", **CHAT})
    assert (first.status_code, first.text, first.headers["retry-after"]) == (503, "service unavailable\n", "1")
    assert second.status_code == 200


def test_engine_down_is_503(tmp_path: Path) -> None:
    from ultra_llm_docker.testing.engine.dmr_proxy import DMRProxy
    from ultra_llm_docker.testing.engine.launcher import free_port

    proxy = DMRProxy(f"http://127.0.0.1:{free_port()}").start()
    try:
        with httpx2.Client(timeout=10) as client:
            response = client.post(f"{proxy.url}/engines/v1/chat/completions", json={"model": "ai/tiny", **CHAT})
    finally:
        proxy.stop()
    assert (response.status_code, response.text) == (503, "service unavailable\n")


def test_launcher_reports_a_failed_start_with_the_log(tmp_path: Path) -> None:
    require_engine()
    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"this is not gguf")
    with pytest.raises(EngineStartError) as caught:
        start_engine(bogus, log_dir=tmp_path, startup_timeout=60)
    message = str(caught.value)
    assert "exited with code" in message
    assert "server log" in message and str(bogus) in message


def test_launcher_stops_its_process_group(tmp_path: Path, real_engine: RealEngine) -> None:
    from ultra_llm_docker.testing.engine.tiny_model import write_tiny_model

    model = write_tiny_model(tmp_path / "tiny.gguf")
    engine = start_engine(model, log_dir=tmp_path, alias="ai/other")
    pid = engine.pid
    try:
        with httpx2.Client(timeout=30) as client:
            assert client.get(f"{engine.url}/models").json()["data"][0]["id"] == "ai/other"
    finally:
        engine.stop()
    assert engine.process.returncode is not None  # reaped: no zombie
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    engine.stop()  # idempotent


def test_nothing_starts_at_import() -> None:
    code = (
        "import os, threading\n"
        "import ultra_llm_docker.testing.engine.fixtures, ultra_llm_docker.testing.engine.dmr_proxy\n"
        "assert threading.active_count() == 1\n"
        "try:\n    os.waitpid(-1, os.WNOHANG)\nexcept ChildProcessError:\n    print('ok')"  # no child process
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[2], check=False
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_proxy_relays_each_chunk_as_it_arrives() -> None:
    """A fake engine holds its second chunk until the client has seen the first through the proxy."""
    import socket
    import threading

    from ultra_llm_docker.testing.engine.dmr_proxy import DMRProxy

    seen_first = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def engine() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1])
            while len(body) < length:
                body += conn.recv(65536)
            first = b'data: {"choices":[{"delta":{"content":"first"}}]}\n\n'
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
            conn.sendall(b"%x\r\n%s\r\n" % (len(first), first))
            seen_first.wait(10)
            last = b"data: [DONE]\n\n"
            conn.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(last), last))

    thread = threading.Thread(target=engine, daemon=True)
    thread.start()
    proxy = DMRProxy(f"http://127.0.0.1:{port}").start()
    try:
        with (
            httpx2.Client(timeout=10) as client,
            client.stream(
                "POST", f"{proxy.url}/engines/v1/chat/completions", json={"model": "ai/tiny", **CHAT, "stream": True}
            ) as response,
        ):
            lines = response.iter_lines()
            assert next(lines) == 'data: {"choices":[{"delta":{"content":"first"}}]}'
            assert not seen_first.is_set()
            seen_first.set()
            assert [line for line in lines if line] == ["data: [DONE]"]
    finally:
        seen_first.set()
        proxy.stop()
        thread.join(10)
        listener.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sampled_answers_are_valid_utf8(real_engine: RealEngine, seed: int) -> None:
    """The tiny model never emits a lone high byte token, even sampled hot: llama-server answers 500
    ("does not match the expected peg-native format") to a chat answer that is not valid UTF-8."""
    body = {"model": real_engine.model, **CHAT, "max_tokens": 96, "temperature": 2.0, "seed": seed}
    with httpx2.Client(timeout=60) as client:
        response = client.post(f"{real_engine.url}/chat/completions", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["completion_tokens"] > 0
