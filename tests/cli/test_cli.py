"""The ``ultra-llm`` CLI, through click's CliRunner and through a real subprocess of the console script."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.core.plugins import BROKEN_PLUGINS, OnlineBackend, install_distribution
from ultra_llm._cli.app import build_cli
from ultra_llm._host import get_host, reset_host
from ultra_llm.plugin import hookimpl
from ultra_llm.testing.waiting import until

CONSOLE_SCRIPT = Path(sys.executable).with_name("ultra-llm")


class Picker:
    """A plugin whose ``ultra_llm_select_backend`` chooses ``name``, saying ``PICK=name`` chose it."""

    def __init__(self, name: str) -> None:
        self.name = name

    @hookimpl
    def ultra_llm_select_backend(self, config: object) -> tuple[str, str]:
        return self.name, f"PICK={self.name}"


def invoke(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_cli(), list(args), input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_generate_answers_out_of_the_box() -> None:
    code, out, _ = invoke("generate", "hello")
    assert code == 0 and "mock response" in out and out.endswith("hello\n")


def test_generate_stream_prints_the_same_text() -> None:
    whole = invoke("generate", "-m", "mock/echo", "one two three")[1]
    streamed = invoke("generate", "--stream", "-m", "mock/echo", "one two three")[1]
    assert whole == streamed == "one two three\n"


@pytest.mark.parametrize("prompt", ["--help", "-x", "-", "--"])
def test_prompts_starting_with_a_dash_via_stdin_and_double_dash(prompt: str) -> None:
    assert invoke("generate", "-m", "mock/echo", "-", input=prompt)[1] == f"{prompt}\n"
    if prompt not in ("-",):
        assert invoke("generate", "-m", "mock/echo", "--", prompt)[1] == f"{prompt}\n"


def test_megabyte_prompt_from_stdin() -> None:
    prompt = "word " * 200_000
    code, out, _ = invoke("generate", "-m", "mock/echo", "-o", "max_tokens=3", "-", input=prompt)
    assert code == 0 and out == "word word word \n"


def test_options_and_json_output() -> None:
    code, out, _ = invoke("generate", "-m", "mock/echo", "-o", "max_tokens=2", "-o", "temperature=0", "--json", "a b c")
    data = json.loads(out)
    assert code == 0 and data["text"] == "a b " and data["finish_reason"] == "length" and data["backend"] == "mock"


def test_unsupported_option_is_one_line_and_exit_2() -> None:
    code, out, err = invoke("generate", "-o", "mirostat=2", "hi")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("Error: ") and "mirostat" in err and "Fix:" in err


def test_malformed_option_pair() -> None:
    code, _, err = invoke("generate", "-o", "temperature", "hi")
    assert code == 2 and "key=value" in err


def test_plugins_json_lists_distribution_version_hooks() -> None:
    code, out, _ = invoke("plugins", "--json")
    records = {r["name"]: r for r in json.loads(out)}
    assert code == 0
    assert records["mock"]["distribution"] == "ultra-llm-mock" and records["mock"]["version"]
    assert records["mock"]["hooks"] == ["ultra_llm_register_backends"] and records["mock"]["backends"] == ["mock"]


def test_backends_shows_selection_and_reason() -> None:
    code, out, _ = invoke("backends", "--json")
    data = json.loads(out)
    assert code == 0 and data["selection"]["serving"] == "mock"
    assert "stand-in 'mock'" in data["selection"]["reason"]
    assert [b["name"] for b in data["backends"] if b["selected"]] == ["mock"]
    get_host().register(Picker("nowhere"), name="picker")  # a plugin's choice that nothing registers
    data = json.loads(invoke("backends", "--json")[1])
    assert data["selection"]["requested"] == "nowhere" and data["selection"]["serving"] == "mock"
    assert data["selection"]["reason"] == "PICK=nowhere (plugin 'picker')"
    assert "not installed" in data["selection"]["fallback_reason"]


def test_config_shows_values_and_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFAULT_MODEL", "ai/llama3.2")
    code, out, _ = invoke("config", "--json")
    core = {row["variable"]: row for row in json.loads(out)["core"]}
    assert code == 0 and core["DEFAULT_MODEL"]["value"] == "ai/llama3.2"
    assert core["DEFAULT_MODEL"]["source"] == "environment (DEFAULT_MODEL)"


def test_bad_configuration_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_TIMEOUT", "soon")
    code, _, err = invoke("generate", "hi")
    assert code == 2 and "ULTRA_LLM_TIMEOUT='soon'" in err and "Traceback" not in err


def test_a_chosen_name_no_backend_answers_to_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    get_host().register(Picker("grpc"), name="picker")
    monkeypatch.setenv("ULTRA_LLM_FALLBACK", "none")
    code, _, err = invoke("generate", "hi")
    assert code == 2 and "No installed backend answers to 'grpc'" in err and "PICK=grpc" in err
    assert "Traceback" not in err


def test_models_pull_rm_embed() -> None:
    code, out, _ = invoke("models", "--json")
    assert code == 0 and {m["name"] for m in json.loads(out)} == {"mock/echo", "mock/fixed", "mock/default"}
    code, out, err = invoke("pull", "mock/new")
    assert code == 0 and "Pulled mock/new" in out and "100.0%" in err
    code, out, _ = invoke("embed", "alpha", "beta")
    assert code == 0 and len(json.loads(out)["vectors"]) == 2


def test_doctor_passes_on_mock_and_fails_with_the_fix() -> None:
    code, out, _ = invoke("doctor", "--smoke")
    assert code == 0 and "All checks passed" in out and "[ok  ] stream" in out
    code, out, _ = invoke("doctor", "--backend", "nonesuch")
    assert code == 1 and "FAIL" in out and "fix:" in out


def test_debug_shows_the_traceback_with_the_same_exit_status() -> None:
    result = CliRunner().invoke(build_cli(), ["--debug", "generate", "-o", "bad=1", "hi"])
    assert result.exit_code == 2 and result.stderr.startswith("Traceback (most recent call last):")
    assert "ultra_llm.errors.InvalidOptionsError: " in result.stderr


class NoLayer:
    """A plugin implementing ``ultra_llm_middleware`` (adding no layer), so the hook has a caller to trace
    whatever else is installed."""

    @hookimpl
    def ultra_llm_middleware(self, backend: object) -> None:
        return None


def test_trace_hooks_prints_hook_calls() -> None:
    get_host().register(NoLayer(), name="no-layer")
    code, _, err = invoke("--trace-hooks", "generate", "hi")
    assert code == 0, err
    for hook, plugin in (("ultra_llm_register_backends", "mock"), ("ultra_llm_middleware", "no-layer")):
        assert f"[ultra-llm hooks]   {hook} (plugin '{plugin}') [hook]" in err, err  # each call names its plugin
    assert "[ultra-llm hooks]   finish ultra_llm_middleware (plugin 'no-layer') --> [] [hook]" in err, err


class Squatting:
    """Registers its backend ``online`` with the mock's name as an alias, after the mock loaded."""

    @hookimpl
    def ultra_llm_register_backends(self, register: Any) -> None:
        register("online", OnlineBackend, aliases=["mock"])


def test_backends_marks_a_name_two_plugins_register() -> None:
    get_host().register(Squatting(), name="squatting")
    code, out, err = invoke("backends")
    assert code == 0, err
    table = out.split("\n\n")[0].splitlines()[1:]
    marks = {line.split()[1]: line.split()[0] for line in table if line.startswith(("!", "*!"))}
    assert marks == {"mock": "*!", "online": "!"}, out  # the mock serves, as the stand-in, and keeps its name
    assert "! mock: 'mock' also registered by plugin 'squatting' (an alias of its backend 'online'), left out" in out
    assert "! online: alias 'mock' taken by plugin 'mock' (backend 'mock')" in out
    rows = {row["name"]: row for row in json.loads(invoke("backends", "--json")[1])["backends"]}
    assert rows["online"]["conflicts"] == ["alias 'mock' taken by plugin 'mock' (backend 'mock')"]
    assert rows["mock"]["conflicts"] and rows["mock"]["plugin"] == "mock"


LATE_FAILURES = {
    "late_middleware": """
from ultra_llm.plugin import hookimpl


class SyncGenerate:
    def generate(self, request, call_next):  # no async def
        return call_next(request)


@hookimpl
def ultra_llm_middleware(backend):
    return SyncGenerate()
""",
    "late_models": """
from ultra_llm.plugin import hookimpl


@hookimpl
def ultra_llm_register_models(backend, register):
    raise RuntimeError("no catalogue")
""",
    "unmarked_hook": """
def ultra_llm_register_backends(register):  # no @hookimpl
    register("never", "nowhere:Backend")
""",
}
"""Plugins that load, then fail in a hook called later (or define a hook pluggy never calls)."""


@pytest.fixture
def late_failures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for module, source in LATE_FAILURES.items():
        install_distribution(tmp_path, module, source)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for module in LATE_FAILURES:
        sys.modules.pop(module, None)


def statuses(listing: str) -> dict[str, str]:
    """``ultra-llm plugins``'s table: each plugin's status by name."""
    return {line.split()[0]: line.split()[3] for line in listing.split("\n  ")[0].splitlines()[1:]}


def test_plugins_and_doctor_show_a_plugin_failing_in_a_later_hook(late_failures: None) -> None:
    code, out, err = invoke("plugins")  # runs each plugin's model hook; middleware needs a backend built
    assert code == 0
    assert statuses(out)["late_models"] == "failed" and statuses(out)["mock"] == "loaded"
    assert statuses(out)["late_middleware"] == statuses(out)["unmarked_hook"] == "loaded"
    assert "  late_models: ultra_llm_register_models failed: RuntimeError: no catalogue" in out
    assert "  unmarked_hook: Plugin 'unmarked_hook' defines ultra_llm_register_backends without @hookimpl" in out
    assert "`ultra-llm doctor` checks it" in out
    assert err.count("Warning: Plugin 'late_models'") == 1  # (the load's warnings come before the CLI's logging)
    records = {r["name"]: r for r in json.loads(invoke("plugins", "--json")[1])}
    assert records["late_models"]["status"] == "failed" and "no catalogue" in records["late_models"]["error"]
    assert "without @hookimpl" in records["unmarked_hook"]["warnings"][0]
    reset_host()  # a new process: nothing has failed yet
    code, out, err = invoke("doctor")
    assert code == 0, out
    middleware_failed = "ultra_llm_middleware failed: TypeError: SyncGenerate.generate must be an `async def` method"
    warned = next(line for line in out.splitlines() if line.startswith("[warn] plugin hooks on backend 'mock'"))
    # "middleware from: ..." names whatever other installed plugins give middleware (the example's, in CI)
    assert warned.endswith(
        f"; failed: late_middleware ({middleware_failed}), late_models (ultra_llm_register_models failed: "
        "RuntimeError: no catalogue)"
    ), warned
    assert "skip it with ULTRA_LLM_DISABLE_PLUGINS=late_middleware,late_models." in out
    assert "All checks passed" not in out and "All required checks passed, with 1 warning(s) above." in out
    assert err.count("Warning: Plugin 'late_middleware'") == 1
    code, out, _ = invoke("plugins")  # the same process (a server's): the middleware's failure shows
    assert statuses(out)["late_middleware"] == "failed" and f"  late_middleware: {middleware_failed}" in out


# -- through a real process of the console script ---------------------------------------------------


def run_script(
    *args: str, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *args],
        capture_output=True,
        text=True,
        input=input,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_console_script_generates() -> None:
    done = run_script("generate", "--stream", "hello")
    assert done.returncode == 0 and "mock response" in done.stdout and done.stderr == ""


def test_console_script_reports_broken_plugins_installed_beside(tmp_path: Path) -> None:
    for module, source in BROKEN_PLUGINS.items():
        install_distribution(tmp_path, module, source)
    env = {"PYTHONPATH": str(tmp_path)}
    listed = run_script("plugins", env=env)
    assert listed.returncode == 0
    for module in BROKEN_PLUGINS:
        line = next(line for line in listed.stdout.splitlines() if line.startswith(f"{module} "))
        assert line.split()[3] == "failed", listed.stdout
    assert "mock" in listed.stdout
    answered = run_script("generate", "hello", env=env)
    assert answered.returncode == 0 and "mock response" in answered.stdout
    for said in (listed.stderr, answered.stderr):  # each command warns once per broken plugin, with the way out
        warned = sorted(line.split("'")[1] for line in said.splitlines() if line.startswith("Warning: Plugin '"))
        assert warned == sorted(BROKEN_PLUGINS), said
        assert "boom at import" in said and f"ULTRA_LLM_DISABLE_PLUGINS={next(iter(BROKEN_PLUGINS))}" in said
    strict = run_script("generate", "hello", env={**env, "ULTRA_LLM_STRICT_PLUGINS": "1"})
    assert strict.returncode == 7 and strict.stderr.startswith("Error: Plugin") and "Traceback" not in strict.stderr


READY_MARKER = """
import asyncio, os

_wait = asyncio.Event.wait


async def _marked(self):
    open(os.environ["ULTRA_LLM_TEST_READY"], "w").close()
    return await _wait(self)


asyncio.Event.wait = _marked
"""
"""A ``sitecustomize`` for the child: the first ``asyncio.Event.wait`` (the hanging mock's, inside the
command's event loop) creates the file ``ULTRA_LLM_TEST_READY`` names."""


def test_ctrl_c_leaves_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(READY_MARKER)
    ready = tmp_path / "ready"
    process = subprocess.Popen(
        [str(CONSOLE_SCRIPT), "generate", "hello"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "ULTRA_LLM_MOCK_FAULT": "hang",
            "ULTRA_LLM_TEST_READY": str(ready),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])),
        },
    )
    try:
        # SIGINT once the command waits inside its event loop, not after a guessed time
        assert until(lambda: ready.exists() or process.poll() is not None, within=30), "never started waiting"
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert "Interrupted" in err and "Traceback" not in err


def test_generate_batch_is_the_batch_command(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("first prompt\nsecond\n")
    code, out, err = invoke("generate", "--batch", str(prompts), "-m", "mock/echo", "-c", "2")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [row["result"]["text"] for row in rows] == ["first prompt", "second"]
    assert "2/2" in err
    code, _, err = invoke("generate")
    assert code == 2 and "PROMPT or --batch" in err


def test_plugins_add_commands_through_the_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    import click

    from ultra_llm._host import get_host
    from ultra_llm.plugin import hookimpl

    class Commands:
        @hookimpl
        def ultra_llm_register_commands(self, cli):  # type: ignore[no-untyped-def]
            @click.command()
            def hello() -> None:
                click.echo("hello from a plugin")

            cli.add_command(hello)

    class Clashing:
        @hookimpl
        def ultra_llm_register_commands(self, cli):  # type: ignore[no-untyped-def]
            cli.add_command(click.Command("generate", callback=lambda: None))

    host = get_host()
    host.register(Commands(), name="commands")
    host.register(Clashing(), name="clashing")
    code, out, _ = invoke("hello")
    assert code == 0 and out == "hello from a plugin\n"
    assert "already taken" in (host.records["clashing"].error or "")
    assert invoke("generate", "-m", "mock/echo", "still mine")[1] == "still mine\n"


def test_a_command_replaced_by_decorator_is_refused_and_restored() -> None:
    import click

    from ultra_llm._host import get_host
    from ultra_llm.plugin import hookimpl

    class Decorating:
        @hookimpl
        def ultra_llm_register_commands(self, cli):  # type: ignore[no-untyped-def]
            @cli.command(name="extra")
            def extra() -> None:
                click.echo("extra")

            @cli.command(name="generate")  # click's decorator bypasses add_command
            def generate() -> None:
                click.echo("hijacked")

    host = get_host()
    host.register(Decorating(), name="decorating")
    code, out, _ = invoke("generate", "-m", "mock/echo", "still mine")
    assert (code, out) == (0, "still mine\n")
    record = host.records["decorating"]
    assert record.status == "failed" and "generate are already taken" in (record.error or "")
    assert invoke("extra")[0] == 2, "the failed plugin's other command is gone too"
    code, out, _ = invoke("plugins", "--json")
    shown = {row["name"]: row for row in json.loads(out)}["decorating"]
    assert shown["status"] == "failed" and "already taken" in shown["error"]


def test_a_plugin_failing_in_a_later_hook_loses_its_commands_and_middleware() -> None:
    """Failure means one thing: the plugin's command added at CLI build time goes when its
    ultra_llm_register_backends raises later, and its middleware never runs."""
    import click

    from ultra_llm._host import get_host
    from ultra_llm._middleware import Middleware
    from ultra_llm.plugin import hookimpl

    ran: list[str] = []

    class Spy(Middleware):
        async def generate(self, request, call_next):  # type: ignore[no-untyped-def]
            ran.append("spy")
            return await call_next(request)

    class LateFailure:
        @hookimpl
        def ultra_llm_register_commands(self, cli):  # type: ignore[no-untyped-def]
            cli.add_command(click.Command("late", callback=lambda: click.echo("late")))

        @hookimpl
        def ultra_llm_register_backends(self, register):  # type: ignore[no-untyped-def]
            raise RuntimeError("registry bug")

        @hookimpl
        def ultra_llm_middleware(self):  # type: ignore[no-untyped-def]
            return Spy()

    host = get_host()
    host.register(LateFailure(), name="late-failure")
    cli = build_cli()
    assert "late" in cli.commands
    result = CliRunner().invoke(cli, ["generate", "-m", "mock/echo", "hi"])
    assert (result.exit_code, result.stdout) == (0, "hi\n")
    assert "late" not in cli.commands and ran == []
    record = host.records["late-failure"]
    assert record.status == "failed" and "registry bug" in (record.error or "")
    assert not host.pm.has_plugin("late-failure")


def test_a_stream_failing_midway_ends_its_line_then_one_error_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_FAULT", "fail-midstream")
    code, out, err = invoke("generate", "--stream", "-m", "mock/echo", "a b c d")
    assert code == 6 and out == "a b \n"
    assert err.startswith("Error: ") and err.count("\n") == 1 and "Fix:" in err
