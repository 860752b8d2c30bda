"""The sync adapter is typed method by method: under ``mypy --strict`` (run as a real process on a
caller's file) ``create_adapter_sync().generate("x")`` is ``str`` and a misspelt method is an error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CALLER = """\
from ultra_llm import create_adapter_sync

with create_adapter_sync("m") as llm:
    reveal_type(llm.generate("x"))
    reveal_type(llm.stream_generate("x"))
    reveal_type(llm.complete("x", timeout=5).text)
    llm.generat("x")
"""


def test_mypy_strict_sees_the_sync_adapters_types(tmp_path: Path) -> None:
    caller = tmp_path / "caller.py"
    caller.write_text(CALLER)
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--python-version", "3.11", str(caller)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=root,
    )
    out = done.stdout
    lines = out.splitlines()
    assert lines[0].endswith(':4: note: Revealed type is "str"'), out
    assert lines[1].endswith(':5: note: Revealed type is "typing.Iterator[str]"'), out
    assert lines[2].endswith(':6: note: Revealed type is "str"'), out
    assert ':7: error: "SyncAdapter" has no attribute "generat"' in lines[3], out
    assert out.count("error:") == 1, out  # the typo, and nothing in ultra-llm's own types
