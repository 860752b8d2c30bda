"""Files a caller names (an image to attach, a schema or tools file): a regular file only, read with a bound.

A FIFO would block the read until someone writes, a device such as ``/dev/zero`` never ends, and a
huge file would be in memory before any size check could see it. So the kind and size are checked
first (``stat``, which opens nothing), checked again on the opened file (the path may have changed
in between), and at most ``limit + 1`` bytes are read, so a file that grew meanwhile is still caught.
"""

from __future__ import annotations

import os
import stat

from .errors import InvalidOptionsError

__all__ = ["read_regular_file"]

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
"""``O_NONBLOCK``: opening a FIFO put in the path's place after the ``stat`` returns at once."""


def _size_text(count: int) -> str:
    return f"{count / 1_048_576:.3g} MiB" if count >= 1_048_576 else f"{count} bytes"


def _check(mode: int, size: int, path: str, what: str, limit: int, fix: str) -> None:
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise InvalidOptionsError(
            f"{what} '{path}' is {kind}, not a regular file.", fix="Pass the path of a regular file."
        )
    if size > limit:
        raise InvalidOptionsError(f"{what} '{path}' is over the {_size_text(limit)} limit.", fix=fix)


def read_regular_file(path: str, *, limit: int, what: str, fix: str) -> bytes:
    """The bytes of the regular file at ``path``. ``InvalidOptionsError`` (exit status 2), naming
    ``what``, for a path that is not a regular file (directory, FIFO, device, socket) or a file over
    ``limit`` bytes (``fix`` says what to do then); an ``OSError`` (missing, no permission) is the
    caller's to word. Never blocks on a FIFO, never reads more than ``limit + 1`` bytes."""
    if "\0" in path:  # os.stat would raise ValueError: no file name holds one
        raise InvalidOptionsError(f"{what} path {path!r} holds a NUL character.", fix="Check the path.")
    info = os.stat(path)
    _check(info.st_mode, info.st_size, path, what, limit, fix)
    fd = os.open(path, _OPEN_FLAGS)
    with os.fdopen(fd, "rb", buffering=0) as handle:
        info = os.fstat(fd)
        _check(info.st_mode, info.st_size, path, what, limit, fix)
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = handle.read(min(left, 1_048_576))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    data = b"".join(chunks)
    _check(stat.S_IFREG, len(data), path, what, limit, fix)
    return data
