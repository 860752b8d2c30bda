"""The click group: global flags and the command modules it gathers."""

from __future__ import annotations

import errno
import logging
from typing import Any

import click

from .._redact import RedactingFilter
from . import (
    commands_batch,
    commands_generate,
    commands_info,
    commands_lifecycle,
    commands_models,
    commands_serve,
    doctor,
)
from .context import _Context, fail
from .terminal import neutralise


class _TerminalFormatter(logging.Formatter):
    """A log line for stderr: its control characters (a server's text quoted in it) shown as ``\\xNN``."""

    def format(self, record: logging.LogRecord) -> str:
        return neutralise(super().format(record))


class _ReportFormatter(_TerminalFormatter):
    """Without ``--debug``: a warning as ``Warning: ...``; an INFO record, a report the user turned on
    (``ULTRA_LLM_METRICS=1``: the call's metrics), as ``NAME: ...``, NAME its logger's below ``ultra_llm``."""

    def __init__(self) -> None:
        super().__init__("Warning: %(message)s")
        self._report = _TerminalFormatter("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno >= logging.WARNING:
            return super().format(record)
        shown = logging.makeLogRecord({**record.__dict__, "name": record.name.removeprefix("ultra_llm.")})
        return self._report.format(shown)


def _configure_logging(debug: bool) -> None:
    """ultra-llm's log to stderr, URL credentials masked: its warnings, and the INFO lines its loggers
    (``ultra_llm`` and below) write for the user, plugins' included (the metrics plugin's one line per
    call), never on stdout; with ``debug`` every library's log at DEBUG instead."""
    handler = logging.StreamHandler()
    handler.setFormatter(_TerminalFormatter("%(levelname)s %(name)s: %(message)s") if debug else _ReportFormatter())
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("ultra_llm")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False
    if debug:  # every library's log too (the HTTP backend's retries, for one)
        every = logging.StreamHandler()
        every.setFormatter(_TerminalFormatter("%(levelname)s %(name)s: %(message)s"))
        every.addFilter(RedactingFilter())
        logging.basicConfig(level=logging.DEBUG, handlers=[every])


class _Group(click.Group):
    """The root group: whatever a command lets escape ends as one line and an exit status (``fail``),
    a plugin's command too; click's own exits, EOF and a closed stdout are left to click."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, EOFError):
            raise
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise
            fail(exc, debug=bool(ctx.params.get("debug")))
        except Exception as exc:
            fail(exc, debug=bool(ctx.params.get("debug")))


def build_cli() -> click.Group:
    """Build the ``ultra-llm`` command group."""

    @click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
    @click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
    @click.option("--trace-hooks", is_flag=True, help="Print every plugin hook call (pluggy tracing) to stderr.")
    @click.version_option(package_name="ultra-llm")
    @click.pass_context
    def cli(ctx: click.Context, debug: bool, trace_hooks: bool) -> None:
        """Local LLMs through pluggable backends: inspect plugins and backends, list models, generate.

        Prompts that start with '-' go after '--' (ultra-llm generate -- "-x") or on stdin ('-').
        """
        _configure_logging(debug)
        ctx.obj = _Context(debug, trace_hooks)

    for module in (
        commands_info,
        commands_models,
        commands_lifecycle,
        commands_generate,
        commands_batch,
        commands_serve,
        doctor,
    ):
        for command in module.COMMANDS:
            cli.add_command(command)
    from .._host import get_host

    get_host().hooks.register_commands(cli)
    return cli
