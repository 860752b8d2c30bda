"""Model lifecycle on the docker-cli backend, through real subprocesses of the docker double:
``docker model ps|df|unload|configure|inspect|run -d`` and their output read back. The double keeps
the runner's loader state (loaded models, configs) in its state file, rules cited in ``fake_docker``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from click.testing import CliRunner
from ultra_llm_docker.errors import ModelRunnerNotEnabledError
from ultra_llm_docker.testing.double.fixtures import DockerDouble
from ultra_llm_docker_cli.backend import DockerCLIBackend

from ultra_llm._cli.app import build_cli
from ultra_llm._lifecycle import ModelSettings
from ultra_llm.errors import (
    InvalidModelNameError,
    InvalidOptionsError,
    ModelLoadedError,
    ModelNotFoundError,
    UnsupportedOperationError,
)

MODEL = "ai/smollm2:latest"


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def argvs(double: DockerDouble) -> list[list[str]]:
    """Every docker invocation's argv (the double's ``invocation_log`` records ``run`` only)."""
    return [call["argv"] for call in double.invocations()]


def test_configure_busy_409_then_unload_then_configure_then_ps(
    docker_double: DockerDouble, cli_backend: DockerCLIBackend
) -> None:
    async def scenario() -> None:
        assert await cli_backend.running_models() == []
        await cli_backend.configure("smollm2", ModelSettings(context_size=4096, keep_alive="10m"))
        loaded = await cli_backend.running_models()  # the runner preloads after configure
        assert [(m.name, m.engine, m.mode) for m in loaded] == [(MODEL, "llama.cpp", "completion")]
        assert loaded[0].until in ("9 minutes from now", "10 minutes from now")
        assert (await cli_backend.inspect("smollm2")).context_window == 4096
        state = docker_double.state
        state["loaded"][MODEL]["in_use"] = 1  # another client's request in flight
        docker_double.set(loaded=state["loaded"])
        with pytest.raises(ModelLoadedError) as caught:
            await cli_backend.configure("smollm2", ModelSettings(context_size=2048))
        assert "runner already active" in caught.value.message
        assert f"`ultra-llm unload {MODEL}`" in caught.value.fix
        assert await cli_backend.unload(["smollm2"]) == 0  # a busy runner stays loaded
        state["loaded"][MODEL]["in_use"] = 0
        docker_double.set(loaded=state["loaded"])
        assert await cli_backend.unload(["smollm2"]) == 1
        assert await cli_backend.running_models() == []
        await cli_backend.configure("smollm2", ModelSettings(context_size=2048))
        assert (await cli_backend.inspect("smollm2")).context_window == 2048
        assert [m.name for m in await cli_backend.running_models()] == [MODEL]
        await cli_backend.aclose()

    run(scenario())
    assert docker_double.state["configs"][MODEL] == {"context-size": 2048}


def test_preload_is_run_detached_and_unload_all_counts(
    docker_double: DockerDouble, cli_backend: DockerCLIBackend
) -> None:
    docker_double.add_model("ai/gemma3:latest", context_size=None)

    async def scenario() -> None:
        await cli_backend.preload(MODEL)
        await cli_backend.preload("gemma3")
        assert {m.name for m in await cli_backend.running_models()} == {MODEL, "ai/gemma3:latest"}
        assert await cli_backend.unload(all=True) == 2
        assert await cli_backend.unload(all=True) == 0
        await cli_backend.aclose()

    run(scenario())
    assert ["model", "run", "-d", MODEL] in argvs(docker_double)


def test_preload_of_a_model_not_there_does_not_pull_with_auto_pull_off(docker_double: DockerDouble) -> None:
    from ultra_llm_docker.testing.double.cli_backend import make_backend

    backend = make_backend(auto_pull=False)
    with pytest.raises(ModelNotFoundError):
        run(backend.preload("ai/gemma3"))
    assert argvs(docker_double) == []


def test_inspect_df_and_the_listing_context(docker_double: DockerDouble, cli_backend: DockerCLIBackend) -> None:
    docker_double.add_model("ai/gemma3:latest", context_size=None, size="2.31 GiB")

    async def scenario() -> None:
        info = await cli_backend.inspect("smollm2")
        assert info.context_window == 8192 and info.details["architecture"] == "llama"
        assert (await cli_backend.inspect("gemma3")).context_window is None  # not packaged: not known
        listed = {m.name: m.context_window for m in await cli_backend.list_models()}
        assert listed == {MODEL: 8192, "ai/gemma3:latest": None}
        usage = await cli_backend.disk_usage()
        assert usage.shown[0][0] == "Models" and usage.engine_bytes == 48_000_000
        assert usage.models_bytes is not None and usage.models_bytes > 2_000_000_000
        with pytest.raises(ModelNotFoundError):
            await cli_backend.inspect("ai/absent")
        with pytest.raises(ModelNotFoundError):  # the runner would take it: inspect first
            await cli_backend.configure("ai/typo", ModelSettings(keep_alive="-1"))
        await cli_backend.aclose()

    run(scenario())
    assert "ai/typo:latest" not in docker_double.state.get("configs", {})


def test_a_keep_alive_of_minus_one_is_never_taken_for_a_flag(
    docker_double: DockerDouble, cli_backend: DockerCLIBackend
) -> None:
    run(cli_backend.configure(MODEL, ModelSettings(keep_alive="-1", context_size=-1)))
    assert docker_double.state["configs"][MODEL] == {"context-size": -1, "keep_alive": "-1"}
    rows = run(cli_backend.running_models())
    assert rows[0].until == "Forever"


@pytest.mark.parametrize("name", ["-d", "--all", "-rf", "--help"])
def test_a_model_starting_with_a_dash_never_reaches_docker(
    docker_double: DockerDouble, cli_backend: DockerCLIBackend, name: str
) -> None:
    for call in (
        lambda: cli_backend.preload(name),
        lambda: cli_backend.unload([name]),
        lambda: cli_backend.inspect(name),
        lambda: cli_backend.configure(name, ModelSettings(context_size=8)),
    ):
        with pytest.raises(InvalidModelNameError):
            run(call())
    assert docker_double.state.get("configs", {}) == {} and argvs(docker_double) == []


def test_a_cli_without_the_commands_is_unsupported(docker_double: DockerDouble, cli_backend: DockerCLIBackend) -> None:
    docker_double.set(missing_commands=["ps"])  # a CLI plugin from before `ps`
    with pytest.raises(UnsupportedOperationError) as caught:
        run(cli_backend.running_models())
    assert "Update Docker Desktop" in caught.value.fix and 'unknown command "ps"' in caught.value.message


def test_a_runner_that_is_not_running_is_typed(docker_double: DockerDouble, cli_backend: DockerCLIBackend) -> None:
    docker_double.set(runner="disabled")
    for call in (cli_backend.running_models, cli_backend.disk_usage, lambda: cli_backend.unload(all=True)):
        with pytest.raises(ModelRunnerNotEnabledError):
            run(call())


def test_cli_commands_on_the_docker_double(docker_double: DockerDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USE_MODEL_RUNNER", "true")
    monkeypatch.setenv("ULTRA_LLM_FALLBACK", "none")

    def invoke(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(build_cli(), list(args))
        return result.exit_code, result.stdout, result.stderr

    assert invoke("configure", "smollm2", "--context-size", "4096")[0] == 0
    docker_double.set(loaded={MODEL: {"engine": "llama.cpp", "mode": "completion", "in_use": 1, "last_used": 1}})
    code, out, err = invoke("configure", "smollm2", "--context-size", "2048")
    assert code == 8 and out == "" and f"`ultra-llm unload {MODEL}`" in err and len(err.strip().splitlines()) == 1
    docker_double.set(loaded={MODEL: {"engine": "llama.cpp", "mode": "completion", "in_use": 0, "last_used": 1}})
    code, out, err = invoke("configure", "smollm2", "--context-size", "2048", "--unload")
    assert code == 0, err
    assert docker_double.state["configs"][MODEL] == {"context-size": 2048}
    code, out, _ = invoke("ps", "--json")
    assert [row["name"] for row in json.loads(out)] == [MODEL]
    code, out, _ = invoke("inspect", "smollm2", "--json")
    assert json.loads(out)["context_window"] == 2048
    assert invoke("unload", "--all") == (0, "Unloaded 1 model(s).\n", "")
    code, out, _ = invoke("inspect", "smollm2", "--json")  # --all forgets every configuration (loader.go:313)
    assert json.loads(out)["context_window"] == 8192
    code, out, _ = invoke("models")
    assert out.splitlines()[0].split()[-1] == "CONTEXT" and "8192" in out
    code, out, err = invoke("configure", "smollm2", "--keep-alive", "soon")
    assert code == 2 and "is not a duration" in err


def test_bad_settings_are_refused_before_docker_runs(docker_double: DockerDouble) -> None:
    with pytest.raises(InvalidOptionsError):
        ModelSettings(context_size=-5)
    assert argvs(docker_double) == []


@pytest.mark.parametrize(("think", "budget"), [(True, -1), (False, 0)])
def test_think_is_the_runners_reasoning_budget(
    docker_double: DockerDouble, cli_backend: DockerCLIBackend, think: bool, budget: int
) -> None:
    """``--think=true|false`` as the runner's CLI takes it (configure_flags.go:148,233-243)."""
    run(cli_backend.configure(MODEL, ModelSettings(think=think)))
    assert docker_double.state["configs"][MODEL] == {"llamacpp": {"reasoning-budget": budget}}
