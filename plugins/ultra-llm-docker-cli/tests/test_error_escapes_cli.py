"""Escape sequences ``docker`` puts in an error never reach the terminal through ``ultra-llm``'s error
line: shown as ``\\xNN`` text, the message still readable. The console script runs as a real process
(stderr a pipe) on the docker-cli backend, over the ``docker`` double."""

from __future__ import annotations

import os
import subprocess

from ultra_llm_docker.testing.double.fixtures import DockerDouble

from ultra_llm.testing.serve import SCRIPT

HOSTILE = "boom \x1b]52;c;cm0gLXJmIH4=\x07 \x1b]0;pwned\x07 \x1b[2J\x1b[31mred \x9b2J \x9d0;t\x9c end"
"""An OSC 52 clipboard write and an OSC 0 title (BEL-terminated), CSI clear and colour, C1 CSI and OSC."""


def assert_neutralised(stderr: bytes) -> str:
    """No ESC, BEL or C1 control in ``stderr``; the text decoded for further checks."""
    assert b"\x1b" not in stderr and b"\x07" not in stderr, stderr
    text = stderr.decode("utf-8")
    assert "\x9b" not in text and "\x9d" not in text and "\x9c" not in text, text
    return text


def ultra_llm(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([SCRIPT, *args], capture_output=True, env={**os.environ, **env}, timeout=60)


def test_docker_stderr_is_shown_not_obeyed(docker_double: DockerDouble) -> None:
    """docker-cli: the runner's 500 body, which ``docker model run`` prints verbatim on stderr
    (``desktop.go``: ``error response: status=500 body=<body>``); the backend strips SGR, not OSC."""
    docker_double.set(fault="runner_500", fault_message=HOSTILE)
    done = ultra_llm("generate", "hi", env={"ULTRA_LLM_BACKEND": "docker-cli", "ULTRA_LLM_FALLBACK": "none"})
    assert done.returncode == 6, done
    text = assert_neutralised(done.stderr)
    assert text.startswith("Error: ") and "\\x1b]0;pwned\\x07" in text
