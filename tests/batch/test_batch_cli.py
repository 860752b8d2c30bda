"""``ultra-llm batch FILE``: plain and JSONL files, stdin, output file, progress bar, failures, exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from ultra_llm._cli.app import build_cli
from ultra_llm._cli.commands_batch import COMMANDS, batch, read_prompts
from ultra_llm._cli.output import ProgressDisplay
from ultra_llm.errors import InvalidOptionsError
from ultra_llm.testing.clock import FakeClock


def run(args: list[str], stdin: str | None = None) -> Result:
    cli = build_cli()
    if "batch" not in cli.commands:  # until the lead wires commands_batch into cli/app.py
        cli.add_command(batch)
    return CliRunner().invoke(cli, args, input=stdin)


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_the_module_exports_the_command() -> None:
    assert [batch] == COMMANDS and isinstance(batch, click.Command) and batch.name == "batch"


def test_a_plain_file_gives_jsonl_in_input_order(tmp_path: Path) -> None:
    prompts = [f"prompt number {i}" for i in range(25)]
    source = tmp_path / "prompts.txt"
    source.write_text("\n".join(prompts[:10]) + "\n\n" + "\n".join(prompts[10:]) + "\n", encoding="utf-8")

    result = run(["batch", str(source), "-m", "mock/echo", "--concurrency", "4"])

    assert result.exit_code == 0, result.output
    out = lines(result.stdout)
    assert [row["index"] for row in out] == list(range(25)), "the blank line is skipped, order is kept"
    assert [row["result"]["text"] for row in out] == prompts
    assert all(row["ok"] and row["error"] is None and row["id"] is None for row in out)
    assert "Batch: 25/25 (100.0%)" in result.stderr
    assert "25 prompts: 25 answered, 0 failed." in result.stderr


def test_jsonl_on_stdin_with_ids_messages_and_options() -> None:
    stdin = "\n".join(
        [
            json.dumps({"prompt": "one two three four", "id": "a"}),
            json.dumps({"messages": [{"role": "user", "content": "five six seven"}], "id": 2}),
            json.dumps({"prompt": "eight"}),
        ]
    )
    result = run(["batch", "-", "-m", "mock/echo", "-o", "max_tokens=2", "--no-progress"], stdin=stdin)

    assert result.exit_code == 0, result.output
    out = lines(result.stdout)
    assert [row["id"] for row in out] == ["a", 2, None]
    assert [row["result"]["text"] for row in out] == ["one two ", "five six ", "eight"]
    assert [row["result"]["finish_reason"] for row in out] == ["length", "length", "stop"]
    assert "Batch [" not in result.stderr


def test_output_file_and_system_prompt(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    result = run(["batch", "-", "-m", "mock/fixed", "--system", "be brief", "--output", str(target)], stdin="q\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    out = lines(target.read_text(encoding="utf-8"))
    assert len(out) == 1 and "mock response" in out[0]["result"]["text"]


def test_failed_prompts_are_reported_and_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_FAULT", "fail")
    result = run(["batch", "-", "-b", "mock", "-m", "mock/echo"], stdin="a\nb\nc\n")
    assert result.exit_code == 1
    out = lines(result.stdout)
    assert len(out) == 3 and not any(row["ok"] for row in out)
    assert {row["error"]["error"] for row in out} == {"GenerationError"}
    assert "3 failed" in result.stderr


def test_bad_input_is_a_clear_error_before_any_work() -> None:
    bad_json = run(["batch", "-", "-m", "mock/echo"], stdin='{"prompt": "ok"}\n{not json\n')
    assert bad_json.exit_code == 2 and "Line 2" in bad_json.stderr and bad_json.stdout == ""
    no_prompt = run(["batch", "-", "-m", "mock/echo"], stdin='{"text": "x"}\n')
    assert no_prompt.exit_code == 2 and 'neither a "prompt"' in no_prompt.stderr
    bad_option = run(["batch", "-", "-m", "mock/echo", "-o", "bogus=1"], stdin="a\n")
    assert bad_option.exit_code == 2 and "bogus" in bad_option.stderr and bad_option.stdout == ""
    bad_concurrency = run(["batch", "-", "-c", "0"], stdin="a\n")
    assert bad_concurrency.exit_code == 2
    bad_prompt = '{"prompt": "ok"}\n{"messages": [{"role": "wizard", "content": "x"}]}\n'
    refused = run(["batch", "-", "-m", "mock/echo"], stdin=bad_prompt)
    assert refused.exit_code == 2 and "Prompt 2: Invalid prompt" in refused.stderr and refused.stdout == ""


def test_a_jsonl_lines_model_answers_that_line_and_dash_m_the_others() -> None:
    """0.3 ignored a line's "model": every prompt went to -m (or the default model)."""
    stdin = "\n".join(
        [
            json.dumps({"prompt": "one", "model": "mock/echo"}),
            json.dumps({"prompt": "two"}),
            json.dumps({"messages": [{"role": "user", "content": "three"}], "model": "mock/fixed"}),
        ]
    )
    result = run(["batch", "-", "-m", "mock/echo", "--no-progress"], stdin=stdin)
    assert result.exit_code == 0, result.stderr
    out = lines(result.stdout)
    assert [row["result"]["model"] for row in out] == ["mock/echo", "mock/echo", "mock/fixed"]
    assert [row["result"]["text"] for row in out][:2] == ["one", "two"]
    assert "mock response" in out[2]["result"]["text"]
    defaulted = lines(run(["batch", "-", "--no-progress"], stdin=stdin).stdout)
    assert [row["result"]["model"] for row in defaulted] == ["mock/echo", "mock/default", "mock/fixed"]


@pytest.mark.parametrize("model", [3, "", None])
def test_a_model_that_is_not_a_name_stops_the_batch_naming_the_line(model: object) -> None:
    stdin = json.dumps({"prompt": "one"}) + "\n" + json.dumps({"prompt": "two", "model": model})
    if model is None:  # null: no model named, -m answers it
        assert run(["batch", "-", "-m", "mock/echo", "--no-progress"], stdin=stdin).exit_code == 0
        return
    refused = run(["batch", "-", "-m", "mock/echo", "--no-progress"], stdin=stdin)
    assert refused.exit_code == 2 and refused.stdout == ""
    assert 'Line 2 of the batch file has a "model" that is not a model name' in refused.stderr


def test_an_empty_file_is_an_empty_batch() -> None:
    result = run(["batch", "-", "-m", "mock/echo"], stdin="\n\n")
    assert result.exit_code == 0 and result.stdout == "" and "0 prompts" in result.stderr


def test_read_prompts_decides_the_format_from_the_first_line() -> None:
    assert read_prompts(io.StringIO("a {b}\n{c}\n")) == [("a {b}", None, None), ("{c}", None, None)]
    assert read_prompts(io.StringIO('{"prompt": "x", "id": 1, "model": "m"}\r\n')) == [("x", 1, "m")]
    with pytest.raises(InvalidOptionsError, match="Line 2"):
        read_prompts(io.StringIO('{"prompt": "x"}\nplain\n'))


def test_the_display_draws_clicks_bar_on_a_terminal_and_prints_lines_elsewhere(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = FakeClock()
    lines = ProgressDisplay("Batch", tty=False, clock=clock)
    for done in range(5):
        lines.update(done, 4, "1 failed" if done > 2 else "")
    err = capsys.readouterr().err.splitlines()
    assert err == ["Batch: 0/4 (0.0%)", "Batch: 4/4 (100.0%), 1 failed"], (
        "throttled to a line a second, the last always"
    )
    clock.advance(1.0)
    lines.update(1, 4)
    assert capsys.readouterr().err == "Batch: 1/4 (25.0%)\n"
    bar = ProgressDisplay("Batch", tty=True)
    bar.update(2, 4, "x")
    bar.finish("done")
    drawn = capsys.readouterr().err
    assert drawn.startswith("\r") and "Batch" in drawn and "50%" in drawn and "x" in drawn
    assert drawn.endswith("\ndone\n")
