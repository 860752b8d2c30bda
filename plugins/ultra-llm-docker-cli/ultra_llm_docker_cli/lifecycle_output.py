"""What ``docker model ps|df|unload`` print, read back. Pure functions.

Formats from docker/model-runner ``cmd/cli`` at 642c7211 (read, not copied); every table is
``newTable`` (``commands/utils.go:293-318``: no borders, left aligned, columns padded by spaces):

- ``ps``: header ``MODEL NAME  BACKEND  MODE  UNTIL`` (``commands/ps.go:35``); a name is shortened
  (``stripDefaultsFromModelName``, ``ps.go:38-43``: ``ai/`` and ``:latest`` dropped, an ID cut to 12
  hex); UNTIL is ``Loading...``, ``Forever``, ``<go-units HumanDuration> from now`` or ``Expiring``
  (``ps.go:57-80``).
- ``df``: header ``TYPE  SIZE``, rows ``Models`` and (when not 0) ``Inference engine``, sizes as
  ``units.CustomSize("%.2f%s", n, 1000.0, B kB MB GB ...)`` (``commands/df.go:32-37``).
- ``unload``: ``Unloaded N model(s).``, or ``No models are running.`` (``--all``) / ``No such model(s)
  running.`` when none was (``commands/unload.go:25-34``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ultra_llm.plugin import DiskUsage, RunningModel

from .parsers import parse_size, strip_ansi

__all__ = ["parse_df_table", "parse_ps_table", "parse_unloaded"]

_COLUMN = re.compile(r"\S+(?: \S+)*")
_UNLOADED = re.compile(r"^Unloaded (\d+) model\(s\)\.$")
_NONE_UNLOADED = ("No models are running.", "No such model(s) running.")


def _table(text: str, first: str) -> list[dict[str, str]]:
    """Rows of the table whose header starts with ``first``, cells cut at the header's column starts
    (a cell may hold spaces); lines before the header (a standalone runner's install) are skipped."""
    lines = [strip_ansi(line.rstrip("\r")) for line in text.splitlines()]
    at = next((i for i, line in enumerate(lines) if line.startswith(first)), None)
    if at is None:
        raise ValueError(f"no table starting with {first!r}")
    columns = [(m.start(), m.group(0)) for m in _COLUMN.finditer(lines[at])]
    rows: list[dict[str, str]] = []
    for line in lines[at + 1 :]:
        if not line.strip():
            continue
        cells = {}
        for index, (start, name) in enumerate(columns):
            end = columns[index + 1][0] if index + 1 < len(columns) else len(line)
            cells[name] = line[start:end].strip()
        rows.append(cells)
    return rows


def parse_ps_table(text: str, *, backend: str, canonical: Callable[[str], str]) -> list[RunningModel]:
    """``docker model ps`` as ``RunningModel`` rows; names made canonical where they are names."""
    rows: list[RunningModel] = []
    for cells in _table(text, "MODEL NAME"):
        shown = cells.get("MODEL NAME", "")
        if not shown:
            continue
        try:
            name = canonical(shown)
        except ValueError:  # InvalidModelNameError: keep what the CLI printed
            name = shown
        until = cells.get("UNTIL") or None
        rows.append(
            RunningModel(
                name=name,
                backend=backend,
                engine=cells.get("BACKEND") or None,
                mode=cells.get("MODE") or None,
                until=until,
                loading=until == "Loading...",
            )
        )
    return rows


def parse_df_table(text: str, *, backend: str) -> DiskUsage:
    """``docker model df``: the sizes in bytes (decimal units) and the rows as printed."""
    shown = tuple((cells.get("TYPE", ""), cells.get("SIZE", "")) for cells in _table(text, "TYPE"))
    sizes = dict(shown)
    engine = sizes.get("Inference engine")
    return DiskUsage(
        backend=backend,
        models_bytes=parse_size(sizes["Models"]) if "Models" in sizes else None,
        engine_bytes=parse_size(engine) if engine is not None else 0,  # df.go:35: left out when 0
        shown=shown,
    )


def parse_unloaded(text: str) -> int:
    """The count ``docker model unload`` printed (0 for its "none" lines); ``ValueError`` otherwise."""
    for line in strip_ansi(text).splitlines():
        line = line.strip()
        match = _UNLOADED.match(line)
        if match:
            return int(match.group(1))
        if line in _NONE_UNLOADED:
            return 0
    raise ValueError(f"`docker model unload` printed no count: {text.strip()[:200]!r}")
