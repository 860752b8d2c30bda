"""Every adapter operation runs under the adapter's deadline (``ULTRA_LLM_TIMEOUT``): a third-party
backend whose ``pull`` or ``remove`` never returns is stopped, through a real ``ultra-llm`` process."""

from __future__ import annotations

import os
import subprocess

import pytest

from ultra_llm.testing.serve import SCRIPT


@pytest.mark.parametrize(("args", "what"), [(("pull", "any"), "Pulling"), (("rm", "any"), "Removing")])
def test_a_hanging_pull_or_remove_hits_the_timeout(
    hostile_env: dict[str, str], args: tuple[str, ...], what: str
) -> None:
    env = {**os.environ, **hostile_env, "ULTRA_LLM_TIMEOUT": "1"}
    done = subprocess.run([SCRIPT, *args, "-b", "slow-ops"], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 5, done
    err = done.stderr.splitlines()
    assert err[-1].startswith(f"Error: {what} on backend 'slow-ops' took longer than 1 s."), done.stderr
    assert "ULTRA_LLM_TIMEOUT" in err[-1] and "Traceback" not in done.stderr
