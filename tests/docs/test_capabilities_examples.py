"""The examples of ``docs/capabilities.md`` run as written: each Python block, in a fresh interpreter
against the mock backend, exits 0 and prints something, so the page cannot drift from the code."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.docs.docs_support import ROOT

PAGE = ROOT / "docs" / "capabilities.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", PAGE.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)


def test_the_page_has_an_example_of_each_feature() -> None:
    joined = "\n".join(BLOCKS)
    for used in ("tools=", "response_format=", "ImagePart.from_file", "reasoning=", "logprobs=True", "n=2"):
        assert used in joined


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{index}" for index in range(len(BLOCKS))])
def test_the_example_runs(code: str, tmp_path: object) -> None:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
