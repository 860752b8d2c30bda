"""Shared output helpers: JSON, tables, one-line errors, progress rendering."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from ..errors import UltraLLMError

if TYPE_CHECKING:
    from ..types import Progress


def print_error(error: UltraLLMError) -> None:
    """Print ``error`` as one clear line on stderr (backend output, when any, on the next lines)."""
    click.secho(f"Error: {error}", fg="red", err=True)


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON."""
    click.echo(json.dumps(data, indent=2, default=str))


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a left-aligned table padded with spaces, Docker style."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip())


def _human_bytes(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1000
    return f"{count:.1f} GB"


class ProgressBar:
    """Renders ``Progress`` events: a redrawn bar on a terminal, plain lines (throttled) elsewhere."""

    def __init__(self, label: str, *, width: int = 30) -> None:
        self.label = label
        self.width = width
        self.tty = sys.stderr.isatty()
        self._last_line = 0.0
        self._drawn = False

    def __call__(self, event: Progress) -> None:
        if event.total and event.completed is not None:
            fraction = min(max(event.completed / event.total, 0.0), 1.0)
            filled = int(fraction * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            text = f"{self.label} [{bar}] {fraction:6.1%} {_human_bytes(event.completed)}/{_human_bytes(event.total)}"
        else:
            text = f"{self.label}: {event.message}"
        if self.tty:
            click.echo("\r\x1b[2K" + text, nl=False, err=True)
            self._drawn = True
        else:
            now = time.monotonic()
            if event.status != "progress" or now - self._last_line >= 1.0:
                self._last_line = now
                click.echo(text, err=True)
        if event.status == "success":
            self.finish(event.message)

    def finish(self, message: str = "") -> None:
        """End the bar's line and print ``message``."""
        if self.tty and self._drawn:
            click.echo("", err=True)
            self._drawn = False
        if message:
            click.echo(message, err=True)
