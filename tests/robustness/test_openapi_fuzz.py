"""``schemathesis`` against ``ultra-llm serve`` on 127.0.0.1 (bounded: 10 examples an operation, a
fixed seed): no 500, no answer outside the documented schema, every 4xx in the documented error
body (``ErrorBody`` is the schema of every documented error status, so a 4xx in another shape, or
an undocumented status, fails the run).

``positive_data_acceptance`` is left out: the schema cannot say that the last user message must hold
text, so a schema-valid empty prompt is rightly a 422 (``EmptyPromptError``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ultra_llm.testing.serve import wait_ready

pytest.importorskip("schemathesis", reason="schemathesis is not installed (requirements-test.txt)")
pytest.importorskip("httpx2")

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "406", "413", "422"]

[checks.not_a_server_error]
expected-statuses = ["2xx", "3xx", "4xx", "501"]
"""
"""413 rejects a body over the size cap (ULTRA_LLM_WEB_MAX_BODY_BYTES) before it is read: a rejection too.
501 is the documented answer (ErrorBody, UnsupportedOperationError) to a valid request for a feature
the serving backend does not declare (tools, a response format, images, reasoning control on the
mock): the server refusing on purpose, not failing; any other 5xx still fails the run."""


def test_schemathesis_finds_no_500_no_schema_violation_and_only_documented_errors(serve: Any, tmp_path: Path) -> None:
    process, port = serve()
    schema = f"http://127.0.0.1:{port}/api/openapi.json"
    assert wait_ready(process, schema).status_code == 200
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    done = subprocess.run(
        [SCHEMATHESIS, "--config-file", str(config), "run", schema, "--max-examples", "10", "--seed", "1",
         "--checks", "all", "--exclude-checks", "positive_data_acceptance", "--phases", "examples,fuzzing",
         "--no-color"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env=dict(os.environ),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert process.poll() is None, "the server kept serving"
