"""The docker-cli backend refuses what ``docker model run`` would act on instead of sending.

Against the docker double (which reads ``@`` files and image paths, pulls unknown models and starts
NIM containers as the real CLI does): every refusal happens before any process starts, names the
token and the fix in one line, and reads nothing; with the trusted setting, the double really
reads the file (the leak the guard prevents).
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ultra_llm_docker.testing.double.cli_backend import make_backend
from ultra_llm_docker.testing.double.fixtures import DockerDouble
from ultra_llm_docker_cli.backend import DockerCLIBackend
from ultra_llm_docker_cli.prompt_guard import IMAGE_PATH, find_file_reference, image_paths, normalize_file_path

from ultra_llm._deadline import Deadline
from ultra_llm._types import GenerationRequest, Message, Result, to_messages
from ultra_llm.errors import EmptyPromptError, InvalidModelNameError, ModelNotFoundError, UnsafePromptError

SECRET = "TOP-SECRET-5b1e"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(48)


def ask(backend: DockerCLIBackend, prompt: str | list[dict[str, str]], model: str = "smollm2") -> Result:
    async def run() -> Result:
        try:
            return await backend.generate(GenerationRequest(model, to_messages(prompt), None, "docker-cli"))
        finally:
            await backend.aclose()

    result: Result = asyncio.run(run())
    return result


@pytest.fixture
def secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A caller's working directory with a secret, an image, a FIFO and an unreadable-as-image directory."""
    home = tmp_path / "app"
    home.mkdir()
    (home / ".env").write_text(f"API_KEY={SECRET}\n", encoding="utf-8")
    (home / "notes(1).txt").write_text(SECRET, encoding="utf-8")
    (home / "pic.png").write_bytes(PNG)
    (home / "dir.png").mkdir()
    os.mkfifo(home / "pipe")
    monkeypatch.chdir(home)
    yield home


def refused(docker_double: DockerDouble, prompt: str | list[dict[str, str]], **settings: object) -> UnsafePromptError:
    """Ask, expect the refusal, check that no process started and nothing was sent."""
    with pytest.raises(UnsafePromptError) as caught:
        ask(make_backend(**settings), prompt)
    assert docker_double.invocations() == [] and docker_double.sent_prompts() == []
    line = str(caught.value)
    assert "\n" not in line and SECRET not in line and "Fix:" in line and "MODEL_RUNNER_TYPE=api" in line
    return caught.value


@pytest.mark.parametrize(
    ("prompt", "token"),
    [
        ("summarize @{home}/.env please", "@{home}/.env"),
        ('summarize @"{home}/.env"', '@"{home}/.env"'),
        ("summarize @'{home}/.env'", "@'{home}/.env'"),
        ("summarize @.env", "@.env"),
        ("summarize @./.env", "@./.env"),
        ("read @notes\\(1\\).txt", "@notes\\(1\\).txt"),
        ("what is this: {home}/pic.png", "{home}/pic.png"),
        ("what is this: './pic.png'", "'./pic.png'"),
        ("what is this: {home}/dir.png", "{home}/dir.png"),
        ("tail @{home}/pipe", "@{home}/pipe"),
        ("go @/dev/zero", "@/dev/zero"),
        ("env @/proc/self/environ", "@/proc/self/environ"),
    ],
)
def test_a_token_naming_a_file_is_refused_before_any_process(
    docker_double: DockerDouble, secrets: Path, prompt: str, token: str
) -> None:
    error = refused(docker_double, prompt.format(home=secrets))
    assert repr(token.format(home=secrets)) in error.message


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "system", "content": "Context: @{home}/.env"}, {"role": "user", "content": "hi"}],
        [
            {"role": "user", "content": "look at @{home}/.env"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "and now?"},
        ],
    ],
    ids=["system-message", "earlier-turn"],
)
def test_a_token_in_the_system_message_or_an_earlier_turn_is_refused(
    docker_double: DockerDouble, secrets: Path, messages: list[dict[str, str]]
) -> None:
    prompt = [{**m, "content": m["content"].format(home=secrets)} for m in messages]
    error = refused(docker_double, prompt)
    assert f"'@{secrets}/.env'" in error.message


@pytest.mark.parametrize(
    "prompt",
    [
        "mail someone@example.com and @team",
        "@nothing-here.txt and @/no/such/file and /no/such/pic.png",
        "a directory is not read: @/tmp @.",
        "an escaped space ends the token: @notes\\ (1).txt",
    ],
)
def test_words_with_at_that_name_no_file_pass(docker_double: DockerDouble, secrets: Path, prompt: str) -> None:
    result = ask(make_backend(), prompt)
    assert result.text == docker_double.expected_answer(prompt, "smollm2")
    assert [sent["text"] for sent in docker_double.sent_prompts()] == [prompt]


def test_with_trusted_inclusion_the_double_really_reads_the_file(docker_double: DockerDouble, secrets: Path) -> None:
    """The leak the guard prevents: the same prompt, allowed, gets the file's contents sent."""
    refused(docker_double, "summarize @.env")
    ask(make_backend(allow_file_inclusion=True), "summarize @.env")
    (sent,) = docker_double.sent_prompts()
    assert sent["text"] == f"summarize API_KEY={SECRET}"  # processImagesInPrompt trims the end
    (call,) = docker_double.invocations()
    assert call["cwd"] == str(secrets)  # trusted use runs docker in the caller's directory


def test_docker_runs_in_a_private_empty_directory_removed_on_aclose(docker_double: DockerDouble) -> None:
    backend = make_backend()
    ask(backend, "hello")
    (call,) = docker_double.invocations()
    workdir = Path(call["cwd"])
    assert workdir != Path.cwd() and workdir.name.startswith("ultra-llm-docker-cli-")
    assert not workdir.exists()  # ask() closed the backend


def test_the_guard_decides_by_stat_alone(tmp_path: Path) -> None:
    """A FIFO nobody writes to would block an open(); the guard returns at once."""
    os.mkfifo(tmp_path / "fifo")
    found = find_file_reference("x @fifo", [str(tmp_path)])
    assert found is not None and found.kind == "file" and stat.S_ISFIFO(os.stat(tmp_path / "fifo").st_mode)
    assert normalize_file_path("a\\ b\\(c\\)\\\\d\\~") == "a b(c)\\d~"
    assert find_file_reference("x @fifo", [str(tmp_path / "elsewhere")]) is None


def test_a_nim_model_is_refused_unless_containers_are_allowed(docker_double: DockerDouble) -> None:
    model = "nvcr.io/nim/google/gemma-3-1b-it:latest"
    with pytest.raises(InvalidModelNameError) as caught:
        ask(make_backend(), "hi", model=model)
    assert "NIM" in str(caught.value) and "ULTRA_LLM_DOCKER_CLI_ALLOW_CONTAINERS=1" in str(caught.value)
    assert docker_double.invocations() == [] and docker_double.state.get("containers", []) == []
    ask(make_backend(allow_containers=True), "hi", model=model)
    assert [c["image"] for c in docker_double.state["containers"]] == [model]


def test_without_auto_pull_a_missing_model_is_not_pulled_by_run(docker_double: DockerDouble) -> None:
    """The real ``run`` pulls an unknown model unasked; with auto-pull off we stop before it."""
    with pytest.raises(ModelNotFoundError) as caught:
        ask(make_backend(auto_pull=False), "hi", model="gemma3")
    assert "docker model pull ai/gemma3:latest" in str(caught.value)
    assert docker_double.invocations() == []
    assert [m["tags"] for m in docker_double.models] == [["ai/smollm2:latest"]]


def test_presence_is_checked_once_then_remembered(docker_double: DockerDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = make_backend()
    listings: list[int] = []
    real = backend._listed  # every `docker model list` the backend runs, whoever asks (with the call's deadline)

    async def counted(deadline: Deadline | None) -> object:
        listings.append(1)
        return await real(deadline)

    monkeypatch.setattr(backend, "_listed", counted)

    async def twice() -> None:
        for _ in range(2):
            await backend.generate(GenerationRequest("smollm2", to_messages("hi"), None, "docker-cli"))
        await backend.aclose()

    asyncio.run(twice())
    assert len(listings) == 1 and len(docker_double.invocations()) == 2


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_a_blank_prompt_is_refused_before_any_process(docker_double: DockerDouble, text: str) -> None:
    request = GenerationRequest("smollm2", (Message("user", text),), None, "docker-cli")
    with pytest.raises(EmptyPromptError):
        asyncio.run(make_backend().generate(request))
    assert docker_double.invocations() == []


# ----------------------------------------------------------------------------- the image grammar


def reference_image_paths(prompt: str) -> list[tuple[str, str]]:
    """``extractImagePaths`` through its own regex (quadratic in Python: small inputs only)."""
    return [(m.group(0), m.group(1) or m.group(2) or m.group(0)) for m in IMAGE_PATH.finditer(prompt)]


@given(st.text(alphabet="/\\.:'\"\n Cc_x-pjgnewbPJG", max_size=40))
@settings(max_examples=3000, deadline=None)
def test_the_linear_image_scanner_finds_what_the_clis_regex_finds(prompt: str) -> None:
    assert list(image_paths(prompt)) == reference_image_paths(prompt)


@pytest.mark.parametrize(
    ("prompt", "count"),
    [
        ("see /a/b.png, 'x y.JPEG' and \"C:\\\\p\\\\q.webp\" or ./r.jpg.", 4),
        ("no: /a.pngx /b.png_ 'c.gif' \"d.png (unclosed", 0),
        ("D:/x.jpg then \\\\server\\\\s.png then 'q.png' again", 3),
        ("C:/ first /not-an-image\n./second.jpeg", 1),
    ],
)
def test_the_linear_image_scanner_on_known_prompts(prompt: str, count: int) -> None:
    found = list(image_paths(prompt))
    assert found == reference_image_paths(prompt) and len(found) == count


def test_the_image_scan_is_linear_on_a_hostile_prompt() -> None:
    """The CLI's regex backtracks quadratically in Python: 1 MiB of '/' would take hours."""
    started = time.perf_counter()
    assert list(image_paths("/" * (1 << 20))) == []
    assert find_file_reference("@" * (1 << 19) + "/" * (1 << 19), ["/nonexistent"]) is None
    assert time.perf_counter() - started < 5
