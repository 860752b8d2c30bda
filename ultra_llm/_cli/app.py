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


def _configure_logging(debug: bool) -> None:
    """ultra-llm's warnings (with ``debug``: every library's log) to stderr, URL credentials masked."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        _TerminalFormatter("Warning: %(message)s" if not debug else "%(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("ultra_llm")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
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
