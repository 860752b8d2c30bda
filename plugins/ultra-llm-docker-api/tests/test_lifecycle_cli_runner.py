"""``ultra-llm ps|preload|unload|configure|inspect|df`` and the context column of ``models`` on the
docker-api backend, against the runner-layout proxy on 127.0.0.1, through click's CliRunner and the
sync adapter: the runner's endpoints, statuses and configuration as the commands reach them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from ultra_llm_docker.testing.engine.dmr_proxy import DMRProxy

from ultra_llm._cli.app import build_cli

MODEL = "ai/tiny:latest"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_cli(), list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> Iterator[DMRProxy]:
    """The docker-api backend selected, pointed at the runner-layout proxy (no engine behind it)."""
    proxy = DMRProxy("http://127.0.0.1:9", engine_model="ai/tiny").start()
    monkeypatch.setenv("ULTRA_LLM_BACKEND", "docker-api")
    monkeypatch.setenv("MODEL_RUNNER_URL", proxy.url)
    monkeypatch.setenv("ULTRA_LLM_FALLBACK", "none")
    try:
        yield proxy
    finally:
        proxy.stop()


def test_configure_409_names_unload_then_unload_flag_does_both(runner: DMRProxy) -> None:
    code, out, err = invoke("configure", "tiny", "--context-size", "1024", "--keep-alive", "10m")
    assert code == 0 and out == f"Configured {MODEL}: context size 1024, keep-alive 10m.\n"
    code, out, _ = invoke("ps", "--json")
    assert [row["name"] for row in json.loads(out)] == [MODEL]
    runner.hold(MODEL)  # another user's request in flight
    code, out, err = invoke("configure", "tiny", "--context-size", "2048")
    assert code == 8 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"`ultra-llm unload {MODEL}`" in lines[0] and "--unload" in lines[0]
    assert runner.configs[MODEL]["context-size"] == 1024  # nothing changed, nothing unloaded
    assert MODEL in runner.loaded
    code, out, err = invoke("configure", "tiny", "--context-size", "2048", "--unload")
    assert code == 8 and "retry once it is done" in err  # the runner unloads no busy model
    runner.hold(MODEL, busy=False)
    code, out, err = invoke("configure", "tiny", "--context-size", "2048", "--unload")
    assert code == 0, err
    assert [p for m, p in runner.requests if m == "POST"][-2:] == ["/engines/unload", "/engines/_configure"]
    code, out, _ = invoke("inspect", "tiny", "--json")
    assert json.loads(out)["context_window"] == 2048


def test_backend_option_selects_like_the_other_commands(runner: DMRProxy) -> None:
    assert invoke("ps", "--backend", "docker-api") == (0, "MODEL  ENGINE  MODE  UNTIL\n", "")
    code, _, err = invoke("ps", "--backend", "mock")
    assert code == 1 and "Backend 'mock' cannot list loaded models: it does not manage loaded models" in err


def test_ps_unload_all_inspect_df_and_models(runner: DMRProxy) -> None:
    runner.add_local("ai/other")
    assert invoke("preload", "tiny") == (0, f"Loaded {MODEL}.\n", "")
    assert invoke("preload", "other")[0] == 0
    code, out, _ = invoke("ps")
    header, *rows = out.splitlines()
    assert header.split() == ["MODEL", "ENGINE", "MODE", "UNTIL"] and len(rows) == 2
    assert rows[0].split()[:3] == [MODEL, "llama.cpp", "completion"] and rows[0].endswith("minutes from now")
    assert invoke("unload", "--all") == (0, "Unloaded 2 model(s).\n", "")
    assert invoke("unload", "--all") == (0, "No models are loaded.\n", "")
    assert invoke("unload", "tiny", "--json") == (0, '{\n  "unloaded": 0\n}\n', "")
    code, out, _ = invoke("inspect", "tiny")
    assert code == 0 and "context window  2048" in out and "tools           unknown" in out
    code, out, _ = invoke("df")
    assert out.splitlines()[0].split() == ["TYPE", "SIZE"] and "Inference engine" in out
    code, out, _ = invoke("models")
    assert "CONTEXT" in out.splitlines()[0] and "2048" in out
    assert json.loads(invoke("models", "--json")[1])[0]["context_window"] == 2048


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("configure", "tiny", "--keep-alive", "five minutes"), "is not a duration"),
        (("configure", "tiny", "--context-size", "-5"), "out of range"),
        (("configure", "tiny"), "Nothing to configure"),
        (("unload",), "Name the models to unload"),
        (("unload", "tiny", "--all"), "not both"),
        (("preload", "--", "-x"), "-x"),
        (("configure", "--context-size", "8", "--", "-x"), "-x"),
    ],
)
def test_bad_input_is_one_line_before_any_request(runner: DMRProxy, args: tuple[str, ...], message: str) -> None:
    code, out, err = invoke(*args)
    assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1
    assert [r for r in runner.requests if r[0] == "POST"] == []


def test_the_sync_adapter_wraps_the_lifecycle(runner: DMRProxy) -> None:
    from ultra_llm import create_adapter_sync

    with create_adapter_sync() as llm:
        assert llm.preload("tiny") == MODEL
        assert [m.name for m in llm.running_models()] == [MODEL]
        assert llm.unload(["tiny"]) == 1
        assert llm.inspect("tiny").context_window == 2048
        assert llm.disk_usage().engine_bytes == runner.engine_disk_usage


def test_runner_text_is_shown_not_obeyed_on_a_terminal(runner: DMRProxy) -> None:
    """A model name the runner reports with escape sequences reaches a terminal as visible text."""
    import os
    import pty
    import subprocess
    import sys
    import time
    from pathlib import Path

    from ultra_llm_docker.testing.engine.dmr_proxy import _Runner

    with runner._lock:
        runner.loaded["ai/evil\x1b]0;pwned\x07\x1b[31m:latest"] = _Runner("llama.cpp", "completion", time.time())
    main, secondary = pty.openpty()
    try:
        done = subprocess.run(
            [str(Path(sys.executable).with_name("ultra-llm")), "ps"],
            stdout=secondary,
            stderr=subprocess.PIPE,
            env={**os.environ},
            timeout=60,
            check=False,
        )
        os.close(secondary)
        secondary = -1
        shown = b""
        while True:
            try:
                data = os.read(main, 4096)
            except OSError:
                break
            if not data:
                break
            shown += data
    finally:
        if secondary != -1:
            os.close(secondary)
        os.close(main)
    assert done.returncode == 0, done.stderr
    assert b"\x1b" not in shown and b"\x07" not in shown
    assert b"ai/evil\\x1b]0;pwned\\x07\\x1b[31m:latest" in shown


def test_bad_settings_are_refused_even_with_no_runner_to_ask(monkeypatch: pytest.MonkeyPatch) -> None:
    """The values are checked before the adapter is made, so a runner that is down does not hide them."""
    from ultra_llm.testing.serve import free_port

    monkeypatch.setenv("ULTRA_LLM_BACKEND", "docker-api")
    monkeypatch.setenv("MODEL_RUNNER_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("ULTRA_LLM_FALLBACK", "none")
    code, out, err = invoke("configure", "tiny", "--keep-alive", "5")
    assert (code, out) == (2, "") and "Keep-alive '5' is not a duration" in err


def test_configure_no_think_sets_the_runners_reasoning_budget(runner: DMRProxy) -> None:
    code, out, err = invoke("configure", "tiny", "--no-think")
    assert (code, err) == (0, "") and out == f"Configured {MODEL}: thinking off.\n"
    assert runner.configs[MODEL] == {"llamacpp": {"reasoning-budget": 0}}
    assert invoke("configure", "tiny", "--think")[0] == 0
    assert runner.configs[MODEL] == {"llamacpp": {"reasoning-budget": -1}}
