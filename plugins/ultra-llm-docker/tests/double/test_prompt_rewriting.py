"""The docker double rewrites prompts as the real ``docker model run`` does (images.go, run.go, nim.go).

Each test runs the double as a real subprocess, in a working directory of the test's choosing, and
reads what it finally sent to the model from its ``prompt_log``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
from ultra_llm_docker.testing.double import fake_docker
from ultra_llm_docker.testing.double.fixtures import DockerDouble

SECRET = "TOP-SECRET-9f3c value"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(40)


def run(prompt: str, cwd: Path, model: str = "smollm2") -> subprocess.CompletedProcess[str]:
    """``docker model run MODEL`` with ``prompt`` on stdin, in ``cwd``."""
    return subprocess.run(
        ["docker", "model", "run", model], input=prompt, capture_output=True, text=True, cwd=cwd, timeout=20
    )


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A directory with a secret text file, a PNG image and a sub-directory named like an image."""
    (tmp_path / "secret.txt").write_text(SECRET, encoding="utf-8")
    (tmp_path / "notes(1).txt").write_text("escaped " + SECRET, encoding="utf-8")
    (tmp_path / "pic.png").write_bytes(PNG)
    (tmp_path / "dir.png").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    "prompt",
    ["summarize @{d}/secret.txt please", 'summarize @"{d}/secret.txt"', "summarize @'{d}/secret.txt'"],
)
def test_an_absolute_at_path_is_replaced_by_the_file(docker_double: DockerDouble, files: Path, prompt: str) -> None:
    done = run(prompt.format(d=files), files)
    assert done.returncode == 0, done.stderr
    (sent,) = docker_double.sent_prompts()
    assert SECRET in sent["text"] and "secret.txt" not in sent["text"]
    assert SECRET.split()[0] in done.stdout  # the answer quotes the leaked text


def test_a_relative_path_is_read_from_the_working_directory(docker_double: DockerDouble, files: Path) -> None:
    assert run("see @secret.txt", files).returncode == 0
    assert run("see @secret.txt", files / "dir.png").returncode == 0  # nothing there to read
    first, second = docker_double.sent_prompts()
    assert first["text"] == "see " + SECRET
    assert second["text"] == "see @secret.txt"


def test_shell_escapes_are_undone_and_addresses_pass(docker_double: DockerDouble, files: Path) -> None:
    assert run("read @notes\\(1\\).txt and mail someone@example.com or @team", files).returncode == 0
    (sent,) = docker_double.sent_prompts()
    assert sent["text"] == f"read escaped {SECRET} and mail someone@example.com or @team"


def test_dollar_in_the_file_is_go_template_expanded(docker_double: DockerDouble, files: Path) -> None:
    (files / "tpl.txt").write_text("cost $$5 and ${2}!", encoding="utf-8")
    assert run("x @tpl.txt", files).returncode == 0
    (sent,) = docker_double.sent_prompts()
    assert sent["text"] == "x cost $5 and !"


def test_go_expand_matches_regexp_expand() -> None:
    groups = ["@a ", "@a", " "]
    assert fake_docker.go_expand("[$2|${1}|$$|$x|$|$10]", groups) == "[ |@a|$||$|]"


def test_an_image_path_is_cut_out_and_attached(docker_double: DockerDouble, files: Path) -> None:
    assert run(f"what is in {files}/pic.png ?", files).returncode == 0
    assert run("and in './pic.png' here", files).returncode == 0
    first, second = docker_double.sent_prompts()
    digest = hashlib.sha256(PNG).hexdigest()
    assert first["text"] == "what is in  ?" and first["images"][0]["sha256"] == digest
    assert first["images"][0]["type"] == "image/png"
    assert second["text"] == "and in  here" and second["images"][0]["path"] == "./pic.png"


def test_an_at_image_is_left_for_the_image_step(docker_double: DockerDouble, files: Path) -> None:
    assert run(f"look @{files}/pic.png", files).returncode == 0
    (sent,) = docker_double.sent_prompts()
    assert sent["text"] == "look @" and len(sent["images"]) == 1


def test_a_missing_image_is_a_false_positive(docker_double: DockerDouble, files: Path) -> None:
    assert run("no such /tmp/nothing-here-4f1.png and 1/2.png", files).returncode == 0
    (sent,) = docker_double.sent_prompts()
    assert sent["text"] == "no such /tmp/nothing-here-4f1.png and 1/2.png" and sent["images"] == []


def test_an_existing_image_that_cannot_be_read_fails_the_run(docker_double: DockerDouble, files: Path) -> None:
    done = run(f"see {files}/dir.png", files)
    assert done.returncode == 1
    assert done.stderr == (
        "Failed to generate a response: failed to process images: "
        f'couldn\'t process image "{files}/dir.png": read {files}/dir.png: is a directory\n'
    )
    (files / "empty.png").write_bytes(b"")
    done = run("see ./empty.png", files)
    assert done.returncode == 1 and done.stderr.endswith('couldn\'t process image "./empty.png": EOF\n')
    assert docker_double.sent_prompts() == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod-000 file anyway")
def test_an_unreadable_image_fails_the_run(docker_double: DockerDouble, files: Path) -> None:
    (files / "pic.png").chmod(0)
    done = run("see ./pic.png", files)
    assert done.returncode == 1 and done.stderr.endswith("open ./pic.png: permission denied\n")


def test_an_unknown_model_is_pulled_before_the_run(docker_double: DockerDouble, files: Path) -> None:
    done = run("hello", files, model="gemma3")
    assert done.returncode == 0
    assert done.stdout.startswith("Unable to find model 'gemma3' locally. Pulling from the server.\n")
    assert any("ai/gemma3:latest" in m["tags"] for m in docker_double.models)


def test_a_nim_model_starts_a_container(docker_double: DockerDouble, files: Path) -> None:
    model = "nvcr.io/nim/google/gemma-3-1b-it:latest"
    done = run(f"hi @{files}/secret.txt", files, model=model)
    assert done.returncode == 0
    assert done.stdout.startswith(f"Pulling NIM image {model}...\nStarted NIM container docker-model-nim-google-")
    assert docker_double.state["containers"] == [
        {"name": "docker-model-nim-google-gemma-3-1b-it", "image": model, "running": True}
    ]
    assert docker_double.sent_prompts() == []  # chatWithNIM sends the prompt as is, no inclusion


def test_leave_helper_fault_keeps_stdout_open(docker_double: DockerDouble, tmp_path: Path) -> None:
    pid_file = tmp_path / "helper.pid"
    docker_double.set(fault="leave_helper", helper_pid_file=str(pid_file), fault_message="boom")
    proc = subprocess.Popen(
        ["docker", "model", "run", "smollm2"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        proc.stdin.write(b"hi")  # type: ignore[union-attr]
        proc.stdin.close()  # type: ignore[union-attr]
        assert proc.wait(timeout=20) == 1
        helper = int(pid_file.read_text())
        os.kill(helper, 0)  # still there, holding stdout: a read would not see EOF
    finally:
        os.killpg(proc.pid, 9)
        proc.stdout.close()  # type: ignore[union-attr]


def test_a_nul_in_an_image_path_ends_the_run_with_one_line(docker_double: DockerDouble, files: Path) -> None:
    """Go refuses a NUL in a path with EINVAL (``syscall.ByteSliceFromString``): the ``@`` token is
    skipped, the image ends ``run`` with ``open <p>: invalid argument``; never a Python traceback."""
    (files / "a").write_bytes(PNG)
    done = run("see @a\0b.txt and ./a\0b.png", files)
    assert done.returncode == 1
    assert done.stderr == (
        "Failed to generate a response: failed to process images: "
        'couldn\'t process image "./a\\x00b.png": open ./a\0b.png: invalid argument\n'
    )
    assert docker_double.sent_prompts() == []
