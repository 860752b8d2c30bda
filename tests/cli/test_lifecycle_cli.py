"""``ultra-llm ps|preload|unload|configure|inspect|df`` and the context column of ``models``, through
click's CliRunner: on the mock (no lifecycle), on a test backend that manages loaded models (``keeper``,
``tests.core.plugins``), and through the sync adapter.

(The same commands on the docker-api backend against the runner-layout proxy:
``plugins/ultra-llm-docker-api/tests/test_lifecycle_cli_runner.py``.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.core.plugins import KEEPER_MODEL, KeeperBackend, KeeperPlugin, KeeperState, install_keeper
from ultra_llm._cli.app import build_cli
from ultra_llm._host import get_host

MODEL = KEEPER_MODEL


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_cli(), list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def keeper(monkeypatch: pytest.MonkeyPatch) -> Iterator[KeeperState]:
    """The keeper backend selected, with a fresh state (``lab/tiny:latest`` on disk, nothing loaded)."""
    state = KeeperState()
    monkeypatch.setattr(KeeperBackend, "state", state)
    get_host().register(KeeperPlugin(), name="keeper")
    monkeypatch.setenv("ULTRA_LLM_BACKEND", "keeper")
    monkeypatch.setenv("ULTRA_LLM_FALLBACK", "none")
    yield state


@pytest.mark.parametrize(
    "args",
    [
        ("ps",),
        ("preload", "mock/echo"),
        ("unload", "--all"),
        ("configure", "mock/echo", "--context-size", "8"),
        ("df",),
    ],
)
def test_the_mock_has_no_lifecycle_and_says_what_to_do(args: tuple[str, ...]) -> None:
    code, out, err = invoke(*args)
    assert code == 1 and out == ""
    assert "UnsupportedOperation" not in err and "does not manage loaded models" in err
    assert "Fix: Select a backend that does (`-b NAME`, ULTRA_LLM_BACKEND): `ultra-llm backends --json`" in err
    assert len(err.strip().splitlines()) == 1


def test_configure_409_names_unload_then_unload_flag_does_both(keeper: KeeperState) -> None:
    code, out, err = invoke("configure", "tiny", "--context-size", "1024", "--keep-alive", "10m")
    assert code == 0 and out == f"Configured {MODEL}: context size 1024, keep-alive 10m.\n"
    code, out, _ = invoke("ps", "--json")
    assert [row["name"] for row in json.loads(out)] == [MODEL]
    keeper.hold(MODEL)  # another user's request in flight
    code, out, err = invoke("configure", "tiny", "--context-size", "2048")
    assert code == 8 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"`ultra-llm unload {MODEL}`" in lines[0] and "--unload" in lines[0]
    assert keeper.configs[MODEL]["context_size"] == 1024  # nothing changed, nothing unloaded
    assert MODEL in keeper.loaded
    code, out, err = invoke("configure", "tiny", "--context-size", "2048", "--unload")
    assert code == 8 and "retry once it is done" in err  # the server unloads no busy model
    keeper.hold(MODEL, busy=False)
    code, out, err = invoke("configure", "tiny", "--context-size", "2048", "--unload")
    assert code == 0, err
    assert keeper.calls[-2:] == ["unload", "configure"]
    code, out, _ = invoke("inspect", "tiny", "--json")
    assert json.loads(out)["context_window"] == 2048


def test_backend_option_selects_like_the_other_commands(keeper: KeeperState) -> None:
    assert invoke("ps", "--backend", "keeper") == (0, "MODEL  ENGINE  MODE  UNTIL\n", "")
    code, _, err = invoke("ps", "--backend", "mock")
    assert code == 1 and "Backend 'mock' cannot list loaded models: it does not manage loaded models" in err


def test_ps_unload_all_inspect_df_and_models(keeper: KeeperState) -> None:
    keeper.add_local("lab/other")
    assert invoke("preload", "tiny") == (0, f"Loaded {MODEL}.\n", "")
    assert invoke("preload", "other")[0] == 0
    code, out, _ = invoke("ps")
    header, *rows = out.splitlines()
    assert header.split() == ["MODEL", "ENGINE", "MODE", "UNTIL"] and len(rows) == 2
    assert rows[0].split()[:3] == [MODEL, "test-engine", "completion"] and rows[0].endswith("minutes from now")
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
def test_bad_input_is_one_line_before_any_request(keeper: KeeperState, args: tuple[str, ...], message: str) -> None:
    code, out, err = invoke(*args)
    assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1
    assert keeper.calls == []


def test_the_sync_adapter_wraps_the_lifecycle(keeper: KeeperState) -> None:
    from ultra_llm import create_adapter_sync

    with create_adapter_sync() as llm:
        assert llm.preload("tiny") == MODEL
        assert [m.name for m in llm.running_models()] == [MODEL]
        assert llm.unload(["tiny"]) == 1
        assert llm.inspect("tiny").context_window == 2048
        assert llm.disk_usage().engine_bytes == keeper.engine_disk_usage


def test_server_text_is_shown_not_obeyed_on_a_terminal(tmp_path: Path) -> None:
    """A model name the server reports with escape sequences reaches a terminal as visible text."""
    import os
    import pty
    import subprocess
    import sys

    site = tmp_path / "site"
    site.mkdir()
    install_keeper(site, loaded=["lab/evil\x1b]0;pwned\x07\x1b[31m:latest"])
    main, secondary = pty.openpty()
    try:
        done = subprocess.run(
            [str(Path(sys.executable).with_name("ultra-llm")), "ps"],
            stdout=secondary,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(site), "ULTRA_LLM_BACKEND": "keeper", "ULTRA_LLM_FALLBACK": "none"},
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
    assert b"lab/evil\\x1b]0;pwned\\x07\\x1b[31m:latest" in shown


def test_bad_settings_are_refused_even_with_no_server_to_ask(keeper: KeeperState) -> None:
    """The values are checked before the adapter is made, so a server that is down does not hide them."""
    keeper.available = False
    assert invoke("ps")[0] == 3  # down, and no fallback: BackendUnavailableError's exit status
    code, out, err = invoke("configure", "tiny", "--keep-alive", "5")
    assert (code, out) == (2, "") and "Keep-alive '5' is not a duration" in err


def test_inspect_works_on_every_backend_from_its_listing() -> None:
    """The mock manages no loaded models, but it can describe the models it lists."""
    code, out, _ = invoke("inspect", "mock/echo")
    assert code == 0 and "context window  4096" in out and "tools           yes" in out
    assert invoke("inspect", "mock/nothing-like-it")[0] == 4  # ModelNotFoundError's exit status


def test_backends_lists_what_each_declares() -> None:
    code, out, _ = invoke("backends")
    header, *rows = out.splitlines()
    mock_row = next(row for row in rows if row.split()[:2] == ["*", "mock"])
    assert code == 0 and "FEATURES" in header.split()
    assert "tools,schema,images,reasoning,embed,store" in mock_row.split() and "lifecycle" not in mock_row


def test_configure_no_think_sets_the_models_thinking(keeper: KeeperState) -> None:
    code, out, err = invoke("configure", "tiny", "--no-think")
    assert (code, err) == (0, "") and out == f"Configured {MODEL}: thinking off.\n"
    assert keeper.configs[MODEL] == {"think": False}
    assert invoke("configure", "tiny", "--think")[0] == 0
    assert keeper.configs[MODEL] == {"think": True}
