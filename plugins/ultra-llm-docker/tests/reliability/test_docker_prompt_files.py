"""Issue 11 end to end: through Python, the CLI (a real process) and the web API (HTTP on 127.0.0.1),
a prompt naming a file ends in one clear line with nothing read, an e-mail address passes, and an
empty prompt is a typed error on every backend, never an empty answer. (The web API's side: the
repository's ``tests/web/test_web_prompt_safety.py``.)

The docker-cli backend runs against the docker double, which reads files named in a prompt as the
real ``docker model run`` does and logs what it finally sends (``sent_prompts``).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ultra_llm_docker.testing.double.fixtures import DockerDouble

from ultra_llm import create_adapter
from ultra_llm.errors import EmptyPromptError, UnsafePromptError

SECRET = "TOP-SECRET-e2e-71c0"
CONSOLE_SCRIPT = Path(sys.executable).with_name("ultra-llm")
BLANK = ["", "   ", "\n\t"]


@pytest.fixture
def secret_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "app" / ".env"
    path.parent.mkdir()
    path.write_text(f"API_KEY={SECRET}\n", encoding="utf-8")
    yield path


def cli(*args: str, input: str | None = None, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """``ultra-llm ARGS`` as a real process (the test's environment, the double first on PATH)."""
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *args],
        capture_output=True,
        text=True,
        input=input,
        cwd=cwd,
        timeout=60,
        env={**os.environ, **env},
    )


def assert_one_line_refusal(stderr: str, token: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert token in lines[0] and "Fix:" in lines[0] and "MODEL_RUNNER_TYPE=api" in lines[0]
    assert SECRET not in stderr


# -- the CLI --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "stdin", "token"),
    [
        (["summarize @{path}"], None, "@{path}"),
        (['summarize @"{path}"'], None, '@"{path}"'),
        (["summarize @'{path}'"], None, "@'{path}'"),
        (["summarize @.env"], None, "@.env"),
        (["-"], "summarize @{path}\n", "@{path}"),
        (["hi", "--system", "context: @{path}"], None, "@{path}"),
    ],
    ids=["absolute", "double-quoted", "single-quoted", "relative", "stdin", "system-message"],
)
def test_cli_refuses_a_file_token_in_one_line_and_reads_nothing(
    docker_double: DockerDouble, secret_file: Path, args: list[str], stdin: str | None, token: str
) -> None:
    argv = [a.format(path=secret_file) for a in args]
    done = cli(
        "generate",
        "--backend",
        "docker-cli",
        "-m",
        "smollm2",
        *argv,
        input=None if stdin is None else stdin.format(path=secret_file),
        cwd=secret_file.parent,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert_one_line_refusal(done.stderr, token.format(path=secret_file))
    assert docker_double.invocations() == [] and docker_double.sent_prompts() == []


def test_cli_passes_an_email_address(docker_double: DockerDouble, secret_file: Path) -> None:
    prompt = "write to someone@example.com and cc @team"
    done = cli("generate", "--backend", "docker-cli", "-m", "smollm2", prompt, cwd=secret_file.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout == docker_double.expected_answer(prompt, "smollm2") + "\n"
    assert [s["text"] for s in docker_double.sent_prompts()] == [prompt]


@pytest.mark.parametrize("backend", ["mock", "docker-cli"])
@pytest.mark.parametrize("prompt", ["   ", "-"])
def test_cli_refuses_an_empty_prompt(docker_double: DockerDouble, backend: str, prompt: str) -> None:
    done = cli("generate", "--backend", backend, "-m", "smollm2", prompt, input=" \n\n")
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "prompt is empty" in lines[0] and "Fix:" in lines[0]
    assert docker_double.invocations() == []


# -- Python ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["mock", "docker-cli", "docker-api"])
@pytest.mark.parametrize(
    "prompt",
    [
        *BLANK,
        [
            {"role": "user", "content": "earlier"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": " "},
        ],
    ],
)
def test_every_backend_refuses_an_empty_prompt(
    docker_double: DockerDouble, monkeypatch: pytest.MonkeyPatch, backend: str, prompt: Any
) -> None:
    """The check sits in request building, which every backend goes through; docker-api points at a
    closed port, so reaching it would be a different error."""
    monkeypatch.setenv("MODEL_RUNNER_URL", "http://127.0.0.1:9")

    async def run() -> None:
        async with await create_adapter("smollm2", backend=backend, check=False) as adapter:
            with pytest.raises(EmptyPromptError):
                await adapter.generate(prompt)
            with pytest.raises(EmptyPromptError):
                async for _ in adapter.stream(prompt):
                    pass

    asyncio.run(run())
    assert docker_double.invocations() == []


def test_python_refuses_a_token_in_an_earlier_turn(docker_double: DockerDouble, secret_file: Path) -> None:
    messages = [
        {"role": "user", "content": f"remember @{secret_file}"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "what did it say?"},
    ]

    async def run() -> None:
        async with await create_adapter("smollm2", backend="docker-cli") as adapter:
            with pytest.raises(UnsafePromptError) as caught:
                await adapter.generate(messages)
            assert f"'@{secret_file}'" in str(caught.value)

    asyncio.run(run())
    assert docker_double.invocations() == [] and docker_double.sent_prompts() == []
