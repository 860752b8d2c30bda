"""The fan-out example of ``docs/ultra-integration.md``, run as written on the mock backend.

The block's last line asks a panel and prints the synthesis; it runs with the stand-in, which
answers any model name, and with a panel member the mock does not know (``unknown-model``), which
must fail that member's answer only and be said on stdout.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.docs.docs_support import page

BLOCK = re.compile(r"```python\n(?P<code>.*?)```", re.DOTALL)


def fan_out_block() -> str:
    chosen = [m["code"] for m in BLOCK.finditer(page("ultra-integration.md")) if "fan_out(" in m["code"]]
    assert len(chosen) == 1, "the page must hold exactly one fan-out example"
    return chosen[0]


@pytest.mark.parametrize("fault", ["", "unknown-model"])
def test_the_panel_example_runs_as_written(fault: str, ultra_llm_clean_env: pytest.MonkeyPatch) -> None:
    env = {"ULTRA_LLM_BACKEND": "mock", "ULTRA_LLM_FALLBACK": "none", "ULTRA_LLM_MOCK_FAULT": fault}
    code = fan_out_block().replace('judge="ai/gemma3"', 'judge="mock/echo"')
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env={**_base_env(), **env}
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Question: Why is the sky blue?" in out  # mock/echo, the judge, repeats what it was given
    if fault:  # the mock knows three models: both of the panel fail, each said, and the judge still answers
        assert "ai/llama3.2 could not answer" in out and "ai/qwen3 could not answer" in out
    else:
        assert "ai/llama3.2 said: This is a mock response" in out and "ai/qwen3 said:" in out


def _base_env() -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items() if not key.startswith(("ULTRA_LLM_", "MODEL_RUNNER"))}
