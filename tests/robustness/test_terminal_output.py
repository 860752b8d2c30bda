"""A model's escape sequences through ``ultra-llm generate``: shown as text on a terminal (a real
pseudo-terminal here), passed byte-exact into a pipe."""

from __future__ import annotations

import os
import pty
import subprocess

import pytest

from ultra_llm.testing.serve import SCRIPT

HOSTILE = "red \x1b[31mALERT\x1b[0m \x1b]0;pwned\x07 \x9b2J back\x08\x08 tab\tend"
"""Colour, an OSC title with BEL, a C1 CSI clearing the screen, backspaces; the mock/echo model answers it."""


def run_on_a_terminal(*args: str) -> tuple[int, bytes]:
    """Run the CLI with its stdout on a pseudo-terminal; its exit status and every byte it wrote."""
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen([SCRIPT, *args], stdout=follower, stderr=subprocess.PIPE, env=dict(os.environ))
        os.close(follower)
        follower = -1
        output = bytearray()
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            output += data
        process.communicate(timeout=60)
        return process.returncode, bytes(output)
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)


@pytest.mark.parametrize("stream", [[], ["--stream"]], ids=["whole", "streamed"])
def test_escape_sequences_are_shown_not_obeyed_on_a_terminal(stream: list[str]) -> None:
    code, output = run_on_a_terminal("generate", *stream, "-m", "mock/echo", "--", HOSTILE)
    assert code == 0, output
    assert b"\x1b" not in output and b"\x07" not in output and b"\x08" not in output
    assert "\x9b".encode() not in output
    assert b"\\x1b[31mALERT" in output and b"\\x9b2J" in output and b"tab\tend" in output


@pytest.mark.parametrize("stream", [[], ["--stream"]], ids=["whole", "streamed"])
def test_piped_output_stays_byte_exact(stream: list[str]) -> None:
    done = subprocess.run(
        [SCRIPT, "generate", *stream, "-m", "mock/echo", "--", HOSTILE], capture_output=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout == (HOSTILE + "\n").encode(), done
