"""The adapter owns every deadline of a docker-cli call (``ultra_llm._deadline``): through the real
adapter on the docker double, a late first token and a slow answer end in the adapter's one wording
(quoting what docker-cli said it waited for), a call's own ``timeout=`` works, and the ``docker``
process is gone after each. docker-cli's own limits are named settings (``list_timeout``,
``control_timeout``, ``pull_idle_timeout``), cut shorter by the call's deadline; a pull has no total.
"""

from __future__ import annotations

import asyncio
import stat
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from ultra_llm_docker.testing.double.cli_backend import alive, children, run_pids
from ultra_llm_docker.testing.double.fixtures import DockerDouble
from ultra_llm_docker_cli.settings import DockerCLISettings

from ultra_llm import create_adapter
from ultra_llm._adapter import Adapter
from ultra_llm._types import Progress
from ultra_llm.errors import GenerationTimeoutError

T = TypeVar("T")

RUN = "`docker model run ai/smollm2:latest`"


async def through_adapter(
    call: Callable[[Adapter], Awaitable[T]], settings: dict[str, Any] | None = None, **config: Any
) -> T:
    """``call`` on a real adapter over docker-cli (``config``: ``UltraConfig`` fields; ``settings``:
    the backend's), closed after."""
    adapter = await create_adapter("smollm2", backend="docker-cli", settings=settings, **config)
    try:
        return await call(adapter)
    finally:
        await adapter.aclose()


def run(call: Callable[[Adapter], Awaitable[T]], settings: dict[str, Any] | None = None, **config: Any) -> T:
    return asyncio.run(through_adapter(call, settings, **config))


async def streamed(llm: Adapter, prompt: str = "hi", **options: Any) -> str:
    return "".join([text async for text in llm.stream_generate(prompt, **options)])


def in_the_adapters_words(message: str, what: str, seconds: float, why: str) -> bool:
    """Whether ``message`` is the adapter's error for a management call's deadline passing, quoting
    ``why`` (docker-cli's reason; its start, when it ends in a progress line): "WHAT on backend
    'docker-cli' took longer than N s (WHY).", never docker-cli's own "did not finish within" of a
    setting's limit."""
    total = f"{what} on backend 'docker-cli' took longer than {seconds:g} s ({why}"
    return message.startswith(total) and "did not finish within" not in message


def no_process_left(double: DockerDouble) -> bool:
    return not any(alive(pid) for pid in run_pids(double)) and children() == []


# -- the first token and the total: the adapter's one wording --------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_late_first_token_is_the_adapters_error_quoting_docker_cli(docker_double: DockerDouble, stream: bool) -> None:
    docker_double.set(first_token_delay=8)

    async def call(llm: Adapter) -> str:
        return await (streamed(llm) if stream else llm.generate("hi"))

    started = time.monotonic()
    with pytest.raises(GenerationTimeoutError) as caught:
        run(call, first_token_timeout=1.5)  # the presence check (`docker model list`) well inside it
    assert time.monotonic() - started < 4.5, "ended at the deadline, not at the double's first token"
    assert caught.value.message == (
        "No answer from backend 'docker-cli' within the 1.5 s first-token timeout (ULTRA_LLM_FIRST_TOKEN_TIMEOUT): "
        f"{RUN} has printed nothing yet."
    )
    assert caught.value.timeout == 1.5 and caught.value.backend == "docker-cli"
    assert no_process_left(docker_double)


def test_the_first_token_error_says_the_auto_pull_is_what_it_waits_for(docker_double: DockerDouble) -> None:
    """With auto-pull, the pull before `run` is inside the first-token deadline: the error quotes the
    pull's last progress line, and the pull is killed."""
    docker_double.set(pull_steps=5, pull_hang_after=1)

    async def call(llm: Adapter) -> str:
        return await llm.generate("hi", model="ai/gemma3")

    with pytest.raises(GenerationTimeoutError) as caught:
        run(call, {"auto_pull": True}, first_token_timeout=1.5)
    message = caught.value.message
    assert message.startswith(
        "No answer from backend 'docker-cli' within the 1.5 s first-token timeout (ULTRA_LLM_FIRST_TOKEN_TIMEOUT): "
        '`docker model pull ai/gemma3:latest` is pulling the model, last printed "Downloaded '
    ), message
    assert children() == []


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_slow_answer_passes_the_adapters_total(docker_double: DockerDouble, stream: bool) -> None:
    docker_double.set(fault="hang_after", fault_after=2)

    async def call(llm: Adapter) -> str:
        return await (streamed(llm, "a b c d") if stream else llm.generate("a b c d"))

    with pytest.raises(GenerationTimeoutError) as caught:
        run(call, timeout=1.5)  # the first tokens come at once, well inside it
    assert caught.value.message == "Generation on backend 'docker-cli' took longer than 1.5 s."
    assert caught.value.timeout == 1.5
    assert no_process_left(docker_double)


def test_the_calls_own_timeout_bounds_docker_cli(docker_double: DockerDouble) -> None:
    """``timeout=`` on one call replaces ULTRA_LLM_TIMEOUT: shorter, it ends the run (the error says
    to give the call a longer one); longer, an answer slower than ULTRA_LLM_TIMEOUT arrives whole."""
    docker_double.set(fault="hang_after", fault_after=2)
    with pytest.raises(GenerationTimeoutError) as caught:
        run(lambda llm: llm.generate("a b c d", timeout=1.5))
    assert caught.value.message == "Generation on backend 'docker-cli' took longer than 1.5 s."
    assert "longer timeout" in (caught.value.fix or "")
    assert no_process_left(docker_double)

    docker_double.set(fault=None, token_delay=0.25)  # about 1.5 s in all
    expected = docker_double.expected_answer("a b c d e f", "smollm2")
    assert run(lambda llm: llm.generate("a b c d e f", timeout=30), timeout=0.5) == expected
    assert run(lambda llm: streamed(llm, "a b c d e f", timeout=None), timeout=0.5) == expected


def test_a_timed_out_run_is_killed_at_once(docker_double: DockerDouble) -> None:
    """The process ends when the adapter's deadline passes, not when the double would have answered."""
    docker_double.set(fault="hang")
    with pytest.raises(GenerationTimeoutError):
        run(streamed, first_token_timeout=0.3)
    (pid,) = run_pids(docker_double)
    assert not alive(pid) and children() == []


# -- pulls: no total, an idle limit -----------------------------------------------------------------


def test_a_pull_that_keeps_printing_outlives_a_short_ultra_llm_timeout(docker_double: DockerDouble) -> None:
    docker_double.set(pull_steps=5, pull_delay=0.3)  # 1.5 s in all, never silent for 1 s
    seen: list[Progress] = []
    started = time.monotonic()
    run(lambda llm: llm.pull("ai/gemma3", seen.append), {"pull_idle_timeout": 1.0}, timeout=0.5)
    assert time.monotonic() - started > 1.0, "the pull outlived ULTRA_LLM_TIMEOUT"
    assert len(seen) == 6 and seen[-1].status == "success"
    assert "ai/gemma3:latest" in {t for m in docker_double.models for t in m["tags"]}


def test_a_silent_pull_fails_on_the_idle_setting(docker_double: DockerDouble) -> None:
    docker_double.set(pull_steps=5, pull_hang_after=1)
    seen: list[Progress] = []
    with pytest.raises(GenerationTimeoutError) as caught:
        run(lambda llm: llm.pull("ai/gemma3", seen.append), {"pull_idle_timeout": 0.5}, timeout=60)
    error = caught.value
    assert error.message == (
        "`docker model pull ai/gemma3:latest` printed nothing for 0.5 s (ULTRA_LLM_DOCKER_CLI_PULL_IDLE_TIMEOUT) "
        "and was stopped."
    )
    assert error.timeout == 0.5 and "ULTRA_LLM_DOCKER_CLI_PULL_IDLE_TIMEOUT" in (error.fix or "")
    assert len(seen) == 1 and children() == []


def test_a_pull_given_a_total_ends_there_in_the_adapters_words(docker_double: DockerDouble) -> None:
    docker_double.set(pull_steps=5, pull_hang_after=1)
    with pytest.raises(GenerationTimeoutError) as caught:
        run(lambda llm: llm.pull("ai/gemma3", timeout=1.5), {"pull_idle_timeout": 30})
    why = '`docker model pull ai/gemma3:latest` is pulling the model, last printed "Downloaded '
    assert in_the_adapters_words(caught.value.message, "Pulling", 1.5, why), caught.value.message
    assert children() == []


# -- the backend's named limits, and the call's deadline over them ----------------------------------

_SLOW = """#!{python} -S
import os, sys, time
args = sys.argv[1:]
if tuple(args[:{size}]) == {prefix!r}:
    with open({pid_file!r}, "a") as out:
        out.write(f"{{os.getpid()}}\\n")
    time.sleep({delay})
os.execv({double!r}, [{double!r}, *args])
"""


def slow_docker(double: DockerDouble, *prefix: str, delay: float = 30.0) -> tuple[str, Path]:
    """A ``docker`` that sleeps ``delay`` s before ``docker PREFIX...`` (writing its pid), else is the double."""
    directory = double.bin_dir.parent / "slow"
    directory.mkdir()
    pid_file = directory / "pids"
    script = directory / "docker"
    script.write_text(
        _SLOW.format(
            python=sys.executable,
            size=len(prefix),
            prefix=prefix,
            pid_file=str(pid_file),
            delay=delay,
            double=double.docker,
        )
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script), pid_file


def slow_pids_gone(pid_file: Path) -> bool:
    pids = [int(line) for line in pid_file.read_text().split()]
    return bool(pids) and not any(alive(pid) for pid in pids)


def test_the_limits_are_named_settings_with_the_old_effective_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """10 s and 30 s: what ``check_timeout * 2`` and ``* 6`` came to with the default 5 s check timeout;
    no longer tied to it."""
    settings = DockerCLISettings.load()
    assert (settings.list_timeout, settings.control_timeout, settings.pull_idle_timeout) == (10.0, 30.0, 300.0)
    monkeypatch.setenv("ULTRA_LLM_CHECK_TIMEOUT", "1")
    monkeypatch.setenv("ULTRA_LLM_DOCKER_CLI_LIST_TIMEOUT", "2.5")
    settings = DockerCLISettings.load()
    assert (settings.list_timeout, settings.control_timeout) == (2.5, 30.0)


@pytest.mark.parametrize(
    ("prefix", "call", "setting", "command"),
    [
        (("model", "list"), lambda llm: llm.list_models(), "list_timeout", "docker model list --json"),
        (("model", "ps"), lambda llm: llm.running_models(), "list_timeout", "docker model ps"),
        (("model", "df"), lambda llm: llm.disk_usage(), "list_timeout", "docker model df"),
        (("model", "inspect"), lambda llm: llm.inspect(), "list_timeout", "docker model inspect ai/smollm2:latest"),
        (("model", "rm"), lambda llm: llm.remove("smollm2"), "control_timeout", "docker model rm ai/smollm2:latest"),
        (
            ("model", "unload"),
            lambda llm: llm.unload(all=True),
            "control_timeout",
            "docker model unload --all",
        ),
        (
            ("model", "configure", "--context-size=4096"),
            lambda llm: llm.configure("smollm2", context_size=4096),
            "control_timeout",
            "docker model configure --context-size=4096 ai/smollm2:latest",
        ),
    ],
    ids=["list", "ps", "df", "inspect", "rm", "unload", "configure"],
)
def test_a_slow_command_fails_on_its_named_setting(
    docker_double: DockerDouble, prefix: tuple[str, ...], call: Any, setting: str, command: str
) -> None:
    docker, pid_file = slow_docker(docker_double, *prefix)
    with pytest.raises(GenerationTimeoutError) as caught:
        run(call, {"docker_bin": docker, setting: 0.5}, timeout=60)
    variable = f"ULTRA_LLM_DOCKER_CLI_{setting.upper()}"
    assert caught.value.message == f"`{command}` did not finish within 0.5 s ({variable})."
    assert caught.value.timeout == 0.5 and variable in (caught.value.fix or "")
    assert slow_pids_gone(pid_file) and children() == []


def test_the_calls_deadline_cuts_a_setting_short_in_the_adapters_words(docker_double: DockerDouble) -> None:
    """ULTRA_LLM_TIMEOUT below ``list_timeout``: the listing ends at the call's total, worded by the
    adapter with what docker-cli was waiting for."""
    docker, pid_file = slow_docker(docker_double, "model", "list")
    with pytest.raises(GenerationTimeoutError) as caught:
        run(lambda llm: llm.list_models(), {"docker_bin": docker, "list_timeout": 10}, timeout=0.5)
    why = "`docker model list --json` has not finished yet"
    assert in_the_adapters_words(caught.value.message, "Listing models", 0.5, why), caught.value.message
    assert slow_pids_gone(pid_file) and children() == []


def test_preload_is_bounded_by_the_calls_deadline_alone(docker_double: DockerDouble) -> None:
    """A cold load (`run -d`) has no limit of docker-cli's own: ``preload(timeout=)`` (default
    ULTRA_LLM_TIMEOUT) ends it in the adapter's words; a longer one lets it finish."""
    docker, pid_file = slow_docker(docker_double, "model", "run", "-d", delay=2.5)
    with pytest.raises(GenerationTimeoutError) as caught:
        run(lambda llm: llm.preload(), {"docker_bin": docker}, timeout=1.2)  # the presence check well inside it
    why = "`docker model run -d ai/smollm2:latest` has not finished yet"
    assert in_the_adapters_words(caught.value.message, "Preloading", 1.2, why), caught.value.message
    assert slow_pids_gone(pid_file) and children() == []
    assert run(lambda llm: llm.preload(timeout=30), {"docker_bin": docker}, timeout=1.2) == "ai/smollm2:latest"
    assert run(lambda llm: llm.preload(timeout=None), {"docker_bin": docker}, timeout=1.2) == "ai/smollm2:latest"


def test_configure_checks_the_model_within_list_timeout(docker_double: DockerDouble) -> None:
    """``configure`` reads the model first (`inspect`, a read: ``list_timeout``), then changes it."""
    docker, _pids = slow_docker(docker_double, "model", "inspect")
    with pytest.raises(GenerationTimeoutError, match="ULTRA_LLM_DOCKER_CLI_LIST_TIMEOUT"):
        run(
            lambda llm: llm.configure("smollm2", context_size=4096),
            {"docker_bin": docker, "list_timeout": 0.5, "control_timeout": 30},
        )
    assert run(lambda llm: llm.configure("smollm2", context_size=4096)) == "ai/smollm2:latest"


def test_a_quoted_progress_line_is_bounded() -> None:
    """What docker printed reaches an error's text (and a terminal, neutralised there): at most
    ``QUOTED_MAX`` characters of it, so a runaway line cannot flood the message."""
    from ultra_llm_docker_cli.backend import QUOTED_MAX, _quoted

    assert _quoted("Downloaded 5 MB of 10 MB") == "Downloaded 5 MB of 10 MB"
    long = "x" * 10_000
    assert len(_quoted(long)) == QUOTED_MAX and _quoted(long).endswith("...")
