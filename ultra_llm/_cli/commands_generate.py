"""``generate`` and ``embed``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TextIO

import click

from .._options import parse_option_pairs
from .commands_models import OPTION_VALUE_HELP, backend_option
from .context import _Context, command_adapter, handle_errors, pass_context, run_async
from .output import echo_json
from .terminal import for_stream

if TYPE_CHECKING:
    from .._batch import BatchItem
    from .._fan_out import FanOutEvent
    from .._types import Choice, Chunk, Fallback, Result


def _read_prompt(prompt: str) -> str:
    """``prompt``, or stdin's text for ``-``, less exactly one trailing newline (``\\n`` or ``\\r\\n``:
    what ``echo`` and an editor end a file with); a prompt given as an argument is kept as written."""
    if prompt != "-":
        return prompt
    text = sys.stdin.read()
    if text.endswith("\n"):
        text = text[:-2] if text.endswith("\r\n") else text[:-1]
    return text


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
    help="With --batch or several -m: generations in flight.",
)
@click.option(
    "--model",
    "-m",
    "models",
    multiple=True,
    help="Model (default: DEFAULT_MODEL); repeat it to ask several models, each answer under its name "
    "(scheduled around model loads, ULTRA_LLM_MODELS_HELD).",
)
@backend_option
@click.option("--stream/--no-stream", "-s", default=False, help="Print the answer as it arrives.")
@click.option(
    "--option",
    "-o",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help=f"A backend option, {OPTION_VALUE_HELP}",
)
@click.option("--system", default=None, help="A system prompt put before the prompt.")
@click.option(
    "--fallback-model",
    "fallback_models",
    multiple=True,
    metavar="MODEL",
    help="A model to try when the model cannot answer (not found, its servers down or overloaded, the prompt "
    "past its context), repeatable, in order; replaces ULTRA_LLM_MODEL_FALLBACKS for this call.",
)
@click.option(
    "--conversation",
    default=None,
    metavar="ID",
    help="The id of the conversation this prompt continues: a backend with several servers keeps it on one "
    "(the server reuses its cache).",
)
@click.option(
    "--schema",
    default=None,
    metavar="JSON_OR_FILE",
    help="Answer in JSON following this JSON Schema (or OpenAI response_format), inline or a file; "
    "prints the parsed answer.",
)
@click.option(
    "--attach",
    "-a",
    "attachments",
    multiple=True,
    metavar="FILE",
    help="Attach an image (PNG, JPEG, GIF, BMP) to the prompt, repeatable.",
)
@click.option(
    "--tools",
    "tools_file",
    default=None,
    metavar="FILE",
    help="A JSON file listing OpenAI tool definitions the model may call; prints the calls as JSON.",
)
@click.option(
    "--tool-choice",
    default=None,
    metavar="auto|none|required|NAME",
    help="With --tools: whether the model must call a tool, may, must not, or must call this one.",
)
@click.option(
    "--reasoning/--no-reasoning",
    default=None,
    help="Ask a reasoning model to think (its thinking printed to stderr) or not to; default: the model's.",
)
@click.option(
    "--reasoning-budget",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="The most tokens a reasoning model may think for (0: none).",
)
@click.option(
    "--timeout",
    type=float,
    default=None,
    metavar="SECONDS",
    help="Seconds the whole call may take, instead of ULTRA_LLM_TIMEOUT (above 0).",
)
@click.option("--show-reasoning", is_flag=True, help="Print a reasoning model's thinking (to stderr).")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the whole result as JSON, tool calls and parsed answer included."
)
@pass_context
@handle_errors
def generate(
    ctx: _Context,
    prompt: str | None,
    batch_file: TextIO | None,
    concurrency: int,
    models: tuple[str, ...],
    backend: str | None,
    stream: bool,
    options: tuple[str, ...],
    system: str | None,
    fallback_models: tuple[str, ...],
    conversation: str | None,
    schema: str | None,
    attachments: tuple[str, ...],
    tools_file: str | None,
    tool_choice: str | None,
    reasoning: bool | None,
    reasoning_budget: int | None,
    timeout: float | None,
    show_reasoning: bool,
    as_json: bool,
) -> None:
    """Generate an answer to PROMPT ('-' reads it from stdin; use -- before a prompt starting with '-').

    With --schema the parsed JSON answer is printed, with --tools the calls the model makes (a JSON
    list of id, name, arguments, parsed_arguments; any text beside them goes to stderr): indented on
    a terminal, one line when piped. ultra-llm runs no tool: send its result back in a `tool`
    message (Python or the web API). With --stream the text is printed as it comes, the tool calls
    at the end.
    """
    if (prompt is None) == (batch_file is None):
        raise click.UsageError("Give either PROMPT or --batch FILE.")
    if batch_file is not None:
        one_prompt = {
            "--schema": schema,
            "--attach": attachments or None,
            "--tools": tools_file,
            "--tool-choice": tool_choice,
            "--reasoning/--no-reasoning": reasoning,
            "--reasoning-budget": reasoning_budget,
            "--timeout": timeout,
            "--conversation": conversation,
            "--fallback-model": fallback_models or None,
        }
        given = [flag for flag, value in one_prompt.items() if value is not None]
        if given:
            raise click.UsageError(f"{', '.join(given)} apply to one PROMPT, not to --batch.")
        from .commands_batch import batch

        click.get_current_context().invoke(
            batch,
            file=batch_file,
            concurrency=concurrency,
            models=models,
            backend=backend,
            options=options,
            system=system,
            output=sys.stdout,
            progress=True,
        )
        return
    assert prompt is not None
    from .._structured import to_json_value  # the request types load on this path only (start-up)
    from .request_features import (
        feature_options,
        format_json,
        is_tty,
        prompt_with_images,
        read_images,
        tool_calls_json,
    )

    parsed = parse_option_pairs(options)
    parsed.update(
        feature_options(
            schema=schema,
            tools_file=tools_file,
            tool_choice=tool_choice,
            reasoning=reasoning,
            reasoning_budget=reasoning_budget,
        )
    )
    if system:
        parsed["system_message"] = system
    if conversation is not None:
        parsed["conversation"] = conversation
    if fallback_models:
        parsed["fallback_models"] = list(fallback_models)
    text = _read_prompt(prompt)
    request = prompt_with_images(text, read_images(attachments))
    show_thinking = show_reasoning or bool(reasoning)
    if "timeout" in parsed:  # a backend option of that name would be the call's limit: say which flag
        raise click.UsageError("Give the call's limit with --timeout SECONDS, not -o timeout=...")
    limit: dict[str, Any] = {} if timeout is None else {"timeout": timeout}  # checked by the adapter

    shown = for_stream(sys.stdout)  # a model's escape sequences are shown, not obeyed, on a terminal
    shown_err = for_stream(sys.stderr)
    pretty = is_tty(sys.stdout)

    def echo_out(line: str) -> None:
        click.echo(line, color=True)  # color: click would strip ANSI from a pipe

    answers = parsed["n"] if isinstance(parsed.get("n"), int) else 1

    def label(index: int) -> None:
        """Several answers (``-o n=N``) are printed one after another, each under its number."""
        if answers > 1:
            click.secho(f"{'' if index == 0 else chr(10)}[answer {index + 1} of {answers}]", bold=True, err=True)

    def note_fallback(fallback: Fallback | None) -> None:
        """One stderr line when another model answers than the one asked for (a fallback)."""
        if fallback is not None:
            click.secho(
                shown_err(f"[{fallback.model} answered: {fallback.requested} {_WHY[fallback.reason]}]"),
                bold=True,
                err=True,
            )

    def print_whole(answer: Result | Choice) -> None:
        if show_thinking and answer.reasoning:
            click.secho(shown_err(answer.reasoning), dim=True, err=True)
        if answer.tool_calls:
            if answer.text.strip():
                click.echo(shown_err(answer.text), err=True, color=True)
            echo_out(format_json(tool_calls_json(answer.tool_calls), shown, pretty=pretty))
        elif "response_format" in parsed:
            echo_out(format_json(to_json_value(answer.parsed), shown, pretty=pretty))
        else:
            echo_out(shown(answer.text))

    model = models[0] if len(models) == 1 else None

    async def run_several() -> int:
        """Every model's answer under its name, in the order given (``--stream``: each printed as it
        completes); ``--json`` a list. The exit status of the first model that failed, else 0."""
        async with await command_adapter(backend) as adapter:
            if stream:
                texts: dict[int, list[str]] = {}
                fell_back: dict[int, Fallback] = {}
                items: list[BatchItem] = []
                events = adapter.stream_fan_out(request, list(models), concurrency=concurrency, **limit, **parsed)
                async for event in events:
                    chunk = event.chunk
                    if chunk is not None and chunk.fallback is not None:
                        fell_back[event.index] = chunk.fallback
                    if chunk is not None and chunk.kind == "text" and not chunk.index:
                        texts.setdefault(event.index, []).append(chunk.text)
                    if event.done or event.error is not None:
                        text = "".join(texts.pop(event.index, []))
                        items.append(_ended(event, text, adapter.name, fell_back.get(event.index)))
                        show_item(items[-1])
            else:
                items = await adapter.fan_out(request, list(models), concurrency=concurrency, **limit, **parsed)
                if as_json:
                    echo_json([item.to_dict() for item in items])
                else:
                    for item in items:
                        show_item(item)
        failures = sorted((item for item in items if item.error is not None), key=lambda item: item.index)
        return failures[0].error.exit_code if failures and failures[0].error is not None else 0

    def show_item(item: BatchItem) -> None:
        """One model's answer under its name (stderr), or its error."""
        if item.error is not None:
            click.secho(shown_err(f"[{item.model} failed: {item.error}]"), bold=True, err=True)
            return
        click.secho(shown_err(f"[{item.model}]"), bold=True, err=True)
        assert item.result is not None
        note_fallback(item.result.fallback)
        every: tuple[Result | Choice, ...] = item.result.choices or (item.result,)
        for index, answer in enumerate(every):
            label(index)
            print_whole(answer)

    if len(models) > 1:
        code = run_async(run_several())
        if code:
            sys.exit(code)
        return

    async def run() -> None:
        async with await command_adapter(backend, model) as adapter:
            if not stream:
                result = await adapter.complete(request, **limit, **parsed)
                if as_json:
                    echo_json(result.to_dict())
                    return
                note_fallback(result.fallback)
                every: tuple[Result | Choice, ...] = result.choices or (result,)
                for index, answer in enumerate(every):
                    label(index)
                    print_whole(answer)
                return
            ended_with_newline = True
            later: dict[int, list[Chunk]] = {}  # the other answers, printed whole after the first
            label(0)
            try:
                async for chunk in adapter.stream(request, **limit, **parsed):
                    note_fallback(chunk.fallback)
                    if chunk.index:
                        later.setdefault(chunk.index, []).append(chunk)
                        continue
                    if chunk.kind == "reasoning":
                        if show_thinking:
                            click.secho(shown_err(chunk.text), dim=True, err=True, nl=False)
                        continue
                    if chunk.text:
                        click.echo(shown(chunk.text), nl=False, color=True)
                        sys.stdout.flush()
                        ended_with_newline = chunk.text.endswith("\n")
                    if chunk.tool_calls:
                        if not ended_with_newline:
                            click.echo()
                            ended_with_newline = True
                        echo_out(format_json(tool_calls_json(chunk.tool_calls), shown, pretty=pretty))
            finally:  # an answer cut short by an error or Ctrl-C still ends its line
                if not ended_with_newline:
                    click.echo()
            for index in sorted(later):
                label(index)
                print_whole(_gathered(index, later[index]))

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
        async with await command_adapter(backend, model) as adapter:
            result = await adapter.embed([_read_prompt(t) for t in texts])
            echo_json({"model": result.model, "backend": result.backend, "vectors": [list(v) for v in result.vectors]})

    run_async(run())


COMMANDS = [generate, embed]


_WHY = {
    "not_found": "was not found",
    "unavailable": "is unavailable",
    "overloaded": "is overloaded",
    "context_length": "cannot hold the prompt",
    "cooling_down": "failed moments ago",
}
"""A ``Fallback.reason`` as the CLI's note says it."""


def _ended(event: FanOutEvent, text: str, backend: str, fallback: Fallback | None) -> BatchItem:
    """A streamed model's end as an item: its error, or its text gathered (for ``generate -m A -m B -s``)."""
    from .._batch import BatchItem
    from .._types import Result

    if event.error is not None:
        return BatchItem(event.index, "", error=event.error, model=event.model)
    answer = Result(text, fallback.model if fallback else event.model, backend, fallback=fallback)
    return BatchItem(event.index, "", result=answer, model=event.model)


def _gathered(index: int, chunks: list[Chunk]) -> Choice:
    """One of several streamed answers, from its chunks (its closing chunk has its calls or parsed answer)."""
    from .._types import Choice

    text = "".join(chunk.text for chunk in chunks if chunk.kind == "text")
    reasoning = "".join(chunk.text for chunk in chunks if chunk.kind == "reasoning") or None
    calls = next((chunk.tool_calls for chunk in chunks if chunk.tool_calls), ())
    parsed = next((chunk.parsed for chunk in chunks if chunk.parsed is not None), None)
    finish = next((chunk.finish_reason for chunk in reversed(chunks) if chunk.finish_reason), None)
    return Choice(index, text, finish, reasoning, calls, tuple(t for c in chunks for t in c.logprobs), parsed)
