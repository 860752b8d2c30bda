"""The cache through real ``ultra-llm`` processes: a private file, a damaged file reported in one line
and repaired by ``clear``, answers keyed by the runner that gave them, requests no layer can change."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from ultra_llm.testing.serve import SCRIPT


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **env})


def sqlite_env(path: Path, **extra: str) -> dict[str, str]:
    return {"ULTRA_LLM_CACHE": "sqlite", "ULTRA_LLM_CACHE_PATH": str(path), **extra}


def test_the_cache_file_is_0600_in_a_0700_directory(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "cache.sqlite3"
    done = run("generate", "-o", "temperature=0", "hello", env=sqlite_env(path))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    files = list(path.parent.iterdir())
    assert path in files
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {p.name: 0o600 for p in files}


def test_a_world_readable_cache_file_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    assert run("cache", "stats", env=sqlite_env(path)).returncode == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_damaged_cache_file_is_one_line_and_clear_repairs_it(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    path.write_bytes(b"this is not a SQLite database, just damage" * 100)
    env = sqlite_env(path)
    stats = run("cache", "stats", env=env)
    assert stats.returncode == 1 and stats.stdout == ""
    assert stats.stderr.startswith("Error: ") and stats.stderr.count("\n") == 1, stats.stderr
    assert "cache clear" in stats.stderr and "Traceback" not in stats.stderr
    cleared = run("cache", "clear", env=env)
    assert cleared.returncode == 0 and "rebuilt it empty" in cleared.stdout, cleared
    again = run("cache", "stats", env=env)
    assert again.returncode == 0 and "Entries: 0" in again.stdout, again
    answered = run("generate", "-o", "temperature=0", "hello", env=env)
    assert answered.returncode == 0 and run("cache", "stats", env=env).stdout.count("Entries: 1") == 1


def test_the_key_includes_the_endpoint_that_answered(tmp_path: Path, hostile_env: dict[str, str]) -> None:
    env = {**hostile_env, **sqlite_env(tmp_path / "cache.sqlite3")}
    args = ("generate", "-b", "endpointed", "-o", "temperature=0", "hello")
    first = run(*args, env={**env, "ULTRA_LLM_TEST_ENDPOINT": "http://127.0.0.1:1/"})
    second = run(*args, env={**env, "ULTRA_LLM_TEST_ENDPOINT": "http://127.0.0.1:2/"})
    repeated = run(*args, env={**env, "ULTRA_LLM_TEST_ENDPOINT": "http://127.0.0.1:1/"})
    assert first.stdout == "answered by http://127.0.0.1:1/\n", first.stderr
    assert second.stdout == "answered by http://127.0.0.1:2/\n", "another runner's answer must not be served"
    assert repeated.stdout == first.stdout
    assert "Entries: 2" in run("cache", "stats", env=env).stdout


def test_a_middleware_cannot_change_a_request_in_place(tmp_path: Path, hostile_env: dict[str, str]) -> None:
    env = {**hostile_env, **sqlite_env(tmp_path / "cache.sqlite3"), "ULTRA_LLM_TEST_MUTATE": "1"}
    done = run("generate", "-o", "seed=1", "hello", env=env)
    assert done.returncode == 7, done
    assert "ultra_llm_hostile" in done.stderr and "immutable" in done.stderr and done.stderr.count("\n") == 1
    assert "Entries: 0" in run("cache", "stats", env=env).stdout, "no answer stored under the request's key"
