"""``ultra-llm config`` lists the docker-cli backend's settings under its own name, one name each, its
time limits included."""

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


def test_config_shows_every_limit_of_the_backend() -> None:
    """docker-cli's own time limits are settings ``ultra-llm config`` shows, each with its meaning:
    none is hidden as a multiple of another setting."""
    done = subprocess.run(
        [SCRIPT, "config", "--json"], capture_output=True, text=True, timeout=60, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr
    rows = {row["variable"]: row for row in json.loads(done.stdout)["docker-cli"]}
    for variable, default, names in [
        ("ULTRA_LLM_DOCKER_CLI_LIST_TIMEOUT", 10.0, ("`docker model list`", "`ps`", "`df`", "`inspect`")),
        ("ULTRA_LLM_DOCKER_CLI_CONTROL_TIMEOUT", 30.0, ("`docker model rm`", "`configure`", "`unload`")),
        ("ULTRA_LLM_DOCKER_CLI_PULL_IDLE_TIMEOUT", 300.0, ("`docker model pull`", "no total")),
    ]:
        row = rows[variable]
        assert (row["value"], row["source"]) == (default, "default"), row
        assert all(name in row["description"] for name in names), row["description"]
