"""The docker-cli backend against the docker double, run as a real subprocess found on PATH."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from typing import Any

import pytest
from ultra_llm_docker.errors import (
    DockerDaemonDownError,
    DockerNotInstalledError,
    ModelRunnerNotEnabledError,
    ModelRunnerPluginMissingError,
)
from ultra_llm_docker.testing.double import fake_docker
from ultra_llm_docker.testing.double.cli_backend import alive, children, make_backend, run_pids
from ultra_llm_docker.testing.double.fixtures import DockerDouble
from ultra_llm_docker_cli.backend import DockerCLIBackend

from ultra_llm._options import validate_options
from ultra_llm._types import Chunk, Deadline, GenerationRequest, Progress, Result, to_messages
from ultra_llm.errors import (
    GenerationError,
    InvalidModelNameError,
    InvalidOptionsError,
    ModelNotFoundError,
    StreamInterruptedError,
    UltraLLMError,
)
from ultra_llm.testing.clock import FakeClock


def request(model: str, prompt: str) -> GenerationRequest:
    return GenerationRequest(model, to_messages(prompt), None, "docker-cli")


def generate(backend: DockerCLIBackend, model: str, prompt: str) -> Result:
    result: Result = asyncio.run(backend.generate(request(model, prompt)))
    return result


def stream(backend: DockerCLIBackend, model: str, prompt: str) -> list[Chunk]:
    async def run() -> list[Chunk]:
        return [chunk async for chunk in backend.stream(request(model, prompt))]

    return asyncio.run(run())


# ----------------------------------------------------------------------------- availability


def test_available(cli_backend: DockerCLIBackend) -> None:
    availability = asyncio.run(cli_backend.check_availability())
    assert availability.available and "llama.cpp" in availability.detail


def test_docker_not_installed(no_docker: object) -> None:
    backend = make_backend()
    availability = asyncio.run(backend.check_availability())
    assert not availability.available and isinstance(availability.error, DockerNotInstalledError)
    with pytest.raises(DockerNotInstalledError):
        generate(backend, "smollm2", "hi")


@pytest.mark.parametrize(
    ("state", "error"),
    [
        ({"daemon": "down"}, DockerDaemonDownError),
        ({"plugin_installed": False, "docker_cli": "old"}, ModelRunnerPluginMissingError),
        ({"plugin_installed": False, "docker_cli": "new"}, ModelRunnerPluginMissingError),
        ({"runner": "disabled"}, ModelRunnerNotEnabledError),
        ({"runner": "disabled", "cli_version": "old"}, ModelRunnerNotEnabledError),
    ],
)
def test_unavailable_states(
    docker_double: DockerDouble, cli_backend: DockerCLIBackend, state: dict[str, Any], error: type[Exception]
) -> None:
    docker_double.set(**state)
    availability = asyncio.run(cli_backend.check_availability())
    assert not availability.available and isinstance(availability.error, error)
    assert isinstance(availability.error, UltraLLMError) and availability.error.fix
    with pytest.raises(error):
        generate(cli_backend, "smollm2", "hi")
    with pytest.raises(error):
        asyncio.run(cli_backend.list_models())


def test_runner_disabled_fix_names_the_enable_command(
    docker_double: DockerDouble, cli_backend: DockerCLIBackend
) -> None:
    docker_double.set(runner="disabled")
    with pytest.raises(ModelRunnerNotEnabledError) as caught:
        generate(cli_backend, "smollm2", "hi")
    assert "docker desktop enable model-runner" in str(caught.value)


def test_old_cli_status_text_fallback(docker_double: DockerDouble, cli_backend: DockerCLIBackend) -> None:
    docker_double.set(cli_version="oldest")
    assert asyncio.run(cli_backend.check_availability()).available


def test_availability_is_cached(docker_double: DockerDouble) -> None:
    clock = FakeClock()
    backend = make_backend(clock=clock, status_cache_seconds=60)
    assert asyncio.run(backend.check_availability()).available
    docker_double.set(runner="disabled")
    clock.advance(59.9)
    assert asyncio.run(backend.check_availability()).available  # still the cached answer
    clock.advance(0.1)
    assert not asyncio.run(backend.check_availability()).available  # 60 s old: asked again
    assert not asyncio.run(make_backend(status_cache_seconds=0).check_availability()).available


def test_no_subprocess_at_plugin_load_and_nothing_heavy_imported() -> None:
    code = (
        "import sys, ultra_llm_docker_cli.plugin as p;"
        "print(sorted(m for m in ('ultra_llm_docker_cli.backend', 'pydantic_settings', 'asyncio', 'subprocess')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ----------------------------------------------------------------------------- discovery


@pytest.mark.parametrize("version", ["new", "old", "oldest"])
def test_list_models_across_cli_versions(
    docker_double: DockerDouble, cli_backend: DockerCLIBackend, version: str
) -> None:
    docker_double.set(cli_version=version)
    docker_double.add_model("docker.io/ai/gemma3:v1", parameters="7.52B", size="4.74GiB", context_size=None)
    models = {m.name: m for m in asyncio.run(cli_backend.list_models())}
    assert set(models) == {"ai/smollm2:latest", "ai/gemma3:v1"}
    smol = models["ai/smollm2:latest"].details
    assert smol["parameters"] == "361.82 M" and smol["size"] == "256.35 MiB"
    if version == "new":
        assert smol["context_size"] == 8192  # the old table has no CONTEXT column
    assert "context_size" not in models["ai/gemma3:v1"].details


# ----------------------------------------------------------------------------- generation


def test_generate_prompt_on_stdin_never_in_argv(docker_double: DockerDouble, cli_backend: DockerCLIBackend) -> None:
    prompt = "What is the capital of France?"
    result = generate(cli_backend, "smollm2", prompt)
    assert result.text == docker_double.expected_answer(prompt, "smollm2")
    (call,) = docker_double.invocations()
    assert call["argv"] == ["model", "run", "ai/smollm2:latest"]
    assert call["stdin_bytes"] == len(prompt.encode())


@pytest.mark.parametrize("prompt", ["--help", "-d", "-- --json", "--openaiurl=http://evil"])
def test_prompts_starting_with_dash(docker_double: DockerDouble, cli_backend: DockerCLIBackend, prompt: str) -> None:
    assert generate(cli_backend, "ai/smollm2", prompt).text == docker_double.expected_answer(prompt, "smollm2")


@pytest.mark.parametrize("model", ["--help", "-x", "ai/Sm ollm2", "", "a;rm -rf /"])
def test_bad_model_names_never_reach_argv(
    docker_double: DockerDouble, cli_backend: DockerCLIBackend, model: str
) -> None:
    with pytest.raises(InvalidModelNameError):
        generate(cli_backend, model, "hi")
    assert docker_double.invocations() == []


def test_one_mib_prompt(docker_double: DockerDouble, cli_backend: DockerCLIBackend) -> None:
    prompt = ("lorem ipsum " * 100_000)[: 1 << 20]
    assert f"({1 << 20} chars)" in generate(cli_backend, "smollm2", prompt).text
    assert docker_double.invocations()[0]["stdin_bytes"] == 1 << 20


def test_stream_equals_generate_and_ends_with_stop(docker_double: DockerDouble, cli_backend: DockerCLIBackend) -> None:
    docker_double.set(token_delay=0.005)
    chunks = stream(cli_backend, "smollm2", "one two three four")
    assert len([c for c in chunks if c.text]) > 1  # streamed in pieces
    assert "".join(c.text for c in chunks) == generate(cli_backend, "smollm2", "one two three four").text
    assert chunks[-1].finish_reason == "stop"


def test_unknown_model(cli_backend: DockerCLIBackend) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        generate(cli_backend, "nosuch", "hi")
    assert caught.value.model == "ai/nosuch:latest"
    assert "docker model pull ai/nosuch:latest" in str(caught.value)


def listed_then_removed(double: DockerDouble, backend: DockerCLIBackend, tag: str) -> None:
    """``backend`` lists ``tag`` as present, then it is removed behind its back: ``run`` pulls it
    again itself (run.go:829-838), printing its pull lines before the answer."""
    before = double.models
    double.add_model(tag)
    asyncio.run(backend.list_models())
    double.set(models=before)


def test_auto_pull_output_is_not_answer_text(docker_double: DockerDouble, cli_backend: DockerCLIBackend) -> None:
    seen: list[Progress] = []
    cli_backend.progress_callback = seen.append
    listed_then_removed(docker_double, cli_backend, "ai/gemma3:latest")
    result = generate(cli_backend, "gemma3", "hi")
    assert result.text == docker_double.expected_answer("hi", "gemma3")
    assert [p.status for p in seen] == ["progress"] * 4 + ["success"]  # pull-started, 3 Downloaded, pulled
    assert seen[-2].completed == seen[-2].total and seen[-2].total
    assert any("ai/gemma3:latest" in m["tags"] for m in docker_double.models)


def test_auto_pull_progress_reaches_the_adapter_callers_progress_option(docker_double: DockerDouble) -> None:
    from ultra_llm import create_adapter

    seen: list[Progress] = []

    async def run() -> str:
        async with await create_adapter("gemma3", backend="docker-cli") as adapter:
            assert isinstance(adapter.backend, DockerCLIBackend)
            before = docker_double.models
            docker_double.add_model("ai/gemma3:latest")
            await adapter.backend.list_models()
            docker_double.set(models=before)  # removed behind our back: `run` pulls it itself
            return await adapter.generate("hi", progress=seen.append)

    assert asyncio.run(run()) == docker_double.expected_answer("hi", "gemma3")
    assert [p.status for p in seen] == ["progress"] * 4 + ["success"]


def test_reasoning_and_usage_kept_apart(docker_double: DockerDouble, cli_backend: DockerCLIBackend) -> None:
    docker_double.set(usage=True)
    docker_double.add_model("ai/qwen3:latest", reasoning=True)
    result = generate(cli_backend, "qwen3", "why is the sky blue")
    assert result.text == docker_double.expected_answer("why is the sky blue", "qwen3")
    assert result.reasoning == fake_docker.reasoning_for("why is the sky blue")
    assert result.usage is not None and result.usage.prompt_tokens == 5
    assert result.usage.total_tokens == 5 + len(fake_docker.tokens_of(result.text))


def test_non_ascii_split_across_reads(docker_double: DockerDouble) -> None:
    docker_double.set(non_ascii=True, split_utf8=True, split_delay=0.02)
    backend = make_backend(read_size=1)  # one byte per read: every character is split
    chunks = stream(backend, "smollm2", "hi")
    text = "".join(c.text for c in chunks)
    assert text == docker_double.expected_answer("hi", "smollm2") and "\ufffd" not in text


def test_bad_utf8_does_not_crash(docker_double: DockerDouble, cli_backend: DockerCLIBackend) -> None:
    docker_double.set(fault="bad_utf8", fault_after=1)
    assert "\ufffd" in generate(cli_backend, "smollm2", "hi there").text


def test_crash_mid_stream(docker_double: DockerDouble, cli_backend: DockerCLIBackend) -> None:
    docker_double.set(fault="crash", fault_after=2, token_delay=0.01)
    got: list[str] = []

    async def run() -> None:
        async for chunk in cli_backend.stream(request("smollm2", "alpha beta gamma delta")):
            got.append(chunk.text)

    with pytest.raises(StreamInterruptedError) as caught:
        asyncio.run(run())
    tokens = fake_docker.tokens_of(docker_double.expected_answer("alpha beta gamma delta", "smollm2"))
    assert "".join(got) == "".join(tokens[:2])
    assert "unexpected EOF" in str(caught.value)


def test_killed_mid_stream(docker_double: DockerDouble, cli_backend: DockerCLIBackend) -> None:
    docker_double.set(fault="kill", fault_after=1)
    with pytest.raises(StreamInterruptedError) as caught:
        generate(cli_backend, "smollm2", "alpha beta")
    assert "signal 9" in caught.value.message


def test_runner_500(docker_double: DockerDouble, cli_backend: DockerCLIBackend) -> None:
    docker_double.set(fault="runner_500", fault_message="llama.cpp exited")
    with pytest.raises(GenerationError) as caught:
        generate(cli_backend, "smollm2", "hi")
    assert not isinstance(caught.value, StreamInterruptedError)
    assert "unable to load runner: llama.cpp exited" in str(caught.value)


def test_slow_first_token_within_the_limit(docker_double: DockerDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    docker_double.set(first_token_delay=0.4)
    monkeypatch.setenv("ULTRA_LLM_FIRST_TOKEN_TIMEOUT", "5")
    assert generate(make_backend(), "smollm2", "hi").text == docker_double.expected_answer("hi", "smollm2")


def test_the_requests_deadline_sizes_the_wait_and_the_backend_words_no_timeout(
    docker_double: DockerDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The adapter owns the deadlines: called directly with a request whose deadline gives the first
    token 1.5 s (the config allowing 60), the backend ends the `run` (killed) at 1.5 s, long before the
    double's first token at 8 s, and lets a bare ``TimeoutError`` out for the adapter to word; it says
    what it was waiting for."""
    docker_double.set(first_token_delay=8)
    monkeypatch.setenv("ULTRA_LLM_FIRST_TOKEN_TIMEOUT", "60")
    backend = make_backend()
    seen: list[Deadline] = []

    async def case() -> None:
        now = asyncio.get_running_loop().time()
        deadline = Deadline.starting(now, 60.0, 1.5)
        seen.append(deadline)
        request = GenerationRequest("ai/smollm2", to_messages("hi"), None, "docker-cli", deadline=deadline)
        try:
            async for _chunk in backend.stream(request):
                pass
        finally:
            await backend.aclose()

    started = time.monotonic()
    with pytest.raises(TimeoutError) as caught:
        asyncio.run(case())
    assert not isinstance(caught.value, UltraLLMError), "the backend words no timeout of its own"
    assert time.monotonic() - started < 4.5
    assert seen[0].waiting == "`docker model run ai/smollm2:latest` has printed nothing yet"
    assert not any(alive(pid) for pid in run_pids(docker_double)) and children() == []


def test_without_a_deadline_the_backend_sets_no_limit_of_its_own(
    docker_double: DockerDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Called directly with no deadline (no adapter), neither ULTRA_LLM_FIRST_TOKEN_TIMEOUT nor
    ULTRA_LLM_TIMEOUT is the backend's to enforce: a first token later than both still arrives."""
    docker_double.set(first_token_delay=0.8)
    monkeypatch.setenv("ULTRA_LLM_FIRST_TOKEN_TIMEOUT", "0.2")
    monkeypatch.setenv("ULTRA_LLM_TIMEOUT", "0.3")
    assert generate(make_backend(), "smollm2", "hi").text == docker_double.expected_answer("hi", "smollm2")


def test_options_are_refused_with_a_pointer_to_the_api_backend() -> None:
    with pytest.raises(InvalidOptionsError) as caught:
        validate_options(DockerCLIBackend, {"temperature": 0.2})
    assert "MODEL_RUNNER_TYPE=api" in caught.value.fix


# ----------------------------------------------------------------------------- model management


def test_pull_with_progress_and_remove(docker_double: DockerDouble, cli_backend: DockerCLIBackend) -> None:
    seen: list[Progress] = []
    asyncio.run(cli_backend.pull("gemma3", seen.append))
    assert [p.status for p in seen] == ["progress"] * 3 + ["success"]
    assert seen[0].total is not None and seen[0].completed is not None and seen[0].completed < seen[0].total
    assert "ai/gemma3:latest" in {m.name for m in asyncio.run(cli_backend.list_models())}
    asyncio.run(cli_backend.remove("docker.io/ai/gemma3"))
    assert "ai/gemma3:latest" not in {m.name for m in asyncio.run(cli_backend.list_models())}
    with pytest.raises(ModelNotFoundError):
        asyncio.run(cli_backend.remove("gemma3"))
    with pytest.raises(ModelNotFoundError):
        asyncio.run(cli_backend.pull("nosuch"))


def test_auto_pull_setting_pulls_before_running(docker_double: DockerDouble) -> None:
    backend = make_backend(auto_pull=True)
    seen: list[Progress] = []
    backend.progress_callback = seen.append
    assert generate(backend, "gemma3", "hi").text == docker_double.expected_answer("hi", "gemma3")
    assert seen == []  # pulled by `docker model pull` first, so `run` printed no pull lines
    assert any("ai/gemma3:latest" in m["tags"] for m in docker_double.models)


# ----------------------------------------------------------------------------- real engine


@pytest.mark.engine
def test_answers_from_the_real_engine(docker_double: DockerDouble, cli_backend: DockerCLIBackend, request: Any) -> None:
    try:
        engine = request.getfixturevalue("real_engine")
    except pytest.FixtureLookupError:
        pytest.skip("the real-engine fixture is not loaded in this run")
    docker_double.set(engine_url=engine.url, engine_model=engine.model, engine_max_tokens=16)
    chunks = stream(cli_backend, "smollm2", "Hello")
    assert chunks[-1].finish_reason == "stop"
    assert "".join(c.text for c in chunks)


# ----------------------------------------------------------------------------- names the runner accepts


@pytest.mark.parametrize("form", ["short", "full", "digest"])
def test_a_model_id_runs_the_listed_model_without_a_pull(docker_double: DockerDouble, form: str) -> None:
    # The runner takes 12- or 64-hex IDs and sha256 digests for a name (docker/model-runner
    # pkg/distribution/distribution/client.go:160-166 at 642c7211): never `ai/<id>:latest`, never a pull.
    backend = make_backend(status_cache_seconds=0, auto_pull=False)
    full = str(next(m for m in docker_double.models if "ai/smollm2:latest" in m["tags"])["id"])
    name = {"short": full[7:19], "full": full[7:], "digest": full}[form]
    result = generate(backend, name, "hello")
    assert result.text
    assert [i["argv"][2] for i in docker_double.invocations()] == [backend.canonical_model(name)]
    assert "ai/" not in docker_double.invocations()[0]["argv"][2]


def test_hf_co_names_the_model_stored_as_huggingface_co(docker_double: DockerDouble) -> None:
    # Since v1.0.14 the runner stores hf.co/ tags as huggingface.co/ (client.go:121-138, 154-158)
    docker_double.add_model("huggingface.co/bartowski/smollm2-gguf:Q4_K_M")
    backend = make_backend(status_cache_seconds=0, auto_pull=False)
    assert generate(backend, "hf.co/bartowski/SmolLM2-GGUF:Q4_K_M", "hello").text


def test_engine_not_installed_is_typed_with_the_install_command(
    docker_double: DockerDouble, cli_backend: DockerCLIBackend
) -> None:
    from ultra_llm_docker.errors import RunnerEngineNotInstalledError

    docker_double.set(fault="engine_412", fault_message="vllm")
    with pytest.raises(RunnerEngineNotInstalledError) as caught:
        generate(cli_backend, "smollm2", "hello")
    assert "docker model install-runner --backend vllm" in caught.value.fix


def test_a_prompt_over_the_runners_10_mib_is_request_too_large(
    docker_double: DockerDouble, cli_backend: DockerCLIBackend
) -> None:
    from ultra_llm_docker.errors import RunnerRequestTooLargeError

    with pytest.raises(RunnerRequestTooLargeError) as caught:
        generate(cli_backend, "smollm2", "x" * (10 * 1024 * 1024 + 1))
    assert "10 MiB" in caught.value.message


# ----------------------------------------------------------------------------- status --json endpointHost


@pytest.mark.parametrize(
    ("kind", "host_url", "container_url"),
    [
        ("Docker Desktop", "http://localhost:12434/v1/", "http://model-runner.docker.internal/v1/"),
        ("Docker Engine", "http://127.0.0.1:12434/v1/", "http://host.docker.internal:12434/v1/"),
        ("Docker Cloud", "http://127.0.0.1:12435/v1/", None),  # the same URL for both
    ],
)
def test_status_reports_the_host_endpoint_not_the_container_one(
    docker_double: DockerDouble, cli_backend: DockerCLIBackend, kind: str, host_url: str, container_url: str | None
) -> None:
    # status --json prints endpoint (for containers) and endpointHost (for this host), by engine kind
    # (docker/model-runner cmd/cli/commands/status.go:134-165 at 642c7211); the double prints the same
    docker_double.set(kind=kind)
    status = asyncio.run(cli_backend.runner_status())
    assert status.endpoint == host_url
    assert status.container_endpoint == container_url
    availability = asyncio.run(cli_backend.check_availability())
    assert f"running at {host_url}" in availability.detail


# ----------------------------------------------------------------------------- rm --force


def two_tags(docker_double: DockerDouble) -> dict[str, Any]:
    """A local model tagged ``ai/twotags:latest`` and ``ai/twotags:v2``."""
    model = docker_double.add_model("ai/twotags:latest")
    model["tags"].append("ai/twotags:v2")
    docker_double.set(models=[*docker_double.models[:-1], model])
    return model


def test_rm_by_tag_keeps_a_model_with_other_tags_and_needs_no_force(docker_double: DockerDouble) -> None:
    two_tags(docker_double)
    backend = make_backend(status_cache_seconds=0)
    asyncio.run(backend.remove("twotags:v2"))
    assert [m["tags"] for m in docker_double.models if "ai/twotags:latest" in m["tags"]] == [["ai/twotags:latest"]]


def test_rm_by_id_of_a_model_with_several_tags_needs_force(docker_double: DockerDouble) -> None:
    # DeleteModel: by ID with several tags, 409 "must be forced" unless force (client.go:547-568)
    model = two_tags(docker_double)
    short_id = str(model["id"])[7:19]
    backend = make_backend(status_cache_seconds=0)
    with pytest.raises(UltraLLMError) as caught:
        asyncio.run(backend.remove(short_id))
    assert not isinstance(caught.value, ModelNotFoundError)
    assert caught.value.fix is not None and f"docker model rm --force {short_id}" in caught.value.fix
    assert any(m["id"] == model["id"] for m in docker_double.models)  # nothing removed
    asyncio.run(backend.remove(short_id, force=True))
    assert not any(m["id"] == model["id"] for m in docker_double.models)


# ----------------------------------------------------------------------------- runner auto-install


def engine_without_runner(docker_double: DockerDouble) -> None:
    """Docker Engine with no runner container yet: `docker model` would install one (install-runner.go:88-178)."""
    docker_double.set(kind="Docker Engine", runner="disabled", runner_container=False)


def test_docker_runs_with_no_auto_install_by_default(docker_double: DockerDouble) -> None:
    engine_without_runner(docker_double)
    backend = make_backend(status_cache_seconds=0)
    with pytest.raises(ModelRunnerNotEnabledError):
        generate(backend, "smollm2", "hello")
    assert docker_double.state["runner_container"] is False  # nothing was installed unasked
    availability = asyncio.run(backend.check_availability())
    assert not availability.available
    assert docker_double.state["runner_container"] is False


@pytest.mark.parametrize("read_size", [1, 7, 4096])
def test_auto_install_lines_never_reach_the_answer(docker_double: DockerDouble, read_size: int) -> None:
    backend = make_backend(status_cache_seconds=0, auto_install=True, auto_pull=False, read_size=read_size)
    seen: list[Progress] = []
    backend.progress_callback = seen.append

    async def listed_then_run() -> Result:
        await backend.list_models()  # smollm2 is present (remembered: `run` follows without a listing)
        engine_without_runner(docker_double)  # then the runner container goes away: `run` installs it
        return await backend.generate(request("smollm2", "hello"))

    result = asyncio.run(listed_then_run())
    assert docker_double.state["runner_container"] is True  # the double did install (so printed the lines)
    assert result.text == docker_double.expected_answer("hello", "smollm2")
    assert "docker-model-runner" not in result.text and "Pull complete" not in result.text
    messages = [p.message for p in seen]
    assert "Starting model runner container docker-model-runner..." in messages
