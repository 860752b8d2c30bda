"""The click group: global flags and the command modules it gathers."""

from __future__ import annotations

import logging

import click

from ..redact import RedactingFilter
from . import (
    commands_batch,
    commands_generate,
    commands_info,
    commands_lifecycle,
    commands_models,
    commands_serve,
    doctor,
)
from .context import _Context


def _configure_logging(debug: bool) -> None:
    """ultra-llm's warnings (with ``debug``: every library's log) to stderr, URL credentials masked."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("Warning: %(message)s" if not debug else "%(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("ultra_llm")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    logger.propagate = False
    if debug:  # every library's log too (the HTTP backend's retries, for one)
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
        for root_handler in logging.getLogger().handlers:
            root_handler.addFilter(RedactingFilter())


def build_cli() -> click.Group:
    """Build the ``ultra-llm`` command group."""

    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    from ..host import get_host

    get_host().hooks.register_commands(cli)
    return cli
