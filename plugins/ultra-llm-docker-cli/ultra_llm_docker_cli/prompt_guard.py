"""Find the prompt text that the one-shot ``docker model run`` would read a file for, before it runs.

The real CLI (docker/model-runner 642c721, ``cmd/cli/commands/images.go``, called from
``run.go:chatWithMarkdownContext``) rewrites the prompt it was given (our stdin, whole):

* ``processFileInclusions``: every ``@path``, ``@"path"`` or ``@'path'`` (``extractFileInclusions``)
  whose file ``os.ReadFile`` can read is replaced by the file's contents;
* ``processImagesInPrompt``: every quoted, absolute, ``./`` or drive-letter path ending in
  ``.jpg``/``.jpeg``/``.png``/``.webp`` (``extractImagePaths``) that exists is read and sent as an
  image (an existing but unreadable one makes ``run`` fail).

Both apply ``normalizeFilePath`` (shell-escape undoing, no home expansion) and resolve relative paths
against the ``docker`` process's working directory. ``find_file_reference`` mirrors both grammars
and decides with ``os.stat`` only: nothing is opened, so a FIFO or ``/dev/zero`` cannot hang us.
"""

from __future__ import annotations

import bisect
import os
import re
import stat
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

__all__ = ["IMAGE_PATH", "FileReference", "find_file_reference", "image_paths", "normalize_file_path"]

_INCLUSION = re.compile(r"""@(?:"([^"]+)"|'([^']+)'|([^\t\n\f\r "']+))""")
"""``extractFileInclusions``; Go's ``\\s`` is ``[\\t\\n\\f\\r ]``, spelled out (Python's has more)."""

IMAGE_PATH = re.compile(
    r""""([^"]+?\.(?i:jpg|jpeg|png|webp))"|'([^']+?\.(?i:jpg|jpeg|png|webp))'"""
    r"""|(?:[a-zA-Z]:[/\\]|[/\\]|\./)[^\n"']*?\.(?i:jpg|jpeg|png|webp)\b""",
    re.ASCII,  # Go's \b is an ASCII word boundary
)
"""``extractImagePaths``, character for character: the reference ``image_paths`` is checked against.
Not used on prompts: Python's backtracking engine takes quadratic time on it (20 000 ``/`` take
seconds), where Go's RE2 is linear."""

_CANDIDATE = re.compile(r"""(?=[a-zA-Z]:[/\\]|[/\\]|\./|["'])""")
"""Every position where one of ``IMAGE_PATH``'s alternatives can begin (overlapping)."""
_EXTENSION = re.compile(r"\.(?:jpg|jpeg|png|webp)\b", re.IGNORECASE | re.ASCII)
_BREAK = re.compile(r"""[\n"']""")
_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")

_ESCAPED = re.compile(r"""\\([ ()\[\]{}$&;'\\*?~])""")
"""The pairs ``normalizeFilePath``'s ``strings.NewReplacer`` undoes (each a backslash and one character)."""

_SHOWN = 120
"""Characters of a token quoted in an error message."""


@dataclass(frozen=True)
class FileReference:
    """A token the CLI would read a file for: ``kind`` is ``"file"`` (``@`` inclusion) or ``"image"``."""

    token: str
    path: str
    kind: str

    def shown(self) -> str:
        """The token as an error message quotes it (cut to a readable length)."""
        token = self.token if len(self.token) <= _SHOWN else self.token[: _SHOWN - 1] + "…"
        return repr(token)


def normalize_file_path(path: str) -> str:
    """``normalizeFilePath``: undo ``\\ ``, ``\\(`` ... ``\\~`` escapes, left to right."""
    return _ESCAPED.sub(r"\1", path)


def find_file_reference(prompt: str, cwds: Sequence[str], exempt: Collection[str] = ()) -> FileReference | None:
    """The first token of ``prompt`` that names an existing file the CLI would read, or ``None``.

    A relative path counts when it exists in any of ``cwds`` (the directory ``docker`` runs in, and
    any other it could be taken for). An ``@`` token counts when it names anything but a directory
    (``os.ReadFile`` fails on one); an image path when it names anything (the CLI opens it, or fails).
    ``exempt`` holds the paths of images the backend itself placed (``attachments``): the first
    unquoted image token that is exactly one of them does not count, once per path; the same path
    again, after ``@``, quoted or escaped still does.
    """
    cache: dict[str, list[int | None]] = {}  # each path is looked at once, however often it recurs

    def modes(path: str) -> list[int | None]:
        if path not in cache:
            cache[path] = _modes(path, cwds)
        return cache[path]

    for match in _INCLUSION.finditer(prompt):
        path = normalize_file_path(match.group(1) or match.group(2) or match.group(3))
        if any(mode is not None and not stat.S_ISDIR(mode) for mode in modes(path)):
            return FileReference(match.group(0), path, "file")
    placed = list(exempt)
    for token, raw in image_paths(prompt):
        if token in placed:
            placed.remove(token)
            continue
        path = normalize_file_path(raw)
        if any(mode is not None for mode in modes(path)):
            return FileReference(token, path, "image")
    return None


def image_paths(prompt: str) -> Iterator[tuple[str, str]]:
    """``(match, path)`` for each match of ``IMAGE_PATH`` (leftmost first, not overlapping), as
    ``extractImagePaths`` finds them, in linear time: a quoted path is the text up to the next same
    quote when it ends in an image extension; an unquoted one runs from its prefix (``C:/``, ``/``,
    ``\\``, ``./``) to the first extension before a newline or quote."""
    extensions = [(m.start(), m.end()) for m in _EXTENSION.finditer(prompt)]
    starts = [start for start, _ in extensions]
    position, next_break = 0, -1
    for candidate in _CANDIDATE.finditer(prompt):
        s = candidate.start()
        if s < position:
            continue
        char = prompt[s]
        if char in "\"'":
            close = prompt.find(char, s + 1)
            content = prompt[s + 1 : close]
            if close != -1 and any(content[-6:].lower().endswith(x) and len(content) > len(x) for x in _SUFFIXES):
                position = close + 1
                yield prompt[s:position], content
            continue
        body = s + (3 if char.isalpha() else 2 if char == "." else 1)
        if next_break < body:
            found = _BREAK.search(prompt, body)
            next_break = found.start() if found else len(prompt)
        index = bisect.bisect_left(starts, body)
        if index < len(extensions) and extensions[index][0] < next_break:
            position = extensions[index][1]
            yield prompt[s:position], prompt[s:position]


def _modes(path: str, cwds: Sequence[str]) -> list[int | None]:
    """``st_mode`` of ``path`` resolved against each of ``cwds`` (symlinks followed, as ``open``
    does); ``None`` where nothing is there to read (missing, a parent not searchable, a NUL byte)."""
    modes: list[int | None] = []
    for cwd in cwds:
        try:
            modes.append(os.stat(os.path.join(cwd, path)).st_mode)
        except (OSError, ValueError):
            modes.append(None)
    return modes
