"""Markdown for the ``ultra-llm`` command line, from its click commands: each command's help, usage
and options, as ``ultra-llm COMMAND --help`` shows them. It replaces mkdocs-click, so the committed
page reads as a plain file."""

from __future__ import annotations

import inspect

import click

__all__ = ["cli_reference"]

PROG = "ultra-llm"


def _options_table(command: click.Command, context: click.Context) -> str:
    rows = ["| Option | Meaning |", "|---|---|"]
    for parameter in command.get_params(context):
        record = parameter.get_help_record(context)
        if record is None:
            continue
        names, meaning = record
        if isinstance(parameter, click.Argument) and not meaning:
            continue  # shown in the usage line
        rows.append(f"| `{names}` | {_cell(meaning)} |")
    return "\n".join(rows) if len(rows) > 2 else ""


def _cell(text: str) -> str:
    escaped = " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace("`", "\\`") if escaped.count("`") % 2 else escaped


def _section(command: click.Command, path: list[str], parent: click.Context | None) -> list[str]:
    context = click.Context(command, info_name=path[-1], parent=parent, **command.context_settings)
    heading = "#" * min(2 + len(path) - 1, 4)
    usage = " ".join(command.collect_usage_pieces(context))
    help_text = inspect.cleandoc((command.help or "").replace("\b\n", ""))
    parts = [f"{heading} `{' '.join(path)}`\n", f"{help_text}\n", f"```\nUsage: {' '.join(path)} {usage}\n```\n"]
    table = _options_table(command, context)
    if table:
        parts.append(table + "\n")
    if isinstance(command, click.Group):
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            if sub is not None and not sub.hidden:
                parts += _section(sub, [*path, name], context)
    return parts


def cli_reference(cli: click.Group) -> str:
    """Every command of ``cli`` (and its subcommands), in the order ``--help`` lists them."""
    context = click.Context(cli, info_name=PROG, **cli.context_settings)
    parts = [f"```\nUsage: {PROG} {' '.join(cli.collect_usage_pieces(context))}\n```\n"]
    table = _options_table(cli, context)
    if table:
        parts.append(table + "\n")
    for name in cli.list_commands(context):
        command = cli.get_command(context, name)
        if command is not None and not command.hidden:
            parts += _section(command, [PROG, name], context)
    return "\n".join(part.rstrip() + "\n" for part in parts).rstrip() + "\n"
