"""Deeply nested JSON at the boundaries, bounded by ``ultra_llm._json_depth`` (``MAX_JSON_DEPTH``).

From a model (untrusted): a schema answer or tool-call arguments nested 5,000 levels (too deep for
the decoder) or 900 (it decodes, but no encoder after it survives) is a ``StructuredOutputError``
keeping the raw text: the CLI prints it in one line with exit 6, the web API answers a typed JSON
502, and a stream ends with an ``error`` event; ``MAX_JSON_DEPTH`` levels, the limit, still pass everywhere. The
model is a test backend (``deep``, installed as a plugin distribution for the CLI and ``ultra-llm serve``)
whose answer to ``text N`` is JSON nested N levels, and to ``tool N`` one call whose arguments are.

From a caller: a schema, tool parameters or options nested 600 levels is an ``InvalidOptionsError``
naming the limit (HTTP 422, CLI exit 2), with no traceback in ``ultra-llm serve``'s log.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest

from tests.core.plugins import install_distribution
from ultra_llm import create_adapter
from ultra_llm._host import PluginHost
from ultra_llm._json_depth import MAX_JSON_DEPTH
from ultra_llm.errors import InvalidOptionsError, StructuredOutputError
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


DEEP_PLUGIN = textwrap.dedent(
    '''
    from ultra_llm.plugin import Availability, Backend, Chunk, ModelInfo, ToolCallDelta, hookimpl


    class DeepBackend(Backend):
        """For ``text N`` the answer is JSON nested N levels (arrays); for ``tool N`` one call to
        ``lookup`` whose arguments are, streamed in one piece."""

        name = "deep"
        default_model = "lab/tiny"
        supports_tools = True
        supports_response_format = True

        async def check_availability(self):
            return Availability(True, "up")

        async def list_models(self):
            return [ModelInfo("lab/tiny", self.name)]

        async def stream(self, request):
            kind, depth = request.prompt.split()
            text = "[" * int(depth) + "]" * int(depth)
            if kind == "text":
                yield Chunk(text)
                yield Chunk("", finish_reason="stop")
                return
            yield Chunk("", tool_call_deltas=(ToolCallDelta(0, "call_1", "lookup", text),))
            yield Chunk("", finish_reason="tool_calls")


    @hookimpl
    def ultra_llm_register_backends(register):
        register("deep", DeepBackend)
    '''
)


@pytest.fixture
def deep_site(tmp_path: Path) -> Path:
    """A directory holding the ``deep`` backend as an installed plugin distribution."""
    site = tmp_path / "site"
    site.mkdir()
    install_distribution(site, "ultra_llm_deep", DEEP_PLUGIN)
    return site


@pytest.fixture
def deep_host() -> PluginHost:
    """A host with the installed plugins and the ``deep`` backend, in this process."""
    module = types.ModuleType("ultra_llm_deep_here")
    exec(compile(DEEP_PLUGIN, "ultra_llm_deep_here", "exec"), module.__dict__)  # the plugin's own source, as installed
    host = PluginHost()
    host.register(module, name="deep")
    return host


def api_env(site: Path) -> dict[str, str]:
    return {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
        "ULTRA_LLM_BACKEND": "deep",
        "ULTRA_LLM_FALLBACK": "none",
        "DEFAULT_MODEL": "lab/tiny",
    }


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})}
    )


# -- from a model ---------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [5000, 900])
def test_a_deep_schema_answer_is_a_typed_error_in_python(deep_host: PluginHost, depth: int) -> None:
    async def call(stream: bool) -> None:
        async with await create_adapter("lab/tiny", backend="deep", host=deep_host) as llm:
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
def test_deep_tool_arguments_are_a_typed_error_and_the_call_is_kept(deep_host: PluginHost, depth: int) -> None:
    async def call() -> Any:
        async with await create_adapter("lab/tiny", backend="deep", host=deep_host) as llm:
            return await llm.complete(f"tool {depth}", tools=[TOOL])

    result = asyncio.run(call())
    (tool_call,) = result.tool_calls
    with pytest.raises(StructuredOutputError, match=f"more than {MAX_JSON_DEPTH} levels deep") as caught:
        tool_call.parsed_arguments  # noqa: B018  (the property is the call under test)
    assert caught.value.output == nested(depth)
    assert tool_call.to_json()["parsed_arguments"] is None and tool_call.to_json()["arguments"] == nested(depth)
    assert json.loads(json.dumps(result.to_dict()))["tool_calls"][0]["arguments"] == nested(depth)


@pytest.mark.parametrize("depth", [5000, 900])
def test_cli_prints_a_deep_schema_answer_as_one_typed_error(deep_site: Path, depth: int) -> None:
    done = run_cli("generate", "--schema", json.dumps(SCHEMA), f"text {depth}", env=api_env(deep_site))
    assert done.returncode == StructuredOutputError.exit_code, done
    assert "Traceback" not in done.stderr and done.stdout == ""
    first, *rest = done.stderr.splitlines()
    assert first.startswith(f"Error: The answer is JSON nested more than {MAX_JSON_DEPTH} levels deep"), first
    assert [line.split(":")[0] for line in rest] == ["Backend output"]  # the raw text, cut, on its own line


def test_cli_shows_deep_tool_arguments_raw(deep_site: Path, tmp_path: Path) -> None:
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps([TOOL]), encoding="utf-8")
    done = run_cli("generate", "--tools", str(tools), "tool 900", env=api_env(deep_site))
    assert done.returncode == 0, done
    (call,) = json.loads(done.stdout)
    assert call["arguments"] == nested(900) and call["parsed_arguments"] is None


@pytest.mark.parametrize("depth", [5000, 900])
def test_web_api_answers_a_deep_answer_with_a_typed_error(serve: Any, deep_site: Path, depth: int) -> None:
    process, port = serve(env=api_env(deep_site))
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


def test_an_answer_at_the_limit_passes_every_encoder(serve: Any, deep_site: Path) -> None:
    """``MAX_JSON_DEPTH`` levels: decoded, and sent back whole, streamed and by the CLI (the limit is below every
    encoder's own, so bounding the reading bounds the writing)."""
    process, port = serve(env=api_env(deep_site))
    api = f"http://127.0.0.1:{port}/api"
    assert wait_ready(process, f"{api}/backends").status_code == 200
    request = {"prompt": f"text {MAX_JSON_DEPTH}", "response_format": SCHEMA}
    whole = httpx2.post(f"{api}/generate", json=request, timeout=30)
    assert whole.status_code == 200 and whole.json()["parsed"] == nested_list(MAX_JSON_DEPTH), whole.text[:300]
    streamed = httpx2.post(f"{api}/generate/stream", json=request, timeout=30)
    assert streamed.text.rstrip().splitlines()[-2] == "event: done", streamed.text[-300:]
    tools = httpx2.post(f"{api}/generate", json={"prompt": f"tool {MAX_JSON_DEPTH}", "tools": [TOOL]}, timeout=30)
    assert tools.json()["tool_calls"][0]["parsed_arguments"] == nested_list(MAX_JSON_DEPTH), tools.text[:300]
    done = run_cli("generate", "--schema", json.dumps(SCHEMA), request["prompt"], env=api_env(deep_site))
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
