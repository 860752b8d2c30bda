"""Issue 11 on the kernel and the mock: an empty or whitespace-only prompt is a typed error while the
request is built, through Python (whole and streamed) and the CLI (a real process, one line, exit 2),
never an empty answer. (The web API's side: ``tests/web/test_web_prompt_safety.py``; a plugin's
backends, and a prompt naming a file, are checked the same way in that plugin's suite.)
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ultra_llm import create_adapter
from ultra_llm.errors import EmptyPromptError

CONSOLE_SCRIPT = Path(sys.executable).with_name("ultra-llm")
BLANK = ["", "   ", "\n\t"]


def cli(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """``ultra-llm ARGS`` as a real process, in the test's environment."""
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *args], capture_output=True, text=True, input=input, timeout=60, env={**os.environ}
    )


@pytest.mark.parametrize("prompt", ["   ", "-"])
def test_cli_refuses_an_empty_prompt_on_the_mock(prompt: str) -> None:
    done = cli("generate", "--backend", "mock", "-m", "smollm2", prompt, input=" \n\n")
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "prompt is empty" in lines[0] and "Fix:" in lines[0]


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
def test_python_refuses_an_empty_prompt_on_the_mock(prompt: Any) -> None:
    """The check sits in request building, which every backend goes through."""

    async def run() -> None:
        async with await create_adapter("smollm2", backend="mock", check=False) as adapter:
            with pytest.raises(EmptyPromptError):
                await adapter.generate(prompt)
            with pytest.raises(EmptyPromptError):
                async for _ in adapter.stream(prompt):
                    pass

    asyncio.run(run())
