"""``ultra-llm config`` lists the docker-cli backend's settings under its own name, one name each."""

from __future__ import annotations

import json
import os
import subprocess

from ultra_llm.testing.serve import SCRIPT


def test_config_lists_the_docker_cli_section() -> None:
    done = subprocess.run(
        [SCRIPT, "config", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "ULTRA_LLM_DOCKER_BIN": "/opt/docker/bin/docker"},
    )
    assert done.returncode == 0, done.stderr
    sections = json.loads(done.stdout)
    rows = {row["variable"]: row for row in sections["docker-cli"]}
    assert rows["ULTRA_LLM_DOCKER_BIN"]["value"] == "/opt/docker/bin/docker"
    assert rows["ULTRA_LLM_DOCKER_BIN"]["source"].startswith("environment")
    variables = [row["variable"] for rows in sections.values() for row in rows]
    assert len(variables) == len(set(variables)), "one name per setting"
