"""Message content parts: text and images, in the OpenAI chat shape.

A message's content is a string or a tuple of parts. An image is held as its bytes and media type,
whether it came as a ``data:`` URL (the OpenAI shape Ultra sends) or a file read here; each backend
sends it its own way (a data URL over HTTP, a file path to a command line). Remote
``http(s)`` image URLs are refused: the engine would fetch them itself (llama.cpp
``tools/server/server-common.cpp`` ``validate_image_url``), and a local engine must not be made to
reach the network by a prompt.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._files import read_regular_file
from ._text import preview
from .errors import InvalidOptionsError

__all__ = ["MAX_IMAGE_BYTES", "ContentPart", "ImagePart", "TextPart", "image_media_type", "to_part"]

MAX_IMAGE_BYTES = 12 * 1_048_576
"""The largest image file read (``ImagePart.from_file``, the CLI's ``--attach``) and the largest a
web request's data URL may carry: above a local server's usual 10 MiB request cap, so that cap's
own error speaks for the images between."""

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)
"""The image formats llama.cpp decodes (``tools/mtmd/mtmd-helper.cpp`` hands the bytes to
``stbi_load_from_memory``; of stb_image's formats, these four are the ones cameras and browsers
write), by their first bytes. WebP and HEIC are not among them."""

_FIX = "Attach a PNG, JPEG, GIF or BMP image, as a file or a data:image/...;base64 URL."


def image_media_type(data: bytes) -> str | None:
    """The media type of an image llama.cpp can decode, from its first bytes; ``None`` otherwise."""
    for signature, media_type in _SIGNATURES:
        if data.startswith(signature):
            return media_type
    return None


@dataclass(frozen=True)
class TextPart:
    """A text part of a message."""

    text: str

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI wire shape."""
        return {"type": "text", "text": self.text}


@dataclass(frozen=True)
class ImagePart:
    """An image in a message: its bytes and media type (sniffed from the bytes, never trusted from a
    name or URL), and the file name it came from when it came from a file."""

    data: bytes = field(repr=False)
    media_type: str
    filename: str | None = None

    def __post_init__(self) -> None:
        sniffed = image_media_type(self.data)
        if sniffed is None:
            raise InvalidOptionsError(f"{self._label()} is not an image llama.cpp can read.", fix=_FIX)
        object.__setattr__(self, "media_type", sniffed)

    def _label(self) -> str:
        return f"Attachment '{self.filename}'" if self.filename else "The image"

    @classmethod
    def from_bytes(cls, data: bytes, filename: str | None = None) -> ImagePart:
        """An image from its bytes; ``InvalidOptionsError`` unless they are PNG, JPEG, GIF or BMP."""
        return cls(bytes(data), image_media_type(data) or "", filename)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ImagePart:
        """Read an image file now; ``InvalidOptionsError`` when it cannot be read, is not a regular
        file (a FIFO, a device, a directory), is over ``MAX_IMAGE_BYTES`` or is not an image."""
        name = os.fspath(path)
        try:
            data = read_regular_file(
                name, limit=MAX_IMAGE_BYTES, what="The image", fix="Attach a smaller image (resize or recompress it)."
            )
        except OSError as exc:
            raise InvalidOptionsError(
                f"Cannot read the image '{name}': {exc.strerror or exc}.", fix="Check the path and its permissions."
            ) from exc
        return cls.from_bytes(data, filename=name)

    @classmethod
    def from_url(cls, url: str) -> ImagePart:
        """An image from a ``data:image/...;base64,...`` URL; any other URL is refused."""
        header, comma, payload = url.partition(",")
        if not url.startswith("data:"):
            raise InvalidOptionsError(
                f"Image URLs must be data: URLs, got {url[:40]!r}: the engine would fetch a remote URL itself.",
                fix="Download the image and attach the file, or send it as data:image/png;base64,... .",
            )
        if not comma or not header.endswith(";base64"):
            raise InvalidOptionsError("An image data: URL must be base64 (data:image/png;base64,...).", fix=_FIX)
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidOptionsError("An image data: URL holds text that is not base64.", fix=_FIX) from exc
        return cls.from_bytes(data)

    def data_url(self) -> str:
        """The image as a ``data:`` URL (what the OpenAI API and llama-server take)."""
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode('ascii')}"

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI wire shape, the image inline as a data URL."""
        return {"type": "image_url", "image_url": {"url": self.data_url()}}

    def describe(self) -> str:
        """One line for logs and summaries: name or media type and size, never the bytes."""
        return f"{self.filename or self.media_type} ({len(self.data)} bytes)"


ContentPart = TextPart | ImagePart


def to_part(item: ContentPart | str | Mapping[str, Any]) -> ContentPart:
    """A content part from a part object, a string (a text part) or an OpenAI mapping (``{"type":
    "text", "text": ...}``, ``{"type": "image_url", "image_url": {"url": "data:..."}}``);
    ``ValueError`` for anything else."""
    if isinstance(item, (TextPart, ImagePart)):
        return item
    if isinstance(item, str):
        return TextPart(item)
    if not isinstance(item, Mapping):
        raise ValueError(f"a content part must be a mapping or a part, got {type(item).__name__}")
    kind = item.get("type")
    if kind == "text" and isinstance(item.get("text"), str):
        return TextPart(item["text"])
    if kind == "image_url":
        image = item.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        if isinstance(url, str):
            return ImagePart.from_url(url)
    raise ValueError(f"unknown content part {preview(item)}: expected type 'text' or 'image_url'")
