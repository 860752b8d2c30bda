"""The value types that cross the host/plugin boundary: messages, requests, chunks, results.

Plain frozen dataclasses, so importing them is cheap and plugins can build them without pydantic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from ._content import ContentPart, ImagePart, TextPart, to_part
from ._deadline import Deadline
from ._structured import ResponseFormat, to_json_value
from ._text import preview
from ._tools import Tool, ToolCall, ToolCallDelta
from .errors import EmptyPromptError, UltraLLMError

__all__ = [
    "Choice",
    "TokenLogprob",
    "Availability",
    "ContentPart",
    "ImagePart",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ResponseFormat",
    "Check",
    "Chunk",
    "Deadline",
    "EmbeddingRequest",
    "EmbeddingResult",
    "GenerationRequest",
    "Message",
    "ModelInfo",
    "Prompt",
    "Progress",
    "ProgressCallback",
    "Result",
    "Role",
    "Usage",
    "to_messages",
]

Role = Literal["system", "user", "assistant", "tool"]
_ROLES: frozenset[str] = frozenset(("system", "user", "assistant", "tool"))


@dataclass(frozen=True)
class Message:
    """One chat message: a role and its content, text or a tuple of parts (text, images).

    An assistant message may carry the ``tool_calls`` it made; a ``tool`` message answers one of
    them and names it in ``tool_call_id``. Lists given as content or calls are kept as tuples.
    """

    role: Role
    """`"system"`, `"user"`, `"assistant"` or `"tool"`."""
    content: str | tuple[ContentPart, ...] = ""
    """The text, or parts (`TextPart`, `ImagePart`; images only in a user message)."""
    tool_calls: tuple[ToolCall, ...] = ()
    """The calls an assistant message made (`Result.to_message()` fills it)."""
    tool_call_id: str | None = None
    """For a `tool` message: the id of the call it answers."""

    def __post_init__(self) -> None:
        if not isinstance(self.content, str):
            object.__setattr__(self, "content", tuple(to_part(part) for part in self.content))
        object.__setattr__(self, "tool_calls", tuple(ToolCall.from_value(call) for call in self.tool_calls))
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs the tool_call_id of the call it answers")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only an assistant message carries tool_calls")
        if self.images and self.role != "user":
            raise ValueError("only a user message carries images")

    @property
    def text(self) -> str:
        """The message's text: the content itself, or its text parts joined by newlines."""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text for part in self.content if isinstance(part, TextPart))

    @property
    def images(self) -> tuple[ImagePart, ...]:
        """The message's images, in order."""
        if isinstance(self.content, str):
            return ()
        return tuple(part for part in self.content if isinstance(part, ImagePart))

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI wire shape: ``{"role": ..., "content": ...}`` plus ``tool_calls`` or
        ``tool_call_id`` when set; content parts as a list, images inline as data URLs."""
        content: Any = self.content
        if not isinstance(content, str):
            content = [part.to_dict() for part in content]
        elif not content and self.tool_calls:
            content = None
        wire: dict[str, Any] = {"role": self.role, "content": content}
        if self.tool_calls:
            wire["tool_calls"] = [call.to_dict() for call in self.tool_calls]
        if self.tool_call_id:
            wire["tool_call_id"] = self.tool_call_id
        return wire

    @classmethod
    def from_value(cls, item: Message | Mapping[str, Any]) -> Message:
        """A message from a ``Message`` or its OpenAI mapping; ``ValueError`` for anything else."""
        if isinstance(item, Message):
            return item
        if not isinstance(item, Mapping):
            raise ValueError(f"a message must be a mapping or a Message, got {type(item).__name__}")
        role, content = item.get("role"), item.get("content")
        calls = item.get("tool_calls") or ()
        if content is None and calls:
            content = ""
        if role not in _ROLES or not isinstance(content, (str, list, tuple)):
            raise ValueError(f"a message must have a role in {sorted(_ROLES)} and content, got {preview(item, 200)}")
        tool_call_id = item.get("tool_call_id")
        if not isinstance(calls, (list, tuple)) or not (tool_call_id is None or isinstance(tool_call_id, str)):
            raise ValueError(f"tool_calls must be a list and tool_call_id a string, got {preview(item, 200)}")
        return cls(role, content if isinstance(content, str) else tuple(content), tuple(calls), tool_call_id)


Prompt = str | Sequence[Message | Mapping[str, Any]]
"""A bare prompt string, or a list of chat messages (``Message`` objects or OpenAI-shaped mappings)."""


def to_messages(prompt: Prompt, *, system_message: str | None = None) -> tuple[Message, ...]:
    """Turn a bare prompt or a message list into messages; raise ``ValueError`` on bad items
    and ``EmptyPromptError`` (a ``ValueError`` too) when the last user message has neither text nor an image.

    A ``system_message`` is put first unless the messages already start with a system message.
    """
    if isinstance(prompt, str):
        messages: list[Message] = [Message("user", prompt)]
    else:
        messages = []
        for index, item in enumerate(prompt):
            try:
                messages.append(Message.from_value(item))
            except ValueError as exc:
                if isinstance(exc, UltraLLMError):  # a bad image: typed already, with its fix
                    raise
                raise ValueError(f"message {index}: {exc}") from exc
        if not messages:
            raise ValueError("the message list is empty")
    _require_text(messages)
    if system_message and messages[0].role != "system":
        messages.insert(0, Message("system", system_message))
    return tuple(messages)


def _require_text(messages: Sequence[Message]) -> None:
    """Raise ``EmptyPromptError`` unless the last user message has text (not only white space) or an image."""
    last = next((m for m in reversed(messages) if m.role == "user"), None)
    if last is None:
        raise EmptyPromptError("The prompt has no user message: there is nothing to answer.")
    if last.images:
        return
    text = last.text
    if not text or text.isspace():  # no copy of a long prompt
        raise EmptyPromptError("The prompt is empty (the last user message has no text): there is nothing to answer.")


@dataclass(frozen=True)
class Usage:
    """Token counts, when the backend reports them."""

    prompt_tokens: int | None = None
    """Tokens of the prompt (the messages, tools and schema as the server templated them)."""
    completion_tokens: int | None = None
    """Tokens of the answer (its reasoning included)."""
    total_tokens: int | None = None
    """The two together, as the server counts them."""


@dataclass(frozen=True)
class ModelInfo:
    """A model a backend can serve: its canonical name and whatever the backend knows of it.

    ``name`` is the backend's canonical name (``Backend.canonical_model``); ``details`` carries
    parameters, quantization, architecture, size, context_size, id ...
    """

    name: str
    """The canonical name: pass it to `model=`/`-m` as it is."""
    backend: str
    """The backend that serves it."""
    display_name: str | None = None
    """A name for people, when it differs from `name`."""
    details: Mapping[str, str | int | float | None] = field(default_factory=dict)
    """What the backend knows, by key. `ultra-llm models` shows the columns `parameters` (`360M`),
    `quantization` (`Q4_K_M`), `architecture` (`llama`) and `size` (`256.35 MiB`); backends may add
    others (`id`, `context_size`, `created` ...)."""
    source: str | None = None
    """The plugin that contributed the entry, when it was not the backend itself."""
    context_window: int | None = None
    """The context window in tokens the model is (or will be) served with; ``None``: not known."""
    tools: bool | None = None
    """Whether the server can call tools with this model (a chat template that takes them); ``None``: not known."""
    vision: bool | None = None
    """Whether the model takes images (a multimodal projector is loaded or packaged); ``None``: not known."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "name": self.name,
            "backend": self.backend,
            "display_name": self.display_name or self.name,
            "details": dict(self.details),
            "source": self.source,
            "context_window": self.context_window,
            "tools": self.tools,
            "vision": self.vision,
        }


class _ReadOnlyDict(dict):  # type: ignore[type-arg]
    """A dict no one can change (every mutator raises ``TypeError``); still a ``dict`` to
    ``json.dumps`` and ``body.update(...)``, so wire formats take it as they are."""

    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> None:
        raise TypeError("a GenerationRequest is immutable: build a changed one with dataclasses.replace()")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _refuse  # type: ignore[assignment]

    def __reduce__(self) -> tuple[type[_ReadOnlyDict], tuple[dict[Any, Any]]]:
        return (type(self), (dict(self),))


_FLAT = (str, int, float, bool, type(None))


def _frozen(value: Any) -> Any:
    """``value`` with every dict (a ``_ReadOnlyDict``) and list (a tuple) in it made immutable."""
    if isinstance(value, _FLAT):
        return value
    if type(value) is dict and all(isinstance(item, _FLAT) for item in value.values()):
        return _ReadOnlyDict(value)  # flat options, the common case: one copy
    if isinstance(value, Mapping):
        return _ReadOnlyDict((key, _frozen(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(item) for item in value)
    if isinstance(value, set):
        return frozenset(value)
    return value


@dataclass(frozen=True)
class GenerationRequest:
    """One validated generation request, as backends and hooks receive it.

    ``options`` is the backend's own options model instance (pydantic), already validated, or
    ``None`` when the call passed no options (nothing is built then: read defaults yourself, e.g.
    ``request.options or MyOptions()``); ``options_dict`` holds the values the caller set, for wire
    formats and cache keys. ``tools``, ``tool_choice``, ``response_format``, ``reasoning`` and
    ``reasoning_budget`` are the request's own (every backend reads them the same way); the adapter
    refuses them before a backend that does not declare support sees them. The request is
    immutable (``options_dict`` and schemas read-only, lists tuples): a middleware changes a
    request by passing ``dataclasses.replace(request, ...)`` on.
    """

    model: str
    """The canonical model name."""
    messages: tuple[Message, ...]
    """The conversation, oldest first (a plain prompt is one user message)."""
    options: Any
    """The backend's options model instance, validated; `None` when the call passed no options."""
    backend: str
    """The backend the request is for."""
    options_dict: Mapping[str, Any] = field(default_factory=dict)
    """The options the caller set, read-only (wire formats and cache keys read these)."""
    progress: Callable[[Progress], None] | None = field(default=None, compare=False, repr=False)
    """Receives progress a backend reports while preparing to answer (an auto-pull), when given."""
    deadline: Deadline | None = field(default=None, compare=False, repr=False)
    """When the request must be done (set by the adapter, one per call): a backend sizes its waits by
    it and tells it when the answer begins (``ultra_llm._deadline``). ``None`` (a request built by
    hand and given to a backend directly): no total and no first-token limit apply."""
    tools: tuple[Tool, ...] = ()
    """Functions the model may ask to call (``Result.tool_calls``); empty: none."""
    tool_choice: str | Mapping[str, Any] | None = None
    """``"auto"``, ``"none"``, ``"required"`` or ``{"type": "function", "function": {"name": ...}}``;
    ``None``: the server's default (``"auto"`` when tools are given)."""
    response_format: ResponseFormat | None = None
    """JSON output following a schema; ``None``: free text."""
    reasoning: bool | None = None
    """For a reasoning model: ``False`` asks it not to think, ``True`` to think; ``None``: its default."""
    reasoning_budget: int | None = None
    """The most tokens a reasoning model may think for (``0``: none); ``None``: the server's default."""
    conversation: str | None = None
    """The caller's id for the conversation this request continues (``conversation=``): a backend
    with several servers keeps it on one, where llama.cpp reuses its prompt cache; ``None``: the
    request goes wherever the backend chooses. It never changes the answer (caches ignore it)."""
    fallback_models: tuple[str, ...] = ()
    """The models to try, in order, when ``model`` cannot answer (canonical names: the call's
    ``fallback_models``, else ``ULTRA_LLM_MODEL_FALLBACKS``); the adapter tries them, and each
    attempt reaches the middleware and the backend as a request of its own for one model."""
    fallback: Fallback | None = None
    """On an attempt with a fallback model: which model was asked for, and why it did not answer."""

    def __post_init__(self) -> None:
        """Immutable all the way down: ``messages`` a tuple, ``options_dict`` a read-only copy (its
        lists tuples), tool parameters and the schema too, so no middleware or backend can change a
        request another one keyed on."""
        object.__setattr__(self, "messages", tuple(self.messages))
        object.__setattr__(self, "options_dict", _frozen(self.options_dict))
        if self.tools:
            tools = tuple(replace(tool, parameters=_frozen(tool.parameters)) for tool in self.tools)
            object.__setattr__(self, "tools", tools)
        elif type(self.tools) is not tuple:
            object.__setattr__(self, "tools", ())
        if self.tool_choice is not None:
            object.__setattr__(self, "tool_choice", _frozen(self.tool_choice))
        fmt = self.response_format
        if fmt is not None and fmt.schema is not None:
            object.__setattr__(self, "response_format", replace(fmt, schema=_frozen(fmt.schema)))

    @property
    def prompt(self) -> str:
        """The last user message's text (what a one-shot CLI backend sends)."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.text
        return self.messages[-1].text

    @property
    def images(self) -> tuple[ImagePart, ...]:
        """The images of every message, in order."""
        return tuple(image for message in self.messages for image in message.images)


@dataclass(frozen=True)
class TokenLogprob:
    """One token of an answer with its log probability (asked with the `logprobs` option), and at
    that position the most likely tokens (`top_logprobs` of them), each a `TokenLogprob` too."""

    token: str
    """The token's text."""
    logprob: float
    """Its natural-log probability (0 is certain; `math.exp(logprob)` is the probability)."""
    bytes: tuple[int, ...] | None = None
    """The token's UTF-8 bytes, when the server gives them (a token may be part of a character)."""
    top_logprobs: tuple[TokenLogprob, ...] = ()
    """The most likely tokens at this position, most likely first (empty unless `top_logprobs` was asked)."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping in the OpenAI shape (`token`, `logprob`, `bytes`, `top_logprobs`)."""
        return {
            "token": self.token,
            "logprob": self.logprob,
            "bytes": None if self.bytes is None else list(self.bytes),
            "top_logprobs": [alternative.to_dict() for alternative in self.top_logprobs],
        }


@dataclass(frozen=True)
class Choice:
    """One of the answers to a request that asked for several (the `n` option): `Result.choices`."""

    index: int
    """Its place among the answers, from 0."""
    text: str
    """The answer's text."""
    finish_reason: str | None = None
    """Why this answer stopped."""
    reasoning: str | None = None
    """A reasoning model's thinking for this answer, when it thought."""
    tool_calls: tuple[ToolCall, ...] = ()
    """The tools this answer asks to call."""
    logprobs: tuple[TokenLogprob, ...] = ()
    """Its tokens' log probabilities, when `logprobs` was asked."""
    parsed: Any = None
    """For a response format: this answer parsed."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "index": self.index,
            "text": self.text,
            "finish_reason": self.finish_reason,
            "reasoning": self.reasoning,
            "tool_calls": [call.to_json() for call in self.tool_calls],
            "logprobs": [token.to_dict() for token in self.logprobs],
            "parsed": to_json_value(self.parsed),
        }


@dataclass(frozen=True)
class Chunk:
    """A piece of a streamed answer.

    ``kind`` is ``"text"`` for answer text and ``"reasoning"`` for a reasoning model's thinking.
    ``tool_call_deltas`` are pieces of the tool calls the model is making (backends stream these).
    The final chunk of a stream may carry ``finish_reason`` and ``usage`` (its text may be empty);
    after it the adapter adds one more, empty, chunk with the assembled ``tool_calls`` and, for a
    response format, the ``parsed`` answer, when there are any.
    """

    text: str
    """The piece of text (may be empty on the final chunks)."""
    kind: Literal["text", "reasoning"] = "text"
    """`"text"` for answer text, `"reasoning"` for a reasoning model's thinking."""
    finish_reason: str | None = None
    """Why the answer stopped (`"stop"`, `"length"`, `"tool_calls"`), on the last chunk."""
    usage: Usage | None = None
    """Token counts, on the last chunk when the backend reports them."""
    tool_call_deltas: tuple[ToolCallDelta, ...] = ()
    """Pieces of the tool calls being made, as the backend streams them."""
    tool_calls: tuple[ToolCall, ...] = ()
    """The assembled calls, on the adapter's closing chunk."""
    parsed: Any = None
    """For a response format: the parsed answer, on the adapter's closing chunk."""
    logprobs: tuple[TokenLogprob, ...] = ()
    """This piece's tokens with their log probabilities, when `logprobs` was asked."""
    index: int = 0
    """Which answer the piece belongs to, when several were asked (`n`); 0 otherwise."""
    fallback: Fallback | None = None
    """On a stream's first chunk, when another model answers than the one asked for: which one
    answers, which was asked for, and why that one did not answer."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (tool calls with parsed arguments, a parsed answer as plain JSON)."""
        return {
            "text": self.text,
            "kind": self.kind,
            "finish_reason": self.finish_reason,
            "usage": None if self.usage is None else asdict(self.usage),
            "tool_call_deltas": [asdict(delta) for delta in self.tool_call_deltas],
            "tool_calls": [call.to_json() for call in self.tool_calls],
            "parsed": to_json_value(self.parsed),
            "logprobs": [token.to_dict() for token in self.logprobs],
            "index": self.index,
            "fallback": None if self.fallback is None else self.fallback.to_dict(),
        }


@dataclass(frozen=True)
class Fallback:
    """Why another model answered than the one asked for: the call's chain (`fallback_models`, or
    `ULTRA_LLM_MODEL_FALLBACKS`) went past it."""

    requested: str
    """The model the call asked for."""
    model: str
    """The model that answered instead."""
    reason: str
    """Why it did not answer: `not_found` (no server has it), `unavailable` (its servers are down),
    `overloaded` (they refused for load, after the retries), `context_length` (the prompt is longer
    than its window) or `cooling_down` (it failed moments ago and is skipped for a while)."""
    message: str
    """What happened to it, in a sentence (the error's message)."""
    passed: tuple[str, ...] = ()
    """Every model before the one that answered, in order, the requested one first."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "requested": self.requested,
            "model": self.model,
            "reason": self.reason,
            "message": self.message,
            "passed": list(self.passed),
        }


@dataclass(frozen=True)
class Result:
    """A whole answer: its text, which model and backend made it, why it stopped, token usage, the
    reasoning text apart, the tool calls the model asks for, and for a response format the parsed
    answer (an instance of the pydantic model when one was given)."""

    text: str
    """The answer's text (without any reasoning)."""
    model: str
    """The model that answered."""
    backend: str
    """The backend that answered."""
    finish_reason: str | None = None
    """Why the answer stopped (`"stop"`, `"length"`, `"tool_calls"`), when the backend says."""
    usage: Usage | None = None
    """Token counts, when the backend reports them."""
    reasoning: str | None = None
    """A reasoning model's thinking, when it thought and the backend returns it."""
    tool_calls: tuple[ToolCall, ...] = ()
    """The tools the model asked to call (each with its raw `arguments` and `parsed_arguments`)."""
    parsed: Any = None
    """For a response format: the answer parsed (the pydantic model's instance when one was given)."""
    logprobs: tuple[TokenLogprob, ...] = ()
    """The answer's tokens with their log probabilities, when `logprobs` was asked."""
    choices: tuple[Choice, ...] = ()
    """Every answer, when several were asked (`n` > 1); the fields above are the first's. Empty
    for one answer."""
    fallback: Fallback | None = None
    """When `model` is not the model asked for: which one was, and why it did not answer."""

    def to_message(self) -> Message:
        """The answer as the assistant message to put in the history (with its tool calls)."""
        return Message("assistant", self.text, self.tool_calls)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        usage = self.usage
        return {
            "text": self.text,
            "model": self.model,
            "backend": self.backend,
            "finish_reason": self.finish_reason,
            "usage": None if usage is None else usage.__dict__.copy(),
            "reasoning": self.reasoning,
            "tool_calls": [call.to_json() for call in self.tool_calls],
            "parsed": to_json_value(self.parsed),
            "logprobs": [token.to_dict() for token in self.logprobs],
            "choices": [choice.to_dict() for choice in self.choices],
            "fallback": None if self.fallback is None else self.fallback.to_dict(),
        }


@dataclass(frozen=True)
class EmbeddingRequest:
    """Texts to embed with one model."""

    model: str
    inputs: tuple[str, ...]
    backend: str
    deadline: Deadline | None = field(default=None, compare=False, repr=False)
    """When the call must be done (set by the adapter), as ``GenerationRequest.deadline``."""


@dataclass(frozen=True)
class EmbeddingResult:
    """One vector per input, in input order."""

    vectors: tuple[tuple[float, ...], ...]
    model: str
    backend: str
    usage: Usage | None = None


@dataclass(frozen=True)
class Progress:
    """Progress of a long operation (a pull): a status line and byte counts when known."""

    message: str
    completed: int | None = None
    total: int | None = None
    status: Literal["progress", "success", "warning", "info"] = "progress"


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class Availability:
    """The answer of a backend's cheap availability check.

    When ``available`` is false, ``error`` is the typed error that explains why and how to fix it.
    """

    available: bool
    detail: str = ""
    error: Exception | None = None

    @property
    def reason(self) -> str:
        """One line: the detail when available, else the error's message and fix."""
        if self.available or self.error is None:
            return self.detail
        return str(self.error)


@dataclass
class Check:
    """One step of ``ultra-llm doctor``: its title, whether it passed, what was found, the fix when it failed."""

    title: str
    ok: bool
    detail: str = ""
    fix: str = ""
    required: bool = True
    """A failed required check fails the doctor; an optional one is a warning."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return asdict(self)
