"""``generate`` and ``embed``."""

from __future__ import annotations

import sys
from typing import TextIO

import click

from ..options import parse_option_pairs
from .commands_models import backend_option, open_adapter
from .context import _Context, handle_errors, pass_context, run_async
from .output import echo_json
from .terminal import for_stream


def _read_prompt(prompt: str) -> str:
    if prompt == "-":
        return sys.stdin.read()
    return prompt


@click.command()
@click.argument("prompt", required=False)
@click.option(
    "--batch",
    "batch_file",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help="Answer every prompt in this file instead (one a line, or JSONL); same as `ultra-llm batch`.",
)
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="With --batch: prompts in flight.",
)
@click.option("--model", "-m", default=None, help="Model (default: DEFAULT_MODEL).")
@backend_option
@click.option("--stream/--no-stream", "-s", default=False, help="Print the answer as it arrives.")
@click.option(
    "--option",
    "-o",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="A backend option, repeatable (e.g. -o temperature=0 -o max_tokens=8).",
)
@click.option("--system", default=None, help="A system prompt put before the prompt.")
@click.option("--reasoning", is_flag=True, help="Also print a reasoning model's thinking (to stderr).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON (not with --stream).")
@pass_context
@handle_errors
def generate(
    ctx: _Context,
    prompt: str | None,
    batch_file: TextIO | None,
    concurrency: int,
    model: str | None,
    backend: str | None,
    stream: bool,
    options: tuple[str, ...],
    system: str | None,
    reasoning: bool,
    as_json: bool,
) -> None:
    """Generate an answer to PROMPT ('-' reads it from stdin; use -- before a prompt starting with '-')."""
    if (prompt is None) == (batch_file is None):
        raise click.UsageError("Give either PROMPT or --batch FILE.")
    if batch_file is not None:
        from .commands_batch import batch

        click.get_current_context().invoke(
            batch,
            file=batch_file,
            concurrency=concurrency,
            model=model,
            backend=backend,
            options=options,
            system=system,
            output=sys.stdout,
            progress=True,
        )
        return
    assert prompt is not None
    text = _read_prompt(prompt)
    parsed = parse_option_pairs(options)
    if system:
        parsed["system_message"] = system

    shown = for_stream(sys.stdout)  # a model's escape sequences are shown, not obeyed, on a terminal
    shown_err = for_stream(sys.stderr)

    async def run() -> None:
        async with await open_adapter(ctx, backend, model) as adapter:
            if not stream:
                result = await adapter.complete(text, **parsed)
                if as_json:
                    echo_json(result.to_dict())
                    return
                if reasoning and result.reasoning:
                    click.secho(shown_err(result.reasoning), dim=True, err=True)
                click.echo(shown(result.text), color=True)  # color: click would strip ANSI from a pipe
                return
            ended_with_newline = True
            try:
                async for chunk in adapter.stream(text, **parsed):
                    if chunk.kind == "reasoning":
                        if reasoning:
                            click.secho(shown_err(chunk.text), dim=True, err=True, nl=False)
                        continue
                    if chunk.text:
                        click.echo(shown(chunk.text), nl=False, color=True)
                        sys.stdout.flush()
                        ended_with_newline = chunk.text.endswith("\n")
            finally:  # an answer cut short by an error or Ctrl-C still ends its line
                if not ended_with_newline:
                    click.echo()

    run_async(run())


@click.command()
@click.argument("texts", nargs=-1, required=True)
@click.option("--model", "-m", default=None, help="Model (default: DEFAULT_MODEL).")
@backend_option
@pass_context
@handle_errors
def embed(ctx: _Context, texts: tuple[str, ...], model: str | None, backend: str | None) -> None:
    """Embed TEXTS and print the vectors as JSON."""

    async def run() -> None:
        async with await open_adapter(ctx, backend, model) as adapter:
            result = await adapter.embed([_read_prompt(t) for t in texts])
            echo_json({"model": result.model, "backend": result.backend, "vectors": [list(v) for v in result.vectors]})

    run_async(run())


COMMANDS = [generate, embed]
