"""``ultra-llm generate`` on the docker-api backend with --schema, --tools and --attach, through the
runner-layout proxy on 127.0.0.1: the schema answer from the REAL engine (llama-server b9878, whose
grammar makes the random-weight model write JSON that follows the schema), tool calls and an image
answer from replies the proxy injects in llama-server's whole-answer shape (``common/chat.cpp``
``common_chat_msg::to_json_oaicompat``: ``content`` beside ``tool_calls``), since random weights
call no tool (plugins/ultra-llm-docker/tests/engine/test_request_features_engine.py says why)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel, Field
from ultra_llm_docker.testing.engine.fixtures import DMRRunner

from ultra_llm._cli.app import build_cli

pytest.importorskip("ultra_llm_docker_api")

PNG = b"\x89PNG\r\n\x1a\n" + bytes(32)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


class Town(BaseModel):
    name: str = Field(max_length=12)  # a bounded string: the grammar closes it (see the module above)
    population: int


@pytest.fixture
def runner(dmr_runner: DMRRunner, monkeypatch: pytest.MonkeyPatch) -> Iterator[DMRRunner]:
    monkeypatch.setenv("ULTRA_LLM_BACKEND", "docker-api")
    monkeypatch.setenv("MODEL_RUNNER_URL", dmr_runner.url)
    monkeypatch.setenv("ULTRA_LLM_FALLBACK", "none")
    yield dmr_runner


def generate(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_cli(), ["generate", "-m", "ai/tiny", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def reply(message: dict[str, object], finish: str) -> str:
    choice = {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}
    return json.dumps({"object": "chat.completion", "model": "ai/tiny", "choices": [choice]})


def test_schema_prints_json_that_follows_it(runner: DMRRunner) -> None:
    schema = json.dumps(Town.model_json_schema())
    code, out, err = generate("--schema", schema, "-o", "max_tokens=300", "-o", "temperature=0", "A town?")
    assert code == 0, err
    Town.model_validate_json(out)  # raises unless the printed answer follows the schema


def test_tools_print_the_calls_as_json(runner: DMRRunner, tmp_path: Path) -> None:
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps(TOOLS))
    call = {"type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}, "id": "c7"}
    runner.proxy.inject(200, reply({"content": "", "tool_calls": [call]}, "tool_calls"), headers=_JSON)
    code, out, err = generate("--tools", str(tools), "--tool-choice", "required", "Weather in Oslo?")
    assert code == 0, err
    assert json.loads(out) == [
        {"id": "c7", "name": "get_weather", "arguments": '{"city":"Oslo"}', "parsed_arguments": {"city": "Oslo"}}
    ]


def test_an_attached_image_is_sent_and_answered(runner: DMRRunner, tmp_path: Path) -> None:
    image = tmp_path / "square.png"
    image.write_bytes(PNG)
    runner.proxy.inject(200, reply({"content": "A black square."}, "stop"), headers=_JSON)
    assert generate("-a", str(image), "What is this?")[:2] == (0, "A black square.\n")


def test_an_image_the_text_model_cannot_read_is_a_typed_refusal(runner: DMRRunner, tmp_path: Path) -> None:
    image = tmp_path / "square.png"
    image.write_bytes(PNG)
    code, out, err = generate("-a", str(image), "-o", "max_tokens=8", "What is this?")
    assert (code, out) == (1, "") and "image input is not supported" in err and "mmproj" in err


_JSON = {"Content-Type": "application/json"}
