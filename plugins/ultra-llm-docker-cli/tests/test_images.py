"""Images on the docker-cli backend, and the features it refuses, against the docker double run as a
real subprocess: attached images reach the "runner" as ``image_url`` parts by a path the backend
placed, the prompt guard still refuses every path the caller wrote, the 100 MiB limit is checked
before docker runs, and the backend's files are gone however the run ends."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from ultra_llm_docker.testing.double.cli_backend import make_backend
from ultra_llm_docker.testing.double.fixtures import DockerDouble
from ultra_llm_docker_cli.attachments import MAX_IMAGE_BYTES, place_paths
from ultra_llm_docker_cli.backend import DockerCLIBackend
from ultra_llm_docker_cli.prompt_guard import find_file_reference

from ultra_llm import create_adapter_sync
from ultra_llm._host import PluginHost
from ultra_llm._types import Chunk, Deadline, GenerationRequest, ImagePart, Message, Result, TextPart
from ultra_llm.errors import (
    GenerationError,
    InvalidOptionsError,
    UnsafePromptError,
    UnsupportedOperationError,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(40)
JPEG = b"\xff\xd8\xff\xe0" + bytes(60)
GIF = b"GIF89a" + bytes(30)


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The directory ``tempfile`` makes directories in (so a test sees what the backend leaves)."""
    root = tmp_path / "temp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def image_dirs(root: Path) -> list[Path]:
    return [path for path in root.iterdir() if path.name.startswith("ultra-llm-images-")]


def ask(text: str, *images: ImagePart, history: tuple[Message, ...] = ()) -> GenerationRequest:
    message = Message("user", (TextPart(text), *images))
    return GenerationRequest("ai/smollm2", (*history, message), None, "docker-cli")


def generate(backend: DockerCLIBackend, request: GenerationRequest) -> Result:
    async def run() -> Result:
        try:
            return await backend.generate(request)
        finally:
            await backend.aclose()

    return asyncio.run(run())


def test_attached_images_reach_the_runner_as_images_and_their_paths_leave_the_text(
    docker_double: DockerDouble, temp_root: Path
) -> None:
    images = (ImagePart.from_bytes(PNG), ImagePart.from_bytes(JPEG), ImagePart.from_bytes(GIF))
    result = generate(make_backend(), ask("what is in these pictures?", *images))
    (sent,) = docker_double.sent_prompts()
    assert sent["text"] == "what is in these pictures?"
    received = [(image["type"], image["bytes"], image["sha256"]) for image in sent["images"]]
    assert received == [(i.media_type, len(i.data), hashlib.sha256(i.data).hexdigest()) for i in images]
    assert all(Path(image["path"]).parent.parent == temp_root for image in sent["images"])
    assert not any(image["path"] in sent["text"] for image in sent["images"])
    parts = sent["message"]["content"]  # run.go:buildUserMessage: the images first, then the text
    assert [part["type"] for part in parts] == ["image_url"] * 3 + ["text"]
    for part, image in zip(parts, images, strict=False):
        header, data = part["image_url"]["url"].split(",", 1)
        assert header == f"data:{image.media_type};base64" and base64.b64decode(data) == image.data
    described = ", ".join(f"{i.media_type} {len(i.data)} bytes" for i in images)
    assert result.text.startswith(f"[3 images received: {described}]")
    assert image_dirs(temp_root) == [], "the image files are removed after the run"


def test_the_placed_paths_are_private(docker_double: DockerDouble, temp_root: Path) -> None:
    docker_double.set(first_token_delay=2)
    backend = make_backend()

    async def run() -> tuple[int, int]:
        stream = backend.stream(ask("describe", ImagePart.from_bytes(PNG)))
        task = asyncio.ensure_future(stream.__anext__())
        for _ in range(200):  # at most 10 s for the double to read the image
            if docker_double.sent_prompts():
                break
            await asyncio.sleep(0.05)
        (directory,) = image_dirs(temp_root)
        (file,) = directory.iterdir()
        modes = directory.stat().st_mode & 0o777, file.stat().st_mode & 0o777
        task.cancel()
        await backend.aclose()
        return modes

    assert asyncio.run(run()) == (0o700, 0o600)
    assert image_dirs(temp_root) == []


def test_a_path_the_caller_wrote_is_still_refused(docker_double: DockerDouble, temp_root: Path, tmp_path: Path) -> None:
    (tmp_path / "own.png").write_bytes(PNG)
    (tmp_path / "notes.txt").write_text("secret")
    for text in (f"and {tmp_path}/own.png", f"and @{tmp_path}/notes.txt"):
        with pytest.raises(UnsafePromptError):
            generate(make_backend(), ask(text, ImagePart.from_bytes(PNG)))
    assert docker_double.invocations() == [] and image_dirs(temp_root) == []


def test_only_the_exact_placed_token_is_exempt(tmp_path: Path) -> None:
    placed = tmp_path / "image-1.png"
    placed.write_bytes(PNG)
    path = str(placed)
    assert find_file_reference(place_paths([path], "hello"), [str(tmp_path)], exempt=[path]) is None
    for text in (f"again {path}", f"quoted '{path}'", f'quoted "{path}"', f"@{path}"):
        found = find_file_reference(place_paths([path], text), [str(tmp_path)], exempt=[path])
        assert found is not None, text


def test_an_image_over_100_mib_is_refused_before_docker_runs(docker_double: DockerDouble, temp_root: Path) -> None:
    # from bytes: a file is refused above ImagePart.from_file's own 12 MiB bound, before this check
    big = ImagePart.from_bytes(PNG + bytes(MAX_IMAGE_BYTES + 1 - len(PNG)))
    with pytest.raises(InvalidOptionsError, match="100 MiB") as caught:
        generate(make_backend(), ask("what is it?", big))
    assert "MODEL_RUNNER_TYPE=api" in caught.value.fix
    assert docker_double.invocations() == [] and image_dirs(temp_root) == []


def test_the_double_fails_above_100_mib_as_the_cli_does(docker_double: DockerDouble, tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    with big.open("wb") as handle:
        handle.write(PNG)
        handle.truncate(MAX_IMAGE_BYTES + 1)
    done = subprocess.run(
        ["docker", "model", "run", "smollm2"], input=f"see {big}", capture_output=True, text=True, timeout=20
    )
    assert done.returncode == 1
    assert done.stderr.endswith(f'couldn\'t process image "{big}": file size exceeds maximum limit (100 MB)\n')


def test_images_in_an_earlier_message_are_refused(docker_double: DockerDouble, temp_root: Path) -> None:
    history = (Message("user", (TextPart("first"), ImagePart.from_bytes(PNG))), Message("assistant", "ok"))
    with pytest.raises(UnsupportedOperationError, match="last user message"):
        generate(make_backend(), ask("and now?", history=history))
    assert docker_double.invocations() == [] and image_dirs(temp_root) == []


def test_the_files_are_removed_when_the_run_fails(docker_double: DockerDouble, temp_root: Path) -> None:
    docker_double.set(fault="crash", fault_after=1)
    with pytest.raises(GenerationError):
        generate(make_backend(), ask("describe", ImagePart.from_bytes(PNG)))
    assert len(docker_double.sent_prompts()[0]["images"]) == 1 and image_dirs(temp_root) == []


def test_the_files_are_removed_when_the_run_times_out(docker_double: DockerDouble, temp_root: Path) -> None:
    docker_double.set(first_token_delay=5)
    backend = make_backend()

    async def run() -> None:
        now = asyncio.get_running_loop().time()
        request = ask("describe", ImagePart.from_bytes(PNG))
        request = GenerationRequest(
            request.model, request.messages, None, "docker-cli", deadline=Deadline.starting(now, 60.0, 1.0)
        )
        try:
            async for _ in backend.stream(request):
                pass
        finally:
            await backend.aclose()

    with pytest.raises(TimeoutError):  # the request's deadline passed: the adapter's to word, not the backend's
        asyncio.run(run())
    assert len(docker_double.sent_prompts()[0]["images"]) == 1 and image_dirs(temp_root) == []


def test_the_files_are_removed_when_the_consumer_stops(docker_double: DockerDouble, temp_root: Path) -> None:
    docker_double.set(token_delay=0.5)
    backend = make_backend()

    async def run() -> Chunk:
        stream = backend.stream(ask("describe", ImagePart.from_bytes(PNG)))
        first = await stream.__anext__()
        assert len(image_dirs(temp_root)) == 1, "the file is there while docker runs"
        await stream.aclose()  # type: ignore[attr-defined]
        assert image_dirs(temp_root) == []
        await backend.aclose()
        return first

    assert asyncio.run(run()).text.startswith("[1")


@pytest.mark.parametrize(
    "options",
    [
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]},
        {"response_format": {"type": "object", "properties": {"a": {"type": "string"}}}},
        {"reasoning": False},
        {"reasoning_budget": 0},
    ],
)
def test_features_the_cli_cannot_send_are_refused_naming_the_api_backend(
    docker_double: DockerDouble, options: dict[str, Any]
) -> None:
    with create_adapter_sync("smollm2", host=PluginHost(), backend="docker-cli") as adapter:
        with pytest.raises(UnsupportedOperationError) as caught:
            adapter.generate("hello", **options)
        with pytest.raises(InvalidOptionsError) as sampling:
            adapter.generate("hello", temperature=0.1)
    assert "MODEL_RUNNER_TYPE=api (backend docker-api)" in caught.value.fix
    assert "MODEL_RUNNER_TYPE=api (backend docker-api)" in (sampling.value.fix or "")
    assert docker_double.invocations() == []


def test_capabilities_declare_images_only() -> None:
    capabilities = DockerCLIBackend.capabilities()
    assert capabilities["images"] is True
    assert not (capabilities["tools"] or capabilities["response_format"] or capabilities["reasoning_control"])


def test_a_temporary_directory_the_cli_would_misread_is_refused(
    docker_double: DockerDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quote in the path would cut the CLI's path regex short (``images.go:37``): the backend only
    places paths it checked the CLI reads back whole, and leaves nothing behind."""
    root = tmp_path / "with space 'quoted'"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    with pytest.raises(UnsupportedOperationError, match="TMPDIR") as caught:
        generate(make_backend(), ask("describe", ImagePart.from_bytes(PNG)))
    assert "TMPDIR" in caught.value.fix
    assert list(root.iterdir()) == [] and docker_double.invocations() == []
