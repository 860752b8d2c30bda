"""Shared output helpers: JSON, tables, one-line errors, progress rendering."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import click

from ..errors import UltraLLMError
from .terminal import neutralise

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar


def print_error(error: UltraLLMError) -> None:
    """Print ``error`` as one clear line on stderr (backend output, when any, on the next lines).

    Its control characters (a server's or a model's escape sequences quoted in it) are shown as
    ``\\xNN`` text wherever stderr goes: an error line is read by a person, never parsed.
    """
    click.secho(f"Error: {neutralise(str(error))}", fg="red", err=True)


def print_warning(text: str) -> None:
    """Print ``text`` as a warning line on stderr, its control characters shown as ``\\xNN``."""
    click.secho(neutralise(text), fg="yellow", err=True)


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON."""
    click.echo(json.dumps(data, indent=2, default=str))


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a left-aligned table padded with spaces, like `ls -l`."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip())


def yes_no(value: bool | None, unknown: str = "") -> str:
    """A capability a server may or may not report: ``yes``, ``no``, or ``unknown`` when it did not say."""
    return unknown if value is None else ("yes" if value else "no")


def _human_bytes(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1000
    return f"{count:.1f} GB"


class ProgressDisplay:
    """The CLI's one progress display, on stderr: click's progress bar on a terminal; elsewhere a
    plain line at most once a second (the first and the last always), so logs stay readable.

    ``update(done, total)`` counts items, or bytes with ``unit="bytes"``; with no total yet only
    ``note`` is shown. ``finish()`` ends the bar's line.
    """

    def __init__(
        self,
        label: str,
        *,
        unit: Literal["items", "bytes"] = "items",
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.unit = unit
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.clock = clock
        self._bar: ProgressBar[str] | None = None
        self._last_line: float | None = None

    def _counts(self, done: int, total: int) -> str:
        counts = f"{_human_bytes(done)}/{_human_bytes(total)}" if self.unit == "bytes" else f"{done}/{total}"
        return f"{counts} ({min(done / total, 1.0):.1%})"

    def update(self, done: int, total: int | None, note: str = "") -> None:
        """Show ``done`` of ``total`` (``None``: not known yet) and ``note``."""
        counts = self._counts(done, total) if total else ""
        shown = ", ".join(part for part in (counts, note) if part)
        if self.tty and total:
            bar = self._bar
            if bar is None or bar.length != total:
                self.finish()
                bar = self._bar = click.progressbar(
                    length=total, label=self.label, file=sys.stderr, show_pos=False, item_show_func=lambda item: item
                )
                bar._is_atty = True  # the caller decided it is a terminal (click asks the file itself)
            bar.update(max(done - bar.pos, 0), shown)
            return
        now = self.clock()
        final = total is not None and done >= total
        if self._last_line is None or final or now - self._last_line >= 1.0:
            self._last_line = now
            click.echo(f"{self.label}: {shown}", err=True)

    def finish(self, message: str = "") -> None:
        """End the bar's line (on a terminal) and print ``message``."""
        if self._bar is not None:
            self._bar.render_finish()
            self._bar = None
        if message:
            click.echo(message, err=True)
