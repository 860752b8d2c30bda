"""``ultra-llm generate`` with --schema, --tools, --tool-choice, --attach and reasoning control, on a
backend that declares every feature and on one that declares none (tests/support/feature_backend.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.feature_backend import GIF, PNG, TOOLS, FeatureBackend, FeaturePlugin
from ultra_llm._cli.app import build_cli
from ultra_llm._cli.request_features import format_json
from ultra_llm._cli.terminal import neutralise
from ultra_llm._host import get_host

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


@pytest.fixture(autouse=True)
def _features(ultra_llm_clean_env: pytest.MonkeyPatch) -> Iterator[None]:
    get_host().register(FeaturePlugin(), name="features")
    FeatureBackend.calls = 0
    yield


@pytest.fixture
def tools_file(tmp_path: Path) -> str:
    path = tmp_path / "tools.json"
    path.write_text(json.dumps(TOOLS), encoding="utf-8")
    return str(path)


def invoke(*args: str, backend: str = "features") -> tuple[int, str, str]:
    result = CliRunner().invoke(build_cli(), ["generate", "-b", backend, "-m", "mock/echo", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_schema_inline_prints_the_parsed_answer_on_one_line_when_piped() -> None:
    code, out, err = invoke("--schema", json.dumps(SCHEMA), "hi")
    assert (code, err) == (0, "")
    assert out == '{"answer": "hi", "images": 0}\n'


def test_schema_from_a_file_in_the_openai_shape(tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps({"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA}}))
    code, out, _ = invoke("--schema", str(path), "hi")
    assert code == 0 and json.loads(out) == {"answer": "hi", "images": 0}


def test_a_schema_answer_cut_short_is_a_typed_error_keeping_the_text() -> None:
    result = CliRunner().invoke(
        build_cli(), ["generate", "-b", "features", "-m", "mock/broken", "--schema", json.dumps(SCHEMA), "hi"]
    )
    assert result.exit_code == 6, result.output  # StructuredOutputError is a GenerationError
    assert "not valid JSON" in result.stderr and "max_tokens" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--schema", "{not json"], "--schema is not valid JSON (inline)"),
        (["--schema", "/no/such/schema.json"], "cannot read the file '/no/such/schema.json'"),
        (["--schema", '{"type": "text"}'], "asks for no structure"),
        (["--attach", "/no/such.png"], "Cannot read the image '/no/such.png'"),
        (["--tool-choice", "auto"], "--tool-choice needs --tools"),
        (["--reasoning-budget", "-1"], "-1 is not in the range x>=0"),
    ],
)
def test_bad_input_is_one_typed_line_and_exit_2(args: list[str], message: str) -> None:
    code, out, err = invoke(*args, "hi")
    assert code == 2 and out == "" and message in err
    assert FeatureBackend.calls == 0


def test_a_tools_file_that_is_not_a_list_or_not_json(tmp_path: Path) -> None:
    (tmp_path / "one.json").write_text(json.dumps(TOOLS[0]))
    (tmp_path / "bad.json").write_text("[{")
    code, _, err = invoke("--tools", str(tmp_path / "one.json"), "hi")
    assert code == 2 and "holds a JSON dict, not a list" in err
    code, _, err = invoke("--tools", str(tmp_path / "bad.json"), "hi")
    assert code == 2 and "--tools is not valid JSON (in '" in err


def test_tools_print_the_calls_as_json(tools_file: str) -> None:
    code, out, _ = invoke("--tools", tools_file, "weather?")
    assert code == 0
    calls = json.loads(out)
    assert [call["name"] for call in calls] == ["get_weather", "get_time"]
    assert calls[0] == {
        "id": "call_0_get_weather",
        "name": "get_weather",
        "arguments": '{"prompt": "weather?"}',
        "parsed_arguments": {"prompt": "weather?"},
    }


@pytest.mark.parametrize("stream", [[], ["--stream"]])
def test_tool_choice_names_one_tool_whole_and_streamed(tools_file: str, stream: list[str]) -> None:
    code, out, _ = invoke("--tools", tools_file, "--tool-choice", "get_time", *stream, "now?")
    assert code == 0
    assert [call["name"] for call in json.loads(out)] == ["get_time"]


def test_tool_choice_none_answers_in_text(tools_file: str) -> None:
    assert invoke("--tools", tools_file, "--tool-choice", "none", "hi")[1] == "echo: hi\n"


def test_json_output_carries_tool_calls_and_parsed(tools_file: str) -> None:
    data = json.loads(invoke("--tools", tools_file, "--tool-choice", "required", "--json", "x")[1])
    assert [call["parsed_arguments"] for call in data["tool_calls"]] == [{"prompt": "x"}] * 2
    assert data["finish_reason"] == "tool_calls" and data["parsed"] is None
    data = json.loads(invoke("--schema", json.dumps(SCHEMA), "--json", "x")[1])
    assert data["parsed"] == {"answer": "x", "images": 0} and data["tool_calls"] == []


def test_attach_sends_the_images(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(PNG)
    (tmp_path / "b.gif").write_bytes(GIF)
    code, out, _ = invoke("-a", str(tmp_path / "a.png"), "--attach", str(tmp_path / "b.gif"), "what is this?")
    assert code == 0 and out == "echo: what is this? [2 image(s): image/png, image/gif]\n"
    code, out, _ = invoke("-a", str(tmp_path / "a.png"), "--stream", "")
    assert code == 0 and out == "echo:  [1 image(s): image/png]\n", "an image alone is a prompt"


def test_a_file_that_is_not_an_image_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("hello")
    code, _, err = invoke("-a", str(tmp_path / "notes.png"), "hi")
    assert code == 2 and "Attachment" in err and "not an image" in err


@pytest.mark.parametrize("stream", [[], ["--stream"]])
def test_reasoning_on_shows_the_thinking_off_asks_for_none(stream: list[str]) -> None:
    code, out, err = invoke("--reasoning", *stream, "hi")
    assert code == 0 and out == "echo: hi\n" and "thinking" in err
    code, out, err = invoke("--no-reasoning", *stream, "hi")
    assert code == 0 and out == "echo: hi\n" and err == ""
    code, out, err = invoke("--reasoning", "--reasoning-budget", "0", *stream, "hi")
    assert code == 0 and err == "", "a budget of 0 reaches the backend"


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (["--schema", json.dumps(SCHEMA)], "answer in a JSON schema"),
        (["--tools", "TOOLS"], "call tools"),
        (["-a", "PNG"], "read images"),
        (["--no-reasoning"], "take reasoning control"),
    ],
)
def test_a_backend_that_declares_none_refuses_each(args: list[str], what: str, tools_file: str, tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(PNG)
    args = [{"TOOLS": tools_file, "PNG": str(tmp_path / "a.png")}.get(arg, arg) for arg in args]
    code, out, err = invoke(*args, "hi", backend="plain")
    assert code == 1 and out == "" and f"Backend 'plain' cannot {what}." in err


def test_the_single_prompt_flags_are_refused_with_batch(tmp_path: Path, tools_file: str) -> None:
    batch = tmp_path / "prompts.txt"
    batch.write_text("a\nb\n")
    result = CliRunner().invoke(build_cli(), ["generate", "--batch", str(batch), "--tools", tools_file])
    assert result.exit_code == 2 and "--tools apply to one PROMPT, not to --batch" in result.output
    result = CliRunner().invoke(build_cli(), ["generate", "--batch", str(batch), "--no-reasoning", "-a", "x.png"])
    assert result.exit_code == 2 and "--attach, --reasoning/--no-reasoning apply to one PROMPT" in result.output


def test_json_for_a_terminal_is_indented_and_escaped() -> None:
    data = [{"name": "x", "arguments": "\x1b]0;owned\x07"}]
    assert (
        format_json(data, neutralise, pretty=True)
        == '[\n  {\n    "name": "x",\n    "arguments": "\\u001b]0;owned\\u0007"\n  }\n]'
    )
    assert format_json({"a": "\x9b2J"}, neutralise, pretty=False) == '{"a": "\\x9b2J"}'


def test_a_streamed_schema_answer_prints_the_json_as_it_comes_and_is_checked_at_the_end() -> None:
    code, out, _ = invoke("--stream", "--schema", json.dumps(SCHEMA), "hi")
    assert code == 0 and json.loads(out) == {"answer": "hi", "images": 0} and out.endswith("}\n")
    result = CliRunner().invoke(
        build_cli(),
        ["generate", "-b", "features", "-m", "mock/broken", "--stream", "--schema", json.dumps(SCHEMA), "hi"],
    )
    assert result.exit_code == 6 and "StructuredOutputError" not in result.stdout
    assert result.stdout.endswith("\n") and "not valid JSON" in result.stderr


def test_a_feature_given_as_an_option_names_its_own_flag() -> None:
    code, out, err = invoke("-o", "tools=[]", "hi")
    assert (code, out) == (2, "") and "tools cannot be set through -o" in err and "--tools" in err
