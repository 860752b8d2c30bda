"""The family's reliability fixtures: ``processes``, this process's children, zombies, descriptors and
memory read from ``/proc`` (what the kernel suite's own reliability helpers read; this suite imports
nothing from the repository's root ``tests``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class ProcessSnapshot:
    """Children, zombies, descriptors and RSS at one moment."""

    children: tuple[int, ...]
    zombies: tuple[int, ...]
    fds: int
    rss: int


class Processes:
    """Reads ``/proc``: children (zombies included) of a process, unreaped ones, and snapshots."""

    @staticmethod
    def _stat_fields(pid: str) -> list[str] | None:
        """Fields of ``/proc/<pid>/stat`` after the command name (state first, then ppid ...)."""
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        return text.rsplit(")", 1)[1].split()

    def child_pids(self, parent: int | None = None) -> list[int]:
        """PIDs whose parent is ``parent`` (default: this process), zombies included."""
        me = str(os.getpid() if parent is None else parent)
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                fields = self._stat_fields(entry)
                if fields is not None and fields[1] == me:
                    found.append(int(entry))
        return sorted(found)

    def zombie_children(self, parent: int | None = None) -> list[int]:
        """Children of ``parent`` (default: this process) that exited and were never reaped."""
        zombies = []
        for pid in self.child_pids(parent):
            fields = self._stat_fields(str(pid))
            if fields is not None and fields[0] == "Z":
                zombies.append(pid)
        return zombies

    def snapshot(self) -> ProcessSnapshot:
        """This process's children, zombies, open descriptors and resident set size, in that order."""
        return ProcessSnapshot(tuple(self.child_pids()), tuple(self.zombie_children()), self._fds(), self._rss())

    @staticmethod
    def _fds() -> int:
        """How many file descriptors this process has open."""
        return len(os.listdir("/proc/self/fd"))

    @staticmethod
    def _rss() -> int:
        """This process's resident set size in bytes (``VmRSS``)."""
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS in /proc/self/status")


@pytest.fixture
def processes() -> Processes:
    """This process's children, zombies, descriptors and memory (``Processes``)."""
    return Processes()
