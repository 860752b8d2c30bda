"""``ultra-llm config`` lists the docker-api backend's settings: its key masked, and the name that set
it (``MODEL_RUNNER_API_KEY``, the runner's own) given as the source."""

from __future__ import annotations

import json
import os
import subprocess

from ultra_llm.testing.serve import SCRIPT


def test_config_shows_the_key_masked_with_the_alias_that_set_it() -> None:
    done = subprocess.run(
        [SCRIPT, "config", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MODEL_RUNNER_API_KEY": "k" * 20},
    )
    assert done.returncode == 0, done.stderr
    sections = json.loads(done.stdout)
    rows = {row["variable"]: row for row in sections["docker-api"]}
    assert rows["ULTRA_LLM_DOCKER_API_KEY"]["value"] == "***" and "k" * 20 not in done.stdout
    assert rows["ULTRA_LLM_DOCKER_API_KEY"]["source"] == "environment (MODEL_RUNNER_API_KEY)"
