"""``batch``: answer a file of prompts with bounded concurrency, JSONL results in input order."""

from __future__ import annotations

import json
import sys
from typing import IO, TYPE_CHECKING, Any, NamedTuple

import click

from .._json_depth import json_loads
from .._options import parse_option_pairs
from ..errors import InvalidOptionsError, UltraLLMError
from .commands_models import OPTION_VALUE_HELP, backend_option
from .context import _Context, command_adapter, handle_errors, pass_context, run_async
from .output import ProgressDisplay

if TYPE_CHECKING:
    from .._adapter import Adapter
    from .._batch import BatchItem, BatchProgress
    from .._types import GenerationRequest, Prompt

__all__ = ["COMMANDS", "BatchLine", "batch", "read_prompts"]


class BatchLine(NamedTuple):
    """One prompt of a batch file: the prompt, the ``id`` copied to its output line, and the model
    the line names (``None``: the command's ``-m``, else the default model)."""

    prompt: Prompt
    id: Any = None
    model: str | None = None


def read_prompts(stream: IO[str]) -> list[BatchLine]:
    """The prompts of a batch file, in file order; blank lines are skipped.

    A file whose first non-blank line starts with ``{`` is JSONL: each line an object with a
    ``"prompt"`` string or a ``"messages"`` list (role/content objects), an optional ``"id"``
    copied to the output and an optional ``"model"`` (a string) that line is answered with. Any
    other file is one prompt per line. A bad JSONL line is an ``InvalidOptionsError`` naming its
    line number.
    """
    lines = [(number, line.rstrip("\r\n")) for number, line in enumerate(stream, start=1)]
    lines = [(number, line) for number, line in lines if line.strip()]
    if not lines or not lines[0][1].lstrip().startswith("{"):
        return [BatchLine(line) for _, line in lines]
    prompts: list[BatchLine] = []
    for number, line in lines:
        try:
            data = json_loads(line)  # depth bounded: a line nested too deeply is not JSON we read
        except ValueError as exc:
            raise InvalidOptionsError(
                f"Line {number} of the batch file is not JSON: {exc}.",
                fix='Write one JSON object per line, e.g. {"prompt": "hello"}, or plain prompts one per line.',
            ) from exc
        prompt = data.get("prompt") if isinstance(data, dict) else None
        messages = data.get("messages") if isinstance(data, dict) else None
        asked: Prompt
        if isinstance(prompt, str):
            asked = prompt
        elif isinstance(messages, list):
            asked = messages
        else:
            raise InvalidOptionsError(
                f'Line {number} of the batch file has neither a "prompt" string nor a "messages" list.',
                fix='Write {"prompt": "..."} or {"messages": [{"role": "user", "content": "..."}]}.',
            )
        model = data.get("model")
        if model is not None and (not isinstance(model, str) or not model.strip()):
            raise InvalidOptionsError(
                f'Line {number} of the batch file has a "model" that is not a model name: {model!r}.',
                fix='Write the model as a string, e.g. "model": "ai/smollm2", or leave it out to use -m.',
            )
        prompts.append(BatchLine(asked, data.get("id"), model))
    return prompts


@click.command()
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option(
    "--concurrency", "-c", type=click.IntRange(min=1), default=8, show_default=True, help="Prompts in flight."
)
@click.option(
    "--model",
    "-m",
    "models",
    multiple=True,
    help='Model for the prompts whose line names none ("model"; default: DEFAULT_MODEL); repeat it to answer '
    "each of those prompts on every model, scheduled around model loads.",
)
@backend_option
@click.option(
    "--option",
    "-o",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help=f"A backend option for every prompt, {OPTION_VALUE_HELP}",
)
@click.option("--system", default=None, help="A system prompt put before every prompt.")
@click.option(
    "--output",
    "output",
    type=click.File("w", encoding="utf-8", lazy=True),
    default="-",
    help="Write the JSONL results here (default: stdout).",
)
@click.option("--progress/--no-progress", default=True, help="Show the progress bar on stderr.")
@pass_context
@handle_errors
def batch(
    ctx: _Context,
    file: IO[str],
    concurrency: int,
    models: tuple[str, ...],
    backend: str | None,
    options: tuple[str, ...],
    system: str | None,
    output: IO[str],
    progress: bool,
) -> None:
    """Answer every prompt in FILE ('-' for stdin): one prompt per line, or JSONL with "prompt" or "messages".

    A JSONL line may also have an "id" (copied to its result) and a "model" (that line's model;
    -m is the model of the lines without one). With several -m, each line without a "model" is
    answered by every one of them.

    Writes one JSON object per answer, in input order (a line's models in the order given), as soon
    as it and every one before it are done: {"index", "id", "model", "ok", "result", "error",
    "seconds"}. A failed answer does not stop the batch; the exit status is 1 when any failed, 0
    when all were answered.
    """
    from .._fan_out import Work, run_work

    entries = read_prompts(file)
    parsed = parse_option_pairs(options)
    if system:
        parsed["system_message"] = system
    display = ProgressDisplay("Batch") if progress else None
    pending: dict[int, BatchItem] = {}
    written = 0
    lines: list[int] = []
    """For each answer (by its index), the line of the file it answers."""

    def flush() -> None:
        nonlocal written
        while written in pending:
            item = pending.pop(written)
            line = {"index": item.index, "id": entries[lines[item.index]].id, **item.to_dict()}
            output.write(json.dumps(line, default=str) + "\n")
            written += 1
        output.flush()

    def on_progress(event: BatchProgress) -> None:
        if event.item is not None:
            pending[event.item.index] = event.item
            flush()
        if display is not None:
            display.update(event.done, event.total, f"{event.failed} failed" if event.failed else "")

    async def run() -> list[BatchItem]:
        async with await command_adapter(backend, models[0] if len(models) == 1 else None) as adapter:
            work: list[Work] = []
            for number, entry in enumerate(entries, 1):
                for model in (None,) if entry.model is not None or len(models) < 2 else models:
                    request = _built(adapter, entry, parsed if model is None else {**parsed, "model": model}, number)
                    work.append(Work(len(work), request, request.model))
                    lines.append(number - 1)
            return await run_work(
                adapter,
                work,
                concurrency=concurrency,
                held=adapter.config.models_held,
                progress=on_progress,
            )

    items = run_async(run())
    if display is not None:
        display.finish()
    failed = sum(1 for item in items if not item.ok)
    click.echo(f"{len(items)} prompts: {len(items) - failed} answered, {failed} failed.", err=True)
    if failed:
        sys.exit(1)


def _built(adapter: Adapter, entry: BatchLine, options: dict[str, Any], number: int) -> GenerationRequest:
    """The request of the ``number``-th prompt, on its line's model if it names one, validated once,
    before any work: a bad ``-o``, model name or prompt stops the batch saying which prompt, as a
    line that is not JSON does."""
    if entry.model is not None:
        options = {**options, "model": entry.model}
    try:
        return adapter.build_request(entry.prompt, options)
    except UltraLLMError as error:
        error.message = f"Prompt {number}: {error.message}"
        raise


COMMANDS = [batch]
