"""What the CLI tells the user when a docker-cli run passes a limit, through the real ``ultra-llm``
console script on the docker double: the first-token timeout is the adapter's one wording, naming the
setting that fired (and no "s left" remainder) and quoting what docker-cli waited for, and the
over-cap error's fix names what works on this backend (it sends no max_tokens)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ultra_llm_docker.testing.double.fixtures import DockerDouble

CONSOLE_SCRIPT = Path(sys.executable).with_name("ultra-llm")


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``ultra-llm ARGS`` on the docker-cli backend (the double first on PATH), with ``env`` over ours."""
    full = {**os.environ, "USE_MODEL_RUNNER": "true", "MODEL_RUNNER_TYPE": "cli", "ULTRA_LLM_FALLBACK": "none", **env}
    full.pop("ULTRA_LLM_BACKEND", None)
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *args], capture_output=True, text=True, env=full, stdin=subprocess.DEVNULL, timeout=60
    )


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_the_first_token_timeout_names_its_own_setting(docker_double: DockerDouble, stream: bool) -> None:
    """The adapter words the first-token timeout (docker-cli raises none of its own), naming the setting
    that fired and quoting what docker-cli said it waited for; no "s left" remainder, no other setting.
    (1.5 s: the presence check, `docker model list`, is done well inside it, so `run` is what waits.)"""
    docker_double.set(first_token_delay=30)
    done = run_cli("generate", *(["--stream"] if stream else []), "hello", ULTRA_LLM_FIRST_TOKEN_TIMEOUT="1.5")
    assert done.returncode == 5, done.stderr
    error = done.stderr
    assert (
        "No answer from backend 'docker-cli' within the 1.5 s first-token timeout (ULTRA_LLM_FIRST_TOKEN_TIMEOUT): "
        "`docker model run ai/smollm2:latest` has printed nothing yet." in error
    ), error
    assert "raise ULTRA_LLM_FIRST_TOKEN_TIMEOUT" in error
    assert "ULTRA_LLM_TIMEOUT" not in error and "s left" not in error
    assert "printed no answer within" not in error, "docker-cli's own wording is gone"


def test_the_over_cap_fix_names_the_setting_and_not_max_tokens(docker_double: DockerDouble) -> None:
    docker_double.set(answer="word " * 2000)  # ~10 KB
    done = run_cli("generate", "hello", ULTRA_LLM_DOCKER_CLI_MAX_RESPONSE_BYTES="1024")
    assert done.returncode != 0 and "printed more than 1024 bytes" in done.stderr, done.stderr
    fix = done.stderr.split("printed more than 1024 bytes", 1)[1]
    assert "Raise ULTRA_LLM_DOCKER_CLI_MAX_RESPONSE_BYTES above 1024" in fix
    assert "takes no max_tokens" in fix and "MODEL_RUNNER_TYPE=api" in fix
    assert "(max_tokens)" not in fix, "the generic advice names an option docker-cli refuses"
