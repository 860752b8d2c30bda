"""The docker double's ``docker model run`` prompt rewriting: docker/model-runner's
``cmd/cli/commands/images.go`` (commit 642c7211), as ``run.go:chatWithMarkdownContext`` (626-647)
applies it to every prompt, then the user message ``run.go:buildUserMessage`` (581-615) builds.

Where each step comes from (images.go unless named):

* ``include_files``: ``processFileInclusions`` (216-261; the token grammar of ``extractFileInclusions``,
  164-190); an image file is left for the next step (230-236).
* ``attach_images``: ``processImagesInPrompt`` (136-160): the ``extractImagePaths`` regex (37: quoted,
  absolute, ``./`` or drive-letter paths ending in .jpg/.jpeg/.png/.webp), ``normalizeFilePath``
  (61-79), a missing file skipped (143-145), any other failure ending ``run`` (146-147, wrapped as
  ``failed to process images: %w`` by ``run.go:640``), every occurrence of ``'p'`` and ``p`` (raw and
  normalized) removed from the text (151-154), the rest ``TrimSpace``d (159).
* ``read_image``: ``encodeImageToDataURL`` (83-132): 512 bytes read first (90-95, an empty file is
  ``EOF``), an image by content or else by extension (99-101, ``isImageFileByContentAndExtension``
  202-212), more than ``MaxImageSizeBytes`` (16: 100 MiB) is ``file size exceeds maximum limit (100
  MB)`` (108-111), then the ``data:<sniffed type>;base64,`` URL (126-129).
* A NUL in a path (it can come only through stdin): Go's ``syscall.ByteSliceFromString`` refuses it
  with ``EINVAL`` before any system call, so ``os.ReadFile`` fails and the ``@`` token is skipped
  (224-228), and ``os.Open`` in ``encodeImageToDataURL`` (84-87) fails with the ``*PathError``
  ``open <p>: invalid argument`` (the path as it is, NUL included), ending ``run`` with one line as
  above; ``%q`` quotes the path as Go does (``go_quote``: the NUL as ``\\x00``). Python raises
  ``ValueError`` there instead, which the double maps to those texts.
* ``user_message``: ``run.go:buildUserMessage``: the images as ``image_url`` parts first, then the
  text as a ``text`` part when not empty; a plain string without images.
* ``acknowledge``: not the CLI's: the double's answer starts with what it received, so a test can
  observe that images arrived as images (count, sniffed types, sizes).

Imported by ``fake_docker.py`` (stdlib only, cheap at import: ``re``, ``hashlib``, ``base64`` where used).
"""

from __future__ import annotations

import json
import os

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any


class RunFailure(Exception):
    """``run`` ends with exit code 1 after printing ``stderr`` (``main.go``: the error, once)."""

    def __init__(self, stderr: str) -> None:
        super().__init__(stderr)
        self.stderr = stderr


INCLUSION = r"""@(?:"([^"]+)"|'([^']+)'|([^\t\n\f\r "']+))"""
IMAGE_PATH = (
    r""""([^"]+?\.(?i:jpg|jpeg|png|webp))"|'([^']+?\.(?i:jpg|jpeg|png|webp))'"""
    r"""|(?:[a-zA-Z]:[/\\]|[/\\]|\./)[^\n"']*?\.(?i:jpg|jpeg|png|webp)\b"""
)
GO_SPACE = "[\t\n\f\r ]"  # Go's \s
MAX_IMAGE_BYTES = 100 * 1024 * 1024


def normalize_file_path(path: str) -> str:
    """``normalizeFilePath``: undo the shell escapes ``\\ ``, ``\\(`` ... ``\\~`` (left to right)."""
    import re

    return re.sub(r"""\\([ ()\[\]{}$&;'\\*?~])""", r"\1", path)


def sniff(head: bytes) -> str:
    """A cut-down ``http.DetectContentType`` (Go ``net/http/sniff.go``): its PNG, JPEG, GIF, BMP and WebP
    signatures, else text or octet-stream."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"BM"):
        return "image/bmp"
    if head.startswith(b"RIFF") and head[8:14] == b"WEBPVP":
        return "image/webp"
    binary = any(b < 0x20 and b not in b"\t\n\x0c\r\x1b" for b in head)
    return "application/octet-stream" if binary else "text/plain; charset=utf-8"


def is_image(head: bytes, path: str) -> bool:
    """``isImageFileByContentAndExtension``: the sniffed type, or else the extension."""
    kinds = ("image/jpeg", "image/jpg", "image/png", "image/webp")
    return sniff(head) in kinds or path.lower().endswith((".jpg", ".jpeg", ".png", ".webp"))


def go_expand(template: str, groups: list[str | None]) -> str:
    """Go's ``Regexp.Expand`` of a ``ReplaceAllString`` template: ``$$`` is ``$``; ``$n``, ``${n}``
    and ``$name`` are group n (empty when there is none: these regexes name no group)."""
    import re

    out, i = [], 0
    while True:
        j = template.find("$", i)
        if j < 0:
            out.append(template[i:])
            return "".join(out)
        out.append(template[i:j])
        rest = template[j + 1 :]
        if rest.startswith("$"):
            out.append("$")
            i = j + 2
            continue
        m = re.match(r"\{(\w+)\}|(\w+)", rest, re.ASCII)
        if m is None:
            out.append("$")  # malformed: the $ stays
            i = j + 1
            continue
        name = m.group(1) or m.group(2)
        if name.isdigit() and int(name) < len(groups):
            out.append(groups[int(name)] or "")
        i = j + 1 + m.end()


def include_files(prompt: str) -> str:
    """``processFileInclusions``: each readable, non-image ``@`` file's contents replace its token."""
    import re

    for match in re.finditer(INCLUSION, prompt):
        path = match.group(1) or match.group(2) or match.group(3)
        nfp = normalize_file_path(path)
        try:
            with open(nfp, "rb") as f:  # os.ReadFile: a FIFO blocks here, /dev/zero never ends
                content = f.read()
        except (OSError, ValueError):  # ValueError: a NUL in the path, Go's EINVAL; skipped (224-228)
            continue
        if is_image(content[:512], nfp):
            continue
        text = content.decode("utf-8", errors="replace")
        for quoted in (re.escape(path), re.escape(nfp)):
            for pattern, template in (
                ('@"' + quoted + '"', text),
                ("@'" + quoted + "'", text),
                ("(@" + quoted + ")(" + GO_SPACE + "|\\Z)", text + "$2"),
            ):
                prompt = go_replace_all(pattern, template, prompt)
    return prompt


def go_replace_all(pattern: str, template: str, text: str) -> str:
    """Go's ``Regexp.ReplaceAllString``: each match replaced by ``template``, expanded (``go_expand``)."""
    import re

    def expand(match: re.Match[str]) -> str:
        return go_expand(template, [match.group(0), *match.groups()])

    return re.sub(pattern, expand, text)


def attach_images(prompt: str) -> tuple[str, list[dict[str, Any]]]:
    """``processImagesInPrompt``: the prompt without the image paths it read, and those images."""
    import re

    images: list[dict[str, Any]] = []
    for match in re.finditer(IMAGE_PATH, prompt, re.ASCII):
        path = match.group(1) or match.group(2) or match.group(0)
        nfp = normalize_file_path(path)
        try:
            data = read_image(nfp)
        except FileNotFoundError:
            continue  # a false positive of the regex
        except (OSError, ValueError) as e:
            reason = str(e)
            if isinstance(e, ValueError):  # a NUL in the path: Go's os.Open fails with EINVAL (84-87)
                reason = f"open {nfp}: invalid argument"  # *PathError: the path as it is, NUL and all
            elif e.strerror:  # Go's *PathError: a directory opens, then fails to read
                op = "read" if isinstance(e, IsADirectoryError) else "open"
                reason = f"{op} {nfp}: {e.strerror.lower()}"
            raise RunFailure(
                "Failed to generate a response: failed to process images: "
                f"couldn't process image {go_quote(nfp)}: {reason}\n",
            ) from None
        for old in ("'" + nfp + "'", "'" + path + "'", nfp, path):
            prompt = prompt.replace(old, "")
        images.append(data)
    return prompt.strip(), images


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string (``strconv.Quote``) for the paths seen here: ``\\"`` and ``\\\\``, the named
    escapes (``\\n`` ...), other ASCII controls as ``\\xNN``; printable text as it is."""
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
    out = []
    for char in text:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char in named:
            out.append(named[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def read_image(path: str) -> dict[str, Any]:
    """``encodeImageToDataURL``, with Go's error texts (``read <p>: is a directory``, ``EOF`` ...)."""
    import base64
    import hashlib

    with open(path, "rb") as f:  # a directory opens fine in Go; Python refuses: same text either way
        head = f.read(512)
        if not head:
            raise OSError("EOF")
        if not is_image(head, path):
            raise OSError(f"invalid image type for file: {path}")
        size = os.fstat(f.fileno()).st_size
        if size > MAX_IMAGE_BYTES:
            raise OSError(f"file size exceeds maximum limit ({MAX_IMAGE_BYTES // (1024 * 1024)} MB)")
        data = head + f.read()
    url = f"data:{sniff(head)};base64,{base64.b64encode(data).decode('ascii')}"  # images.go:126-129
    digest = hashlib.sha256(data).hexdigest()
    return {"path": path, "bytes": len(data), "sha256": digest, "type": sniff(head), "url": url}


def rewrite_prompt(prompt: str, state: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """What ``chatWithMarkdownContext`` sends: files included, then images cut out; logged."""
    text, images = attach_images(include_files(prompt))
    log = state.get("prompt_log")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            record = {"text": text, "images": images, "message": user_message(text, images), "pid": os.getpid()}
            fh.write(json.dumps(record) + "\n")
    return text, images


def user_message(text: str, images: list[dict[str, Any]]) -> dict[str, Any]:
    """``run.go:buildUserMessage`` (581-615): the user message ``run`` sends (images first, as data URLs)."""
    if not images:
        return {"role": "user", "content": text}
    content: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": image["url"]}} for image in images]
    if text:
        content.append({"type": "text", "text": text})
    return {"role": "user", "content": content}


def acknowledge(images: list[dict[str, Any]]) -> str:
    """The double's acknowledgement of the images it received, put before its answer:
    ``[2 images received: image/png 68 bytes, image/jpeg 120 bytes]``."""
    described = ", ".join(f"{image['type']} {image['bytes']} bytes" for image in images)
    return f"[{len(images)} image{'s' if len(images) != 1 else ''} received: {described}]"
