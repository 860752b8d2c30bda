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

import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["FileReference", "find_file_reference", "normalize_file_path"]

_INCLUSION = re.compile(r"""@(?:"([^"]+)"|'([^']+)'|([^\t\n\f\r "']+))""")
"""``extractFileInclusions``; Go's ``\\s`` is ``[\\t\\n\\f\\r ]``, spelled out (Python's has more)."""

_IMAGE = re.compile(
    r""""([^"]+?\.(?i:jpg|jpeg|png|webp))"|'([^']+?\.(?i:jpg|jpeg|png|webp))'"""
    r"""|(?:[a-zA-Z]:[/\\]|[/\\]|\./)[^\n"']*?\.(?i:jpg|jpeg|png|webp)\b""",
    re.ASCII,  # Go's \b is an ASCII word boundary
)
"""``extractImagePaths``, character for character."""

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


def find_file_reference(prompt: str, cwds: Sequence[str]) -> FileReference | None:
    """The first token of ``prompt`` that names an existing file the CLI would read, or ``None``.

    A relative path counts when it exists in any of ``cwds`` (the directory ``docker`` runs in, and
    any other it could be taken for). An ``@`` token counts when it names anything but a directory
    (``os.ReadFile`` fails on one); an image path when it names anything (the CLI opens it, or fails).
    """
    for match in _INCLUSION.finditer(prompt):
        path = normalize_file_path(match.group(1) or match.group(2) or match.group(3))
        if any(mode is not None and not stat.S_ISDIR(mode) for mode in _modes(path, cwds)):
            return FileReference(match.group(0), path, "file")
    for match in _IMAGE.finditer(prompt):
        path = normalize_file_path(match.group(1) or match.group(2) or match.group(0))
        if any(mode is not None for mode in _modes(path, cwds)):
            return FileReference(match.group(0), path, "image")
    return None


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
