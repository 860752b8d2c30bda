"""What a newcomer and an integrator found trying the CLI of 0.3 (issue 29), each at the real
boundary: click's CliRunner over the real command group, or a real process of the console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ultra_llm.cli.app import build_cli

CONSOLE_SCRIPT = Path(sys.executable).with_name("ultra-llm")


def invoke(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_cli(), list(args), input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def run_script(
    *args: str, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *args],
        capture_output=True,
        text=True,
        input=input,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


# -- N6: a prompt read from stdin loses exactly one trailing newline -----------------------------------


@pytest.mark.parametrize(
    ("given", "prompt"),
    [("hi\n", "hi"), ("hi\r\n", "hi"), ("hi", "hi"), ("hi\n\n", "hi\n"), ("a\nb\n", "a\nb")],
)
def test_a_prompt_from_stdin_loses_one_trailing_newline(given: str, prompt: str) -> None:
    done = run_script("generate", "--json", "-m", "mock/echo", "-", input=given)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["text"] == prompt


def test_echo_piped_into_generate_answers_the_prompt_alone() -> None:
    code, out, _ = invoke("generate", "-m", "mock/echo", "-", input="hi\n")
    assert code == 0 and out == "hi\n"
    code, out, _ = invoke("embed", "-m", "mock/echo", "-", input="hi\n")
    typed = json.loads(invoke("embed", "-m", "mock/echo", "hi")[1])
    assert code == 0 and json.loads(out)["vectors"] == typed["vectors"]


# -- N10: -o says its value is JSON ------------------------------------------------------------------


@pytest.mark.parametrize("command", ["generate", "batch"])
def test_option_help_says_values_are_json_else_text(command: str) -> None:
    code, out, _ = invoke(command, "--help")
    help_text = " ".join(out.split())  # click wraps the help: one line to search
    assert code == 0
    assert "VALUE is read as JSON, and as text when it is not JSON" in help_text
    assert "-o temperature=0.2" in help_text and "-o stop='[\"\\n\"]'" in help_text


def test_option_values_are_parsed_as_the_help_says() -> None:
    as_json = json.loads(invoke("generate", "--json", "-m", "mock/echo", "-o", 'stop=["\\n"]', "a\nb")[1])
    as_text = json.loads(invoke("generate", "--json", "-m", "mock/echo", "-o", "stop=b", "a b c")[1])
    assert as_json["text"] == "a" and as_text["text"] == "a "
