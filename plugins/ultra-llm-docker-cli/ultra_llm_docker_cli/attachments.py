"""Attached images for ``docker model run``: the one way the CLI takes them, a file path in the prompt.

The real CLI (docker/model-runner 642c7211, ``cmd/cli/commands/images.go``, applied to every prompt
by ``run.go:chatWithMarkdownContext``, 626-647) finds image paths in the prompt text
(``extractImagePaths``, 22-57: quoted, absolute, ``./`` or drive-letter paths ending in .jpg, .jpeg,
.png or .webp), reads each file that exists (``encodeImageToDataURL``, 83-132: an image by content
or else by extension, 99-101 and 202-212; more than ``MaxImageSizeBytes``, 100 MiB (16), fails the
run, 108-111), removes EVERY occurrence of the path from the text (``processImagesInPrompt``,
151-154, then ``TrimSpace``, 159) and sends the images as ``image_url`` data URLs before the text
(``run.go:buildUserMessage``, 581-615).

So the backend writes each attached image to a private directory it creates (``mkdtemp``: mode
0700, a random name), as ``image-N.<ext>`` (0600) with an extension the CLI's regex knows, puts
exactly those absolute paths, one a line, before the prompt text, and removes the directory when
the run ends however it ends. The paths are exempt from the prompt guard (``prompt_guard``) and
nothing else is. Only the last user message's images are sent: a one-shot ``run`` sends one user
message; images elsewhere in a conversation are refused.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from ultra_llm.errors import InvalidOptionsError, UnsupportedOperationError
from ultra_llm.plugin import ImagePart, Message

from .failures import API_HINT, BACKEND
from .prompt_guard import image_paths

__all__ = ["MAX_IMAGE_BYTES", "ImageFiles", "images_to_send", "place_paths"]

MAX_IMAGE_BYTES = 100 * 1024 * 1024
"""``MaxImageSizeBytes`` (``images.go:16``): a larger file fails ``run`` (``images.go:108-111``)."""

EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg"}
"""The extension each file gets. GIF and BMP have none the CLI's path regex knows (``images.go:37``):
they are written as ``.png``, which ``isImageFileByContentAndExtension`` accepts by extension
(``images.go:210-211``); the data URL still carries the sniffed type (``images.go:97, 129``)."""

_PLAIN_PATH = re.compile(r"/[A-Za-z0-9_./-]+")
"""Paths the CLI reads back exactly: no quote, newline, space, backslash or escape it would undo."""


def images_to_send(messages: Sequence[Message]) -> tuple[ImagePart, ...]:
    """The images of the last user message, each checked against the CLI's size limit.

    ``UnsupportedOperationError`` when another message carries images (``run`` sends one user
    message); ``InvalidOptionsError`` for an image over 100 MiB, before anything runs.
    """
    last = next((index for index in range(len(messages) - 1, -1, -1) if messages[index].role == "user"), None)
    if any(message.images for index, message in enumerate(messages) if index != last):
        raise UnsupportedOperationError(
            "`docker model run` sends one user message: only images in the last user message can go with it, "
            "and an earlier message of this conversation has images.",
            fix="Attach the images to the last user message, or send the conversation as it is with the API "
            "backend: MODEL_RUNNER_TYPE=api (backend docker-api).",
            backend=BACKEND,
        )
    images = () if last is None else messages[last].images
    for number, image in enumerate(images, 1):
        if len(image.data) > MAX_IMAGE_BYTES:
            raise InvalidOptionsError(
                f"Refused before running docker: image {number} ({image.describe()}) is larger than the 100 MiB "
                "`docker model run` reads (it would fail with 'file size exceeds maximum limit (100 MB)').",
                fix="Attach a smaller image; the runner takes at most 10 MiB per request, so keep images under "
                "7 MiB (a data URL is a third larger). " + API_HINT,
                backend=BACKEND,
            )
    return images


def place_paths(paths: Sequence[str], text: str) -> str:
    """The prompt with ``paths`` on lines of their own before ``text``: the CLI finds them first,
    reads them and strips them, leaving ``text`` (``TrimSpace``d) as the message's text part."""
    return "".join(path + "\n" for path in paths) + ("\n" if paths else "") + text


@dataclass(eq=False)  # hashable by identity: the backend keeps the open ones in a set
class ImageFiles:
    """The files of one run's images in a private directory; ``remove()`` deletes them (idempotent)."""

    directory: str | None
    paths: tuple[str, ...]

    @classmethod
    def write(cls, images: Sequence[ImagePart]) -> ImageFiles:
        """Write ``images`` (none: no directory) to ``image-N.<ext>`` in a new private directory.

        ``UnsupportedOperationError`` when the temporary directory's path has characters the CLI
        would not read back as one path (set ``TMPDIR`` to a plain path)."""
        if not images:
            return cls(None, ())
        directory = tempfile.mkdtemp(prefix="ultra-llm-images-")  # 0700, a name nobody else chose
        files = cls(directory, ())
        try:
            paths = []
            for number, image in enumerate(images, 1):
                path = os.path.join(directory, f"image-{number}{EXTENSIONS.get(image.media_type, '.png')}")
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(image.data)
                paths.append(path)
            files.paths = tuple(paths)
            found = [raw for _, raw in image_paths(place_paths(paths, ""))]
            if not all(_PLAIN_PATH.fullmatch(path) for path in paths) or found != paths:
                raise UnsupportedOperationError(
                    f"The temporary directory {directory!r} has characters `docker model run` would not read "
                    "back as one image path.",
                    fix="Set TMPDIR to a plain directory path (letters, digits, '_', '-', '.', '/'). " + API_HINT,
                    backend=BACKEND,
                )
        except BaseException:
            files.remove()
            raise
        return files

    def remove(self) -> None:
        """Delete the directory and its files (nothing when there is none, or it is gone)."""
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
