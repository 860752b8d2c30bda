"""Files named by ``-a``, ``--tools`` and ``--schema`` (and ``ImagePart.from_file``): a regular file
only, its size checked before it is read and bounded while it is. A device, a FIFO nobody writes to,
a directory or a file over the cap is one typed line and exit status 2: no hang, no MemoryError, no
traceback. Over-cap files are sparse (``truncate``), so nothing large is written."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ultra_llm._cli.request_features import MAX_JSON_FILE_BYTES
from ultra_llm._content import MAX_IMAGE_BYTES, ImagePart
from ultra_llm.errors import InvalidOptionsError
from ultra_llm.testing.serve import SCRIPT

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(40)


def generate(*args: str) -> subprocess.CompletedProcess[str]:
    """``ultra-llm generate ARGS... hi`` on the mock; the timeout only stops a hang from stalling the suite."""
    return subprocess.run(
        [SCRIPT, "generate", "-m", "mock/echo", *args, "hi"], capture_output=True, text=True, timeout=60
    )


def assert_refused(done: subprocess.CompletedProcess[str], *says: str) -> None:
    assert done.returncode == 2, done
    assert done.stderr.startswith("Error: ") and "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    for text in says:
        assert text in done.stderr, done.stderr


@pytest.fixture
def fifo(tmp_path: Path) -> str:
    """A FIFO nobody writes to: opening it for reading the usual way blocks for ever."""
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return str(path)


def sparse(path: Path, size: int, head: bytes = b"") -> str:
    path.write_bytes(head)
    os.truncate(path, size)
    return str(path)


@pytest.mark.parametrize("flag", ["-a", "--tools", "--schema"])
def test_a_device_is_refused_before_it_is_read(flag: str) -> None:
    assert_refused(generate(flag, "/dev/zero"), "'/dev/zero' is a character device, not a regular file.")


@pytest.mark.parametrize("flag", ["-a", "--tools", "--schema"])
def test_a_fifo_is_refused_without_waiting_for_a_writer(flag: str, fifo: str) -> None:
    assert_refused(generate(flag, fifo), f"'{fifo}' is a FIFO (named pipe), not a regular file.")


@pytest.mark.parametrize("flag", ["-a", "--tools"])
def test_a_directory_is_refused(flag: str, tmp_path: Path) -> None:
    assert_refused(generate(flag, str(tmp_path)), "is a directory, not a regular file.")


def test_an_image_over_the_cap_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = sparse(tmp_path / "big.png", MAX_IMAGE_BYTES + 1, PNG)
    assert_refused(generate("-a", path), f"The image '{path}' is over the 12 MiB limit.", "smaller image")


@pytest.mark.parametrize("flag", ["--tools", "--schema"])
def test_a_json_file_over_the_cap_is_refused_before_it_is_read(flag: str, tmp_path: Path) -> None:
    path = sparse(tmp_path / "big.json", MAX_JSON_FILE_BYTES + 1, b"[")
    assert_refused(generate(flag, path), f"{flag} '{path}' is over the 1 MiB limit.")


def test_files_at_the_cap_are_still_read(tmp_path: Path) -> None:
    image = sparse(tmp_path / "ok.png", MAX_IMAGE_BYTES, PNG)
    tools = tmp_path / "tools.json"
    tools.write_text("[]" + " " * (MAX_JSON_FILE_BYTES - 2), encoding="utf-8")
    done = generate("-a", image, "--tools", str(tools))
    assert "over the" not in done.stderr and "regular file" not in done.stderr, done.stderr


def test_the_python_api_reads_an_image_file_with_the_same_bound(fifo: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidOptionsError, match="is a FIFO"):
        ImagePart.from_file(fifo)
    with pytest.raises(InvalidOptionsError, match="over the 12 MiB limit"):
        ImagePart.from_file(sparse(tmp_path / "big.png", MAX_IMAGE_BYTES + 1, PNG))
    with pytest.raises(InvalidOptionsError, match="NUL"):
        ImagePart.from_file(str(tmp_path / "a\0b.png"))
    assert ImagePart.from_file(sparse(tmp_path / "ok.png", 4096, PNG)).media_type == "image/png"
