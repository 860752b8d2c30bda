"""Pure parsers for what the runner sends: NDJSON framing, and the JSON shapes inside.

No I/O and no HTTP library here: bytes or decoded JSON in, ``ultra_llm`` value types out.
Every malformed input raises ``MalformedResponse`` (a ``ValueError``) whose message says what was
wrong; the NDJSON decoder raises it too when a line exceeds its size cap. Server-sent events are
framed by httpx2's ``EventSource`` (it bounds an event's size), not here.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ultra_llm.plugin import Choice, Chunk, JSONDepthError, Progress, TokenLogprob, ToolCall, Usage, json_loads

from .tool_calls import calls_from_message, deltas_from_delta, shape_error

__all__ = [
    "DONE",
    "MalformedResponse",
    "NDJSONDecoder",
    "PullFailed",
    "PullTracker",
    "answering_model",
    "chunks_from_event",
    "completion_from_body",
    "embeddings_from_body",
    "load_json",
    "models_from_openai",
    "models_from_runner",
    "parse_retry_after",
    "served_names",
    "usage_from",
]

DONE = b"[DONE]"
"""The data payload that ends an OpenAI-style SSE stream."""


class MalformedResponse(ValueError):
    """The server sent something that is not the shape the protocol promises."""


def _snippet(data: bytes | str, limit: int = 200) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return text if len(text) <= limit else text[:limit] + "..."


def load_json(data: bytes | str, what: str) -> Any:
    """``json.loads`` (depth bounded, ``ultra_llm._json_depth``) that raises ``MalformedResponse`` naming
    ``what`` and quoting the data."""
    try:
        return json_loads(data)
    except JSONDepthError as exc:
        raise MalformedResponse(f"{what} is JSON nested too deeply to read ({exc}): {_snippet(data)!r}") from None
    except ValueError as exc:
        raise MalformedResponse(f"{what} is not valid JSON ({exc.args[0]}): {_snippet(data)!r}") from None


class NDJSONDecoder:
    """Incremental newline-delimited JSON framing: feed bytes, get each complete non-blank line."""

    __slots__ = ("_buffer", "max_line_bytes")

    def __init__(self, max_line_bytes: int = 1024 * 1024) -> None:
        self.max_line_bytes = max_line_bytes
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        """The complete lines this chunk finishes (blank lines dropped, ``\\r`` stripped)."""
        lines = (self._buffer + chunk).split(b"\n")
        self._buffer = lines.pop()
        if len(self._buffer) > self.max_line_bytes:
            raise MalformedResponse(f"a progress record exceeds {self.max_line_bytes} bytes")
        return [line.rstrip(b"\r") for line in lines if line.strip()]

    def finish(self) -> list[bytes]:
        """A last line that had no trailing newline, if any."""
        rest, self._buffer = self._buffer.strip(), b""
        return [rest] if rest else []


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def usage_from(value: object) -> Usage | None:
    """An OpenAI ``usage`` object as ``Usage``; ``None`` when absent or not an object."""
    if not isinstance(value, Mapping):
        return None
    return Usage(
        _int(value.get("prompt_tokens")), _int(value.get("completion_tokens")), _int(value.get("total_tokens"))
    )


def chunks_from_event(event: object) -> list[Chunk]:
    """The chunks one ``chat.completion.chunk`` object carries (reasoning, text, tool-call pieces,
    then the final one).

    Tool-call pieces (``delta.tool_calls``, read by ``tool_calls.deltas_from_delta``) come as one
    ``Chunk("", tool_call_deltas=...)``; the adapter assembles them. Empty deltas (role-only, or
    an empty string from a partial UTF-8 byte token) give no chunk;
    ``finish_reason`` and ``usage`` give a final ``Chunk("")`` carrying them. An object with an
    ``error`` member raises ``StreamError`` for the caller to map; any other shape that is not a
    chunk raises ``MalformedResponse``.
    """
    if not isinstance(event, dict):
        raise MalformedResponse(f"a stream event is not a JSON object: {_snippet(json.dumps(event))!r}")
    if "error" in event:
        raise StreamError(event)
    choices = event.get("choices")
    if choices is not None and not isinstance(choices, list):
        raise MalformedResponse(f"a stream event's choices is not an array: {_snippet(json.dumps(event))!r}")
    usage = usage_from(event.get("usage"))
    if not choices:
        if choices is None and usage is None:
            raise MalformedResponse(f"a stream event has no choices: {_snippet(json.dumps(event))!r}")
        return [Chunk("", usage=usage)] if usage is not None else []
    out: list[Chunk] = []
    for position, choice in enumerate(choices):
        if not isinstance(choice, dict):
            raise MalformedResponse(f"a stream choice is not an object: {_snippet(json.dumps(event))!r}")
        out += _choice_chunks(choice, _index(choice, position), event)
    if usage is not None:
        if out and out[-1].finish_reason is not None and out[-1].index == 0:
            out[-1] = replace(out[-1], usage=usage)
        else:
            out.append(Chunk("", usage=usage))
    return out


def _index(choice: Mapping[str, Any], position: int) -> int:
    """Which answer a choice is (its ``index``, else its place), for several answers (``n``)."""
    index = choice.get("index")
    return index if isinstance(index, int) and not isinstance(index, bool) and index >= 0 else position


def _choice_chunks(choice: Mapping[str, Any], index: int, event: object) -> list[Chunk]:
    """The chunks of one streamed choice: reasoning, text (with its tokens' log probabilities),
    tool-call pieces, then its finish reason."""
    delta = choice.get("delta") or {}
    out: list[Chunk] = []
    tokens = logprobs_from(choice, event)
    if isinstance(delta, dict):
        reasoning = delta.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            out.append(Chunk(reasoning, kind="reasoning", index=index))
        content = delta.get("content")
        if isinstance(content, str) and content:
            out.append(Chunk(content, logprobs=tokens, index=index))
            tokens = ()
        try:
            pieces = deltas_from_delta(delta)
        except ValueError as exc:
            raise MalformedResponse(shape_error(exc, event)) from None
        if pieces:
            out.append(Chunk("", tool_call_deltas=pieces, index=index))
    if tokens:  # log probabilities of tokens that gave no text yet (part of a character)
        out.append(Chunk("", logprobs=tokens, index=index))
    finish = choice.get("finish_reason")
    if finish:
        out.append(Chunk("", finish_reason=finish if isinstance(finish, str) else None, index=index))
    return out


def logprobs_from(choice: Mapping[str, Any], where: object) -> tuple[TokenLogprob, ...]:
    """A choice's token log probabilities (``logprobs.content``, OpenAI's shape, which llama-server
    gives for the chat endpoint); none when absent. ``MalformedResponse`` for another shape."""
    block = choice.get("logprobs")
    if block is None:
        return ()
    content = block.get("content") if isinstance(block, dict) else None
    if content is None:
        return ()
    if not isinstance(content, list):
        raise MalformedResponse(f"logprobs.content is not an array: {_snippet(json.dumps(where))!r}")
    return tuple(_token(item, where, alternatives=True) for item in content)


UNLIKELY = -9999.0
"""The log probability given for a probability of 0: OpenAI's value for "very unlikely" (its API
reference, ``logprobs``), as a JSON number where ``-inf`` is none."""


def _token(item: object, where: object, *, alternatives: bool) -> TokenLogprob:
    """One entry of ``logprobs.content`` (or of its ``top_logprobs``). With ``post_sampling_probs``
    llama-server gives ``prob`` and ``top_probs`` instead of ``logprob`` and ``top_logprobs``
    (``tools/server/server-task.cpp``, ``completion_token_output::to_json``): read as their log."""
    if not isinstance(item, dict):
        raise MalformedResponse(f"a logprobs entry is not an object: {_snippet(json.dumps(where))!r}")
    token, raw = item.get("token"), item.get("bytes")
    logprob = item.get("logprob")
    if logprob is None and isinstance(item.get("prob"), (int, float)) and not isinstance(item.get("prob"), bool):
        prob = float(item["prob"])
        logprob = math.log(prob) if prob > 0 else UNLIKELY
    if not isinstance(token, str) or not isinstance(logprob, (int, float)) or isinstance(logprob, bool):
        raise MalformedResponse(f"a logprobs entry has no token and logprob: {_snippet(json.dumps(where))!r}")
    top = (item.get("top_logprobs") if "top_logprobs" in item else item.get("top_probs")) if alternatives else None
    if top is not None and not isinstance(top, list):
        raise MalformedResponse(f"top_logprobs is not an array: {_snippet(json.dumps(where))!r}")
    return TokenLogprob(
        token,
        max(float(logprob), UNLIKELY),
        tuple(raw) if isinstance(raw, list) and all(isinstance(b, int) for b in raw) else None,
        tuple(_token(entry, where, alternatives=False) for entry in top or ()),
    )


class StreamError(Exception):
    """A stream event that reports an error (``{"error": ...}``); ``body`` is the event."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body
        super().__init__(json.dumps(body)[:500])


@dataclass(frozen=True)
class Completion:
    """A whole chat completion's parts: its first answer's, and every answer when there are several."""

    text: str
    reasoning: str | None
    finish_reason: str | None
    usage: Usage | None
    model: str | None = None
    """The model the server says answered (its ``model`` field), if it says."""
    tool_calls: tuple[ToolCall, ...] = ()
    """The calls the model asks for (``finish_reason`` is then ``tool_calls``)."""
    logprobs: tuple[TokenLogprob, ...] = ()
    """The first answer's tokens with their log probabilities (the ``logprobs`` option)."""
    choices: tuple[Choice, ...] = ()
    """Every answer, when the server gave several (the ``n`` option); empty for one."""


def completion_from_body(body: object) -> Completion:
    """Parse a ``chat.completion`` object; ``MalformedResponse`` if it has no first choice message
    or its ``tool_calls`` are not the OpenAI shape. ``content`` may be ``null`` (beside tool calls)."""
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(choices, list) or not choices:
        raise MalformedResponse(f"the completion has no choices[0].message: {_snippet(json.dumps(body))!r}")
    answers = sorted(
        (_choice_from(choice, position, body) for position, choice in enumerate(choices)), key=lambda c: c.index
    )
    first = answers[0]
    return Completion(
        text=first.text,
        reasoning=first.reasoning,
        finish_reason=first.finish_reason,
        usage=usage_from(body.get("usage")),
        model=answering_model(body),
        tool_calls=first.tool_calls,
        logprobs=first.logprobs,
        choices=tuple(answers) if len(answers) > 1 else (),
    )


def _choice_from(choice: object, position: int, body: object) -> Choice:
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(choice, dict) or not isinstance(message, dict):
        raise MalformedResponse(f"the completion has no choices[{position}].message: {_snippet(json.dumps(body))!r}")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise MalformedResponse(f"choices[{position}].message.content is not a string: {_snippet(json.dumps(body))!r}")
    reasoning = message.get("reasoning_content")
    finish = choice.get("finish_reason")
    try:
        calls = calls_from_message(message)
    except ValueError as exc:
        raise MalformedResponse(shape_error(exc, body)) from None
    return Choice(
        _index(choice, position),
        content or "",
        finish if isinstance(finish, str) else None,
        reasoning if isinstance(reasoning, str) and reasoning else None,
        calls,
        logprobs_from(choice, body),
    )


def answering_model(body: object) -> str | None:
    """The ``model`` a completion, chunk or embeddings object names (``None`` if absent or not a string)."""
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) and model else None


def embeddings_from_body(body: object, expected: int) -> tuple[tuple[tuple[float, ...], ...], Usage | None]:
    """Vectors in input order from an OpenAI embeddings response holding ``expected`` of them."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or len(data) != expected:
        count = len(data) if isinstance(data, list) else "no"
        raise MalformedResponse(f"the embeddings response has {count} vectors for {expected} inputs")
    indexes = [item.get("index") if isinstance(item, dict) else None for item in data]
    numbers = [_int(index) for index in indexes]
    if all(number is not None for number in numbers):
        ordered = [item for _, item in sorted(zip([n or 0 for n in numbers], data, strict=True), key=lambda p: p[0])]
    elif all(index is None for index in indexes):
        ordered = list(data)  # no indexes at all: the server's order is the input order
    else:
        raise MalformedResponse("the embeddings' index values are not all integers")
    vectors: list[tuple[float, ...]] = []
    for item in ordered:
        vector = item.get("embedding") if isinstance(item, dict) else None
        if not isinstance(vector, list) or not vector:
            raise MalformedResponse("an embedding is missing or empty")
        if isinstance(vector[0], list):
            raise MalformedResponse(
                "the server returned one vector per token, not per input: the model has no pooling "
                "(serve an embedding model, or one with a pooling type)"
            )
        try:
            vectors.append(tuple(float(x) for x in vector))
        except (TypeError, ValueError):
            raise MalformedResponse("an embedding holds a value that is not a number") from None
    usage = usage_from(body.get("usage")) if isinstance(body, dict) else None
    return tuple(vectors), usage


def models_from_runner(listing: object) -> list[tuple[str, dict[str, str | int | float | None]]]:
    """``(tag, details)`` for each tag of each model in ``GET /models`` (``docker model list --json``)."""
    if not isinstance(listing, list):
        raise MalformedResponse(f"GET /models did not return a JSON array: {_snippet(json.dumps(listing))!r}")
    found: list[tuple[str, dict[str, str | int | float | None]]] = []
    for model in listing:
        if not isinstance(model, dict):
            continue
        config = model.get("config") if isinstance(model.get("config"), dict) else {}
        assert isinstance(config, dict)
        model_id = model.get("id")
        details: dict[str, str | int | float | None] = {
            "id": model_id[7:19] if isinstance(model_id, str) and model_id.startswith("sha256:") else model_id,
            "created": _int(model.get("created")),
        }
        for key in ("format", "parameters", "quantization", "architecture", "size", "context_size"):
            value = config.get(key)
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                details[key] = value
        tags = model.get("tags")
        if not isinstance(tags, list):
            continue  # a model with no tag list has no name to use (a string is not a list of tags)
        for tag in tags:
            if isinstance(tag, str) and tag:
                found.append((tag, dict(details)))
    return found


def models_from_openai(listing: object) -> list[tuple[str, dict[str, str | int | float | None]]]:
    """``(id, details)`` for each entry of an OpenAI ``GET /v1/models`` list."""
    data = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(data, list):
        raise MalformedResponse(f"the models list has no data array: {_snippet(json.dumps(listing))!r}")
    found: list[tuple[str, dict[str, str | int | float | None]]] = []
    for entry in data:
        if isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry["id"]:
            details: dict[str, str | int | float | None] = {"created": _int(entry.get("created"))}
            if isinstance(entry.get("owned_by"), str):
                details["owned_by"] = entry["owned_by"]
            details.update(_served_context(entry))
            found.append((entry["id"], details))
    return found


def _served_context(entry: dict[str, Any]) -> dict[str, str | int | float | None]:
    """What an OpenAI list entry says beyond the standard fields: the runner's ``dmr`` block
    (``context_window``, architecture, parameters, quantization, size: docker/model-runner
    ``pkg/inference/models/api.go:82-102`` at 642c7211) or llama-server's ``meta`` (``n_ctx``, the
    context each request gets, and ``n_ctx_train``: llama.cpp b9878 ``server-context.cpp:5111-5128``).
    The context lands in ``context_size``, as in the runner's own listing."""
    found: dict[str, str | int | float | None] = {}
    dmr, meta = entry.get("dmr"), entry.get("meta")
    if isinstance(dmr, dict):
        for key in ("architecture", "parameters", "quantization", "size"):
            if isinstance(dmr.get(key), str) and dmr[key]:
                found[key] = dmr[key]
        found["context_size"] = _int(dmr.get("context_window"))
    if isinstance(meta, dict):
        found["context_size"] = _int(meta.get("n_ctx"))
        found["context_train"] = _int(meta.get("n_ctx_train"))
    return {key: value for key, value in found.items() if value is not None}


def served_names(listing: object) -> frozenset[str]:
    """Every name an OpenAI ``GET /v1/models`` list answers to: ids, and llama-server's ``aliases``."""
    data = listing.get("data") if isinstance(listing, dict) else None
    names: set[str] = set()
    for entry in data if isinstance(data, list) else ():
        if not isinstance(entry, dict):
            continue
        aliases = entry.get("aliases")
        for name in [entry.get("id"), *(aliases if isinstance(aliases, list) else ())]:
            if isinstance(name, str) and name:
                names.add(name)
    return frozenset(names)


class PullFailed(Exception):
    """The runner reported an ``error`` record during a pull (under status 200)."""


class PullTracker:
    """Turns ``POST /models/create`` progress records into ``Progress`` values.

    Bytes done are summed over layers (each record reports its layer's ``current`` of ``size``);
    ``total`` is the image size the record reports. ``succeeded`` is set by a ``success`` record;
    an ``error`` record raises ``PullFailed`` with its message.
    """

    def __init__(self) -> None:
        self.layers: dict[str, int] = {}
        self.total: int | None = None
        self.succeeded = False
        self.last_message = ""

    def feed(self, record: object) -> Progress:
        """The ``Progress`` for one decoded record."""
        if not isinstance(record, dict) or not isinstance(record.get("type"), str):
            raise MalformedResponse(f"a pull progress record has no type: {_snippet(json.dumps(record))!r}")
        kind = record["type"]
        message = record.get("message") if isinstance(record.get("message"), str) else ""
        assert isinstance(message, str)
        if kind == "error":
            raise PullFailed(message.removeprefix("Error: ") or "the runner reported an error")
        if kind == "success":
            self.succeeded = True
            self.last_message = message or "Model pulled successfully"
            done = sum(self.layers.values()) or None
            return Progress(self.last_message, completed=self.total or done, total=self.total, status="success")
        if kind == "warning":
            return Progress(message, status="warning")
        total = _int(record.get("total"))
        if total:
            self.total = total
        layer = record.get("layer")
        if isinstance(layer, dict):
            current = _int(layer.get("current"))
            layer_id = layer.get("id") if isinstance(layer.get("id"), str) else ""
            if current is not None:
                self.layers[str(layer_id)] = current
        done = sum(self.layers.values())
        # DMR deprecates ``message`` on progress records (it is per layer): format from the sums.
        message = f"Downloaded {done / 1024 / 1024:.2f} MB"
        if self.total:
            message += f" of {self.total / 1024 / 1024:.2f} MB"
        self.last_message = message
        return Progress(message, completed=done, total=self.total, status="progress" if kind == "progress" else "info")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date); ``None`` if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
