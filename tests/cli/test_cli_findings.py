"""What a newcomer and an integrator found trying the CLI of 0.3 (issue 29), each at the real
boundary: click's CliRunner over the real command group, or a real process of the console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner

from ultra_llm._cli.app import build_cli
from ultra_llm._host import get_host
from ultra_llm.plugin import (
    Availability,
    Backend,
    BackendRegistrar,
    Chunk,
    GenerationRequest,
    ModelInfo,
    hookimpl,
)

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


# -- F2 and F3: a third-party backend with no default model, or one answering with the wrong type -------


class Shelf(Backend):
    """A backend as documented by default: no ``default_model``; ``sloppy`` lists plain strings."""

    name: ClassVar[str] = "shelf"
    sloppy: ClassVar[bool] = False

    async def check_availability(self) -> Availability:
        return Availability(True, "up")

    async def list_models(self) -> list[ModelInfo]:
        if self.sloppy:
            return ["shelf/a", "shelf/b"]  # type: ignore[list-item]
        return [ModelInfo("shelf/a", self.name, context_window=64), ModelInfo("shelf/b", self.name)]

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        yield Chunk(f"{request.model}: {request.prompt}", finish_reason="stop")


class ShelfPlugin:
    @hookimpl
    def ultra_llm_register_backends(self, register: BackendRegistrar) -> None:
        register("shelf", Shelf)


@pytest.fixture
def shelf(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``shelf`` backend registered on the host the CLI uses (reset for every test)."""
    monkeypatch.setattr(Shelf, "sloppy", False)
    get_host().register(ShelfPlugin(), name="shelf-plugin")


@pytest.mark.usefixtures("shelf")
def test_models_and_inspect_work_on_a_backend_without_a_default_model() -> None:
    code, out, err = invoke("models", "-b", "shelf")
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()] == ["MODEL", "shelf/a", "shelf/b"]
    code, out, err = invoke("models", "-b", "shelf", "--json")
    assert code == 0 and [model["name"] for model in json.loads(out)] == ["shelf/a", "shelf/b"]
    code, out, err = invoke("inspect", "shelf/a", "-b", "shelf", "--json")
    assert code == 0, err
    assert json.loads(out)["name"] == "shelf/a" and json.loads(out)["context_window"] == 64
    assert invoke("generate", "-b", "shelf", "-m", "shelf/b", "hi") == (0, "shelf/b: hi\n", "")


@pytest.mark.usefixtures("shelf")
def test_a_call_needing_the_default_model_names_options_that_exist() -> None:
    code, out, err = invoke("generate", "-b", "shelf", "hi")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "No model was named and backend 'shelf' has no default model." in err
    assert "`-m MODEL` (ultra-llm generate, embed, batch)" in err and "DEFAULT_MODEL" in err
    for command in ("generate", "embed", "batch"):  # the options the fix names exist
        assert "-m, --model" in invoke(command, "--help")[1]
    assert "-m, --model" not in invoke("models", "--help")[1], "the fix no longer names -m for models"


@pytest.mark.usefixtures("shelf")
def test_a_backend_listing_strings_is_one_plugin_error_line_not_a_traceback() -> None:
    Shelf.sloppy = True
    code, out, err = invoke("models", "-b", "shelf")
    assert code == 7 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(
        "Error: Backend 'shelf' returned a list holding a str ('shelf/a') from list_models, where a list of "
        "ModelInfo belongs: a bug in plugin 'shelf-plugin'. Fix: Report it to the authors of plugin 'shelf-plugin'"
    )


# -- N11 (the kernel's part): INFO lines of ultra_llm.* loggers reach stderr without --debug ------------


def test_info_lines_of_ultra_llm_loggers_go_to_stderr_without_debug() -> None:
    """What lets the metrics plugin's one line per call show (its own test runs the real thing)."""
    import logging

    import click

    class Reporting:
        @hookimpl
        def ultra_llm_register_commands(self, cli: click.Group) -> None:
            @click.command()
            def report() -> None:
                logging.getLogger("ultra_llm.example").info("took %d ms", 5)
                logging.getLogger("ultra_llm.example").debug("only with --debug")
                logging.getLogger("elsewhere").info("not ours")
                click.echo("answer")

            cli.add_command(report)

    get_host().register(Reporting(), name="reporting")
    assert invoke("report") == (0, "answer\n", "example: took 5 ms\n")
