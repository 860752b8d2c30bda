"""Every adapter operation runs under the adapter's deadline: a third-party backend whose ``remove``
never returns is stopped at ``ULTRA_LLM_TIMEOUT``, and a hanging ``pull`` (which has no total by
default: a multi-GB pull takes as long as it takes) at its ``--timeout``, through a real ``ultra-llm``
process. A pull whose progress keeps arriving outlives ``ULTRA_LLM_TIMEOUT``."""

from __future__ import annotations

import os
import subprocess

import pytest

from ultra_llm.testing.serve import SCRIPT


@pytest.mark.parametrize(
    ("args", "what", "setting"),
    [
        (("pull", "any", "--timeout", "1"), "Pulling", "--timeout"),
        (("rm", "any"), "Removing", "ULTRA_LLM_TIMEOUT"),
    ],
)
def test_a_hanging_pull_or_remove_hits_the_timeout(
    hostile_env: dict[str, str], args: tuple[str, ...], what: str, setting: str
) -> None:
    env = {**os.environ, **hostile_env, "ULTRA_LLM_TIMEOUT": "1"}
    done = subprocess.run([SCRIPT, *args, "-b", "slow-ops"], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 5, done
    err = done.stderr.splitlines()
    assert err[-1].startswith(f"Error: {what} on backend 'slow-ops' took longer than 1 s."), done.stderr
    assert setting in err[-1] and "Traceback" not in done.stderr


def test_a_pull_whose_progress_keeps_arriving_outlives_the_generation_timeout() -> None:
    """The mock's pull reports progress every ULTRA_LLM_MOCK_DELAY: three steps of 0.6 s, past a 1 s total."""
    env = {**os.environ, "ULTRA_LLM_TIMEOUT": "1", "ULTRA_LLM_MOCK_DELAY": "0.6", "ULTRA_LLM_LOAD_PLUGINS": "mock"}
    done = subprocess.run(
        [SCRIPT, "pull", "mock/big", "-b", "mock"], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done
    assert done.stdout.splitlines()[-1] == "Pulled mock/big on mock."


def test_a_bad_pull_timeout_is_exit_2_naming_it() -> None:
    env = {**os.environ, "ULTRA_LLM_LOAD_PLUGINS": "mock"}
    done = subprocess.run(
        [SCRIPT, "pull", "mock/big", "-b", "mock", "--timeout", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 2, done
    assert "timeout=0.0 is not a timeout" in done.stderr and "Traceback" not in done.stderr
