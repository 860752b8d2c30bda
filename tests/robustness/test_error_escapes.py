"""Escape sequences a server, a model or a backend's tool put in an error never reach the terminal
through ``ultra-llm``'s error lines, warnings or ``--debug`` log: shown as ``\\xNN`` text, the message
still readable. Each test runs the console script as a real process (stderr a pipe: error text is
neutralised wherever it goes, since a log file is read on a terminal later), with a test plugin
installed whose backends quote hostile text in their errors and answers, as a server's would be
quoted.

(The Docker backends' own error texts: ``plugins/ultra-llm-docker-api/tests/test_error_escapes_api.py``
and ``plugins/ultra-llm-docker-cli/tests/test_error_escapes_cli.py``.)"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.core.plugins import install_distribution
from ultra_llm.testing.serve import SCRIPT

HOSTILE = "boom \x1b]52;c;cm0gLXJmIH4=\x07 \x1b]0;pwned\x07 \x1b[2J\x1b[31mred \x9b2J \x9d0;t\x9c end"
"""An OSC 52 clipboard write and an OSC 0 title (BEL-terminated), CSI clear and colour, C1 CSI and OSC."""

QUOTING_PLUGIN = textwrap.dedent(
    '''
    import os

    from ultra_llm.errors import BackendUnavailableError, BadRequestError, GenerationError
    from ultra_llm.plugin import Availability, Backend, Chunk, ModelInfo, hookimpl

    HOSTILE = HOSTILE_TEXT


    class Answering(Backend):
        """Available with one model; each request's backend name is appended to ULTRA_LLM_TEST_SEEN."""

        default_model = "lab/model"
        supports_response_format = True

        async def check_availability(self):
            return Availability(True, "up")

        async def list_models(self):
            return [ModelInfo("lab/model", self.name)]

        def seen(self):
            with open(os.environ["ULTRA_LLM_TEST_SEEN"], "a", encoding="utf-8") as log:
                log.write(self.name + "\\n")


    class LoadFails(Answering):
        """A server's 500 whose body holds the hostile text, quoted in the error."""

        name = "load-fails"

        async def stream(self, request):
            self.seen()
            raise GenerationError(f"The server could not load the model (500): unable to load runner: {HOSTILE}")
            yield Chunk("")


    class BadSchema(Answering):
        """Answers a schema request with the hostile text (not JSON)."""

        name = "bad-schema"

        async def stream(self, request):
            self.seen()
            yield Chunk(HOSTILE, finish_reason="stop")


    class Down(Answering):
        """Unavailable; the reason quotes the server's 503 body."""

        name = "down"

        async def check_availability(self):
            return Availability(False, error=BackendUnavailableError(f"The server is down (503 {HOSTILE})"))

        async def stream(self, request):
            raise AssertionError("never asked: it is down")
            yield Chunk("")


    class Refuses(Answering):
        """Refuses every request with a 400 whose body holds the hostile text."""

        name = "refuses"

        async def stream(self, request):
            self.seen()
            raise BadRequestError(f"The server refused the request: 400 {HOSTILE}")
            yield Chunk("")


    @hookimpl
    def ultra_llm_register_backends(register):
        for backend in (LoadFails, BadSchema, Down, Refuses):
            register(backend.name, backend, summary="quotes hostile text (tests)")
    '''
).replace("HOSTILE_TEXT", repr(HOSTILE))


@pytest.fixture
def quoting_env(tmp_path: Path) -> dict[str, str]:
    """Environment variables for a child ``ultra-llm`` that loads the quoting plugin (no fallback)."""
    site = tmp_path / "site"
    site.mkdir()
    install_distribution(site, "ultra_llm_quoting", QUOTING_PLUGIN)
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": path, "ULTRA_LLM_TEST_SEEN": str(tmp_path / "seen.log"), "ULTRA_LLM_FALLBACK": "none"}


def seen(env: dict[str, str]) -> list[str]:
    """The backends asked to generate, in order."""
    log = Path(env["ULTRA_LLM_TEST_SEEN"])
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def assert_neutralised(stderr: bytes) -> str:
    """No ESC, BEL or C1 control in ``stderr``; the text decoded for further checks."""
    assert b"\x1b" not in stderr and b"\x07" not in stderr, stderr
    text = stderr.decode("utf-8")
    assert "\x9b" not in text and "\x9d" not in text and "\x9c" not in text, text
    return text


def ultra_llm(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([SCRIPT, *args], capture_output=True, env={**os.environ, **env}, timeout=60)


@pytest.mark.parametrize("debug", [[], ["--debug"]], ids=["line", "debug"])
def test_a_runner_error_body_is_shown_not_obeyed(quoting_env: dict[str, str], debug: list[str]) -> None:
    """A 500 whose body holds escapes: the one error line (or, with ``--debug``, the log and the
    traceback) shows them as text."""
    done = ultra_llm(*debug, "generate", "-b", "load-fails", "-m", "lab/model", "hi", env=quoting_env)
    assert done.returncode == 6, done
    text = assert_neutralised(done.stderr)
    assert "\\x1b]52;c;cm0gLXJmIH4=\\x07" in text and "\\x9b2J" in text and "end" in text
    if not debug:
        assert text.startswith("Error: The server could not load the model (500): unable to load runner: boom ")
    assert seen(quoting_env) == ["load-fails"]


def test_structured_output_backend_output_is_shown_not_obeyed(quoting_env: dict[str, str]) -> None:
    """A schema answer that is not JSON: ``StructuredOutputError``'s ``Backend output:`` quotes the model."""
    done = ultra_llm(
        "generate", "-b", "bad-schema", "-m", "lab/model", "--schema", '{"type": "object"}', "hi", env=quoting_env
    )
    assert done.returncode == 6, done
    text = assert_neutralised(done.stderr)
    assert text.startswith("Error: ") and "Backend output: boom \\x1b]52;c;cm0gLXJmIH4=\\x07" in text
    assert seen(quoting_env) == ["bad-schema"]


def test_a_warning_line_is_shown_not_obeyed(quoting_env: dict[str, str]) -> None:
    """A log warning quoting a server's text (the fallback's reason: the server's 503 body)."""
    env = {**quoting_env, "ULTRA_LLM_BACKEND": "down", "ULTRA_LLM_FALLBACK": "mock"}
    done = ultra_llm("generate", "-m", "mock/echo", "hi", env=env)
    assert done.returncode == 0 and done.stdout == b"hi\n", done
    text = assert_neutralised(done.stderr)
    assert text.startswith("Warning: Backend 'down' is unavailable") and "(503 boom \\x1b]52;c;" in text, text


def test_batch_per_prompt_errors_stay_escaped_json(quoting_env: dict[str, str], tmp_path: Path) -> None:
    """``batch``: each failed prompt's error (a server's 400 body quoted in its message) is a JSON line,
    its control characters ``\\u``-escaped; the summary on stderr carries none."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("one\ntwo\n", encoding="utf-8")
    done = ultra_llm("batch", "-b", "refuses", "-m", "lab/model", str(prompts), env=quoting_env)
    assert done.returncode == 1, done
    assert_neutralised(done.stderr)
    assert_neutralised(done.stdout)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["error"]["message"] for line in lines] == [f"The server refused the request: 400 {HOSTILE}"] * 2
    assert seen(quoting_env) == ["refuses", "refuses"]
