"""Helpers for the reliability tests: this process's children, zombies, descriptors and memory."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcessSnapshot", "child_pids", "open_fds", "rss_bytes", "snapshot", "zombie_children"]


def _stat_fields(pid: str) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (state first, then ppid ...)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def child_pids(parent: int | None = None) -> list[int]:
    """PIDs whose parent is ``parent`` (default: this process), zombies included."""
    me = str(os.getpid() if parent is None else parent)
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(entry)
            if fields is not None and fields[1] == me:
                found.append(int(entry))
    return sorted(found)


def zombie_children(parent: int | None = None) -> list[int]:
    """Children of ``parent`` (default: this process) that exited and were never reaped."""
    zombies = []
    for pid in child_pids(parent):
        fields = _stat_fields(str(pid))
        if fields is not None and fields[0] == "Z":
            zombies.append(pid)
    return zombies


def open_fds() -> int:
    """How many file descriptors this process has open."""
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    """This process's resident set size in bytes (``VmRSS``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def cmdline(pid: int) -> str:
    """A process's command line, arguments joined by spaces ("" if it is gone)."""
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    return ""


@dataclass(frozen=True)
class ProcessSnapshot:
    """Children, zombies, descriptors and RSS at one moment."""

    children: tuple[int, ...]
    zombies: tuple[int, ...]
    fds: int
    rss: int


def snapshot() -> ProcessSnapshot:
    """The current ``ProcessSnapshot`` of this process."""
    return ProcessSnapshot(tuple(child_pids()), tuple(zombie_children()), open_fds(), rss_bytes())
