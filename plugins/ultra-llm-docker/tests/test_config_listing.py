"""``ultra-llm config`` lists the family's selection variables under ``docker``."""

from __future__ import annotations

import json
import os
import subprocess

from ultra_llm.testing.serve import SCRIPT


def test_config_lists_the_selection_variables_under_docker() -> None:
    done = subprocess.run(
        [SCRIPT, "config", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "USE_MODEL_RUNNER": "true"},
    )
    assert done.returncode == 0, done.stderr
    sections = json.loads(done.stdout)
    rows = {row["variable"]: row for row in sections["docker"]}
    assert {"USE_MODEL_RUNNER", "MODEL_RUNNER_TYPE"} <= set(rows)
    assert rows["USE_MODEL_RUNNER"]["source"].startswith("environment")
