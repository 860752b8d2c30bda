"""Deeply nested JSON at the boundaries, bounded by ``ultra_llm.json_depth`` (``MAX_JSON_DEPTH``).

From a model (untrusted): a schema answer or tool-call arguments nested 5,000 levels (too deep for
the decoder) or 900 (it decodes, but no encoder after it survives) is a ``StructuredOutputError``
keeping the raw text: the CLI prints it in one line with exit 6, the web API answers a typed JSON
502, and a stream ends with an ``error`` event; ``MAX_JSON_DEPTH`` levels, the limit, still pass everywhere. The
model is a loopback server scripted as llama-server answers (``ultra_llm/testing/scripted_server.py``)
behind the docker-api backend.

From a caller: a schema, tool parameters or options nested 600 levels is an ``InvalidOptionsError``
naming the limit (HTTP 422, CLI exit 2), with no traceback in ``ultra-llm serve``'s log.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ultra_llm import create_adapter
from ultra_llm.errors import InvalidOptionsError, StructuredOutputError
from ultra_llm.json_depth import MAX_JSON_DEPTH
from ultra_llm.testing.scripted_server import ScriptedServer, SeenRequest, chunked, send_json, send_text, sse_head
from ultra_llm.testing.serve import SCRIPT, wait_ready

httpx2 = pytest.importorskip("httpx2")

TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
SCHEMA = {"type": "array"}
JSON = {"Content-Type": "application/json"}


def nested(depth: int) -> str:
    """JSON text: ``depth`` arrays inside each other."""
    return "[" * depth + "]" * depth


def nested_list(depth: int) -> list[Any]:
    """``depth`` lists inside each other, built without the (recursive) decoder."""
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def nested_schema(depth: int) -> dict[str, Any]:
    """A JSON Schema of arrays whose ``items`` nest ``depth`` objects."""
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth - 1):
        schema = {"type": "array", "items": schema}
    return schema


def _answer(prompt: str) -> tuple[str, str]:
    """What the scripted model answers a prompt ``text DEPTH`` or ``tool DEPTH``: its kind and JSON text."""
    kind, depth = prompt.split()
    return kind, nested(int(depth))


async def model(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
    """llama-server's answers (whole and streamed): for ``text N`` the content is JSON nested N
    levels; for ``tool N`` one call to ``lookup`` whose arguments are."""
    if not req.path.endswith("/chat/completions"):
        await send_text(writer, 200, "Docker Model Runner is running")
        return
    body = req.json()
    kind, text = _answer(body["messages"][-1]["content"])
    call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": text}}
    if not body.get("stream"):
        message = {"role": "assistant", "content": text} if kind == "text" else {"content": "", "tool_calls": [call]}
        finish = "stop" if kind == "text" else "tool_calls"
        await send_json(writer, 200, {"choices": [{"index": 0, "message": message, "finish_reason": finish}]})
        return
    delta = {"content": text} if kind == "text" else {"tool_calls": [{"index": 0, **call}]}
    events = [
        {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop" if kind == "text" else "tool_calls"}]},
    ]
    data = b"".join(b"data: " + json.dumps(event).encode() + b"\n\n" for event in events) + b"data: [DONE]\n\n"
    writer.write(sse_head() + chunked(data) + b"0\r\n\r\n")
    await writer.drain()


@pytest.fixture
def runner() -> Any:
    with ScriptedServer(model) as server:
        yield server


def api_env(runner: ScriptedServer) -> dict[str, str]:
    return {
        "ULTRA_LLM_BACKEND": "docker-api",
        "MODEL_RUNNER_URL": runner.url,
        "ULTRA_LLM_FALLBACK": "none",
        "DEFAULT_MODEL": "ai/tiny",
    }


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})}
    )


# -- from a model ---------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [5000, 900])
def test_a_deep_schema_answer_is_a_typed_error_in_python(runner: ScriptedServer, depth: int) -> None:
    async def call(stream: bool) -> None:
        async with await create_adapter("ai/tiny", backend="docker-api", settings={"url": runner.url}) as llm:
            if stream:
                async for _ in llm.stream(f"text {depth}", response_format=SCHEMA):
                    pass
            else:
                await llm.complete(f"text {depth}", response_format=SCHEMA)

    for stream in (False, True):
        with pytest.raises(StructuredOutputError) as caught:
            asyncio.run(call(stream))
        assert f"more than {MAX_JSON_DEPTH} levels deep" in caught.value.message
        assert caught.value.output == nested(depth)  # the raw text is kept


@pytest.mark.parametrize("depth", [5000, 900])
def test_deep_tool_arguments_are_a_typed_error_and_the_call_is_kept(runner: ScriptedServer, depth: int) -> None:
    async def call() -> Any:
        async with await create_adapter("ai/tiny", backend="docker-api", settings={"url": runner.url}) as llm:
            return await llm.complete(f"tool {depth}", tools=[TOOL])

    result = asyncio.run(call())
    (tool_call,) = result.tool_calls
    with pytest.raises(StructuredOutputError, match=f"more than {MAX_JSON_DEPTH} levels deep") as caught:
        tool_call.parsed_arguments  # noqa: B018  (the property is the call under test)
    assert caught.value.output == nested(depth)
    assert tool_call.to_json()["parsed_arguments"] is None and tool_call.to_json()["arguments"] == nested(depth)
    assert json.loads(json.dumps(result.to_dict()))["tool_calls"][0]["arguments"] == nested(depth)


@pytest.mark.parametrize("depth", [5000, 900])
def test_cli_prints_a_deep_schema_answer_as_one_typed_error(runner: ScriptedServer, depth: int) -> None:
    done = run_cli("generate", "--schema", json.dumps(SCHEMA), f"text {depth}", env=api_env(runner))
    assert done.returncode == StructuredOutputError.exit_code, done
    assert "Traceback" not in done.stderr and done.stdout == ""
    first, *rest = done.stderr.splitlines()
    assert first.startswith(f"Error: The answer is JSON nested more than {MAX_JSON_DEPTH} levels deep"), first
    assert [line.split(":")[0] for line in rest] == ["Backend output"]  # the raw text, cut, on its own line


def test_cli_shows_deep_tool_arguments_raw(runner: ScriptedServer, tmp_path: Path) -> None:
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps([TOOL]), encoding="utf-8")
    done = run_cli("generate", "--tools", str(tools), "tool 900", env=api_env(runner))
    assert done.returncode == 0, done
    (call,) = json.loads(done.stdout)
    assert call["arguments"] == nested(900) and call["parsed_arguments"] is None


@pytest.mark.parametrize("depth", [5000, 900])
def test_web_api_answers_a_deep_answer_with_a_typed_error(serve: Any, runner: ScriptedServer, depth: int) -> None:
    process, port = serve(env=api_env(runner))
    api = f"http://127.0.0.1:{port}/api"
    assert wait_ready(process, f"{api}/backends").status_code == 200
    request = {"prompt": f"text {depth}", "response_format": SCHEMA}
    whole = httpx2.post(f"{api}/generate", json=request, timeout=30)
    assert whole.status_code == 502 and whole.headers["content-type"] == "application/json", whole.text[:300]
    body = whole.json()
    assert body["error"] == "StructuredOutputError" and f"more than {MAX_JSON_DEPTH} levels deep" in body["message"]

    streamed = httpx2.post(f"{api}/generate", json={**request, "stream": True}, timeout=30)
    events = [line.split(" ", 1)[1] for line in streamed.text.splitlines() if line.startswith("event:")]
    assert events[-1] == "error" and "done" not in events, streamed.text[:300]
    error = json.loads(streamed.text.rstrip().splitlines()[-1].split(" ", 1)[1])
    assert error["error"] == "StructuredOutputError" and f"more than {MAX_JSON_DEPTH} levels deep" in error["message"]

    tools = httpx2.post(f"{api}/generate", json={"prompt": f"tool {depth}", "tools": [TOOL]}, timeout=30)
    assert tools.status_code == 200, tools.text[:300]
    (call,) = tools.json()["tool_calls"]
    assert call["arguments"] == nested(depth) and call["parsed_arguments"] is None


def test_an_answer_at_the_limit_passes_every_encoder(serve: Any, runner: ScriptedServer) -> None:
    """``MAX_JSON_DEPTH`` levels: decoded, and sent back whole, streamed and by the CLI (the limit is below every
    encoder's own, so bounding the reading bounds the writing)."""
    process, port = serve(env=api_env(runner))
    api = f"http://127.0.0.1:{port}/api"
    assert wait_ready(process, f"{api}/backends").status_code == 200
    request = {"prompt": f"text {MAX_JSON_DEPTH}", "response_format": SCHEMA}
    whole = httpx2.post(f"{api}/generate", json=request, timeout=30)
    assert whole.status_code == 200 and whole.json()["parsed"] == nested_list(MAX_JSON_DEPTH), whole.text[:300]
    streamed = httpx2.post(f"{api}/generate/stream", json=request, timeout=30)
    assert streamed.text.rstrip().splitlines()[-2] == "event: done", streamed.text[-300:]
    tools = httpx2.post(f"{api}/generate", json={"prompt": f"tool {MAX_JSON_DEPTH}", "tools": [TOOL]}, timeout=30)
    assert tools.json()["tool_calls"][0]["parsed_arguments"] == nested_list(MAX_JSON_DEPTH), tools.text[:300]
    done = run_cli("generate", "--schema", json.dumps(SCHEMA), request["prompt"], env=api_env(runner))
    assert done.returncode == 0 and json.loads(done.stdout) == nested_list(MAX_JSON_DEPTH), done.stderr


# -- from a caller --------------------------------------------------------------------------------


def deep_requests(depth: int) -> dict[str, str]:
    """Request bodies (JSON text: no encoder could write them) with a schema, a tool's parameters or
    an option nested ``depth`` levels."""
    schema = '{"type": "array", "items": ' * (depth - 1) + '{"type": "string"}' + "}" * (depth - 1)
    tool = '{"type": "function", "function": {"name": "f", "parameters": ' + schema + "}}"
    return {
        "response_format": '{"prompt": "hi", "response_format": ' + schema,
        "tools": '{"prompt": "hi", "tools": [' + tool + "]",
        "options": '{"prompt": "hi", "options": {"stop": ' + nested(depth) + "}",
    }


def test_web_api_refuses_a_deep_request_with_422_and_keeps_its_log_short(serve: Any, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with log.open("w") as handle:
        process, port = serve(env={}, stderr=handle)
    api = f"http://127.0.0.1:{port}/api"
    assert wait_ready(process, f"{api}/models").status_code == 200
    for depth in (600, 980):
        for part, request in deep_requests(depth).items():
            for route, extra in (("/generate", "}"), ("/generate", ', "stream": true}'), ("/generate/stream", "}")):
                answer = httpx2.post(api + route, content=request + extra, headers=JSON, timeout=30)
                assert answer.status_code == 422, (depth, part, route, answer.text[:300])
                body = answer.json()
                assert f"more than {MAX_JSON_DEPTH} levels deep" in body["message"], (depth, part, body)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in text and len(text) < 4096, text[:2000]


@pytest.mark.parametrize("flag", ["--schema", "--tools"])
def test_cli_refuses_a_deep_schema_file_with_exit_2_in_one_line(flag: str, tmp_path: Path) -> None:
    schema = nested_schema(600)
    value: Any = schema
    if flag == "--tools":
        value = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "x": schema}}}]
    path = tmp_path / "deep.json"
    path.write_text(json.dumps(value), encoding="utf-8")
    done = run_cli("generate", flag, str(path), "hi")
    assert done.returncode == 2, done
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: "), done.stderr
    assert f"more than {MAX_JSON_DEPTH} levels deep" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("text", [nested(5000), '{"type": "object", "x": ' + nested(5000) + "}"])
def test_cli_refuses_schema_or_option_json_too_deep_to_decode(text: str, tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text(text, encoding="utf-8")
    for args in (("--schema", str(path)), ("-o", f"stop={text}")):
        done = run_cli("generate", *args, "hi")
        assert done.returncode == 2, done
        assert done.stderr.count("\n") == 1 and f"more than {MAX_JSON_DEPTH} levels deep" in done.stderr, done.stderr


def test_python_refuses_a_deep_request_naming_the_part() -> None:
    async def call(**options: Any) -> None:
        async with await create_adapter(backend="mock") as llm:
            await llm.complete("hi", **options)

    schema = nested_schema(600)
    tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
    for options, part in (
        ({"response_format": schema}, "the response format's schema"),
        ({"tools": [tool]}, "the parameters of tool 'f'"),
        ({"stop": nested_list(600)}, "the options"),
    ):
        with pytest.raises(InvalidOptionsError, match=f"more than {MAX_JSON_DEPTH} levels deep") as caught:
            asyncio.run(call(**options))
        assert caught.value.message.endswith(f", in {part}."), caught.value.message


@pytest.mark.parametrize("line", ['{"prompt": "hi", "id": ' + nested(5000) + "}", '{"messages": ' + nested(900) + "}"])
def test_cli_refuses_a_batch_line_nested_too_deeply(line: str, tmp_path: Path) -> None:
    path = tmp_path / "batch.jsonl"
    path.write_text('{"prompt": "first"}\n' + line + "\n", encoding="utf-8")
    done = run_cli("batch", str(path))
    assert done.returncode == 2, done
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: Line 2 of the batch file"), done.stderr
    assert f"more than {MAX_JSON_DEPTH} levels deep" in done.stderr and done.stdout == ""
