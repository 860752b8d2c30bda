"""The API's request and response bodies (pydantic), so the OpenAPI schema documents every route.

Server-sent event streams are documented here too: each ``*Event`` model is the JSON ``data`` of
one event whose SSE ``event:`` name is given in the model's docstring.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .._content import MAX_IMAGE_BYTES
from .._text import lone_surrogate_path

__all__ = [
    "BackendInfo",
    "BackendsResponse",
    "ChunkEvent",
    "DoctorResponse",
    "DoctorStep",
    "DoneEvent",
    "FanOutAnswer",
    "FanOutResponse",
    "EmbeddingsRequest",
    "EmbeddingsResponse",
    "ErrorBody",
    "GenerateRequest",
    "GenerateResponse",
    "ImagePartIn",
    "MessageIn",
    "ModelOut",
    "ModelsResponse",
    "ProgressEvent",
    "PullDoneEvent",
    "PullRequest",
    "RemoveResponse",
    "SelectionOut",
    "TextPartIn",
    "ToolCallDeltaOut",
    "ToolCallIn",
    "ToolCallOut",
    "ToolIn",
    "UsageOut",
]

MAX_PROMPT_CHARS = 1_000_000
MAX_IMAGE_URL_CHARS = MAX_IMAGE_BYTES * 4 // 3
"""An image's data URL: base64 of up to ``MAX_IMAGE_BYTES`` (12 MiB); the body cap (11 MiB by default) binds first."""


class _Strict(BaseModel):
    """A request body: unknown fields refused, and text holding a lone surrogate (a JSON ``\\ud800``
    escape, which UTF-8 cannot carry) refused with a 422 naming where it is."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _valid_text(cls, data: Any) -> Any:
        where = lone_surrogate_path(data)
        if where is not None:
            raise ValueError(f"{where or 'the body'} is not valid text: it holds a lone surrogate (send valid UTF-8)")
        return data


class ErrorBody(BaseModel):
    """Every error response (and the ``error`` SSE event): what happened and what to do about it."""

    error: str = Field(description="The error's type, e.g. ModelNotFoundError.")
    message: str = Field(description="What happened.")
    fix: str | None = Field(None, description="What to do about it.")
    backend: str | None = Field(None, description="The backend involved, when known.")
    status: int = Field(description="The HTTP status this error maps to.")
    detail: list[dict[str, Any]] | None = Field(None, description="Field errors, for request validation errors.")


class SelectionOut(BaseModel):
    """Which backend the configuration asks for, why, which one serves, and why it differs."""

    requested: str
    reason: str
    serving: str | None = Field(description="The backend that answers requests naming none; null if none can.")
    fallback: str = Field(description="ULTRA_LLM_FALLBACK: the backend used when the requested one is unavailable.")
    fallback_reason: str | None = Field(None, description="Why the requested backend is not serving.")


class BackendInfo(BaseModel):
    """One registered backend: whether it can serve now and why not, what it offers."""

    name: str
    plugin: str
    summary: str = ""
    aliases: list[str] = Field(default_factory=list)
    selected: bool = Field(description="True for the backend that serves requests naming none.")
    available: bool
    reason: str = Field("", description="The availability detail, or the error's message when unavailable.")
    fix: str | None = Field(None, description="How to make it available, when it is not.")
    conflicts: list[str] = Field(
        default_factory=list,
        description="Names another plugin registered too; this plugin kept them (the first in load order).",
    )
    capabilities: dict[str, Any] | None = Field(
        None,
        description="streaming; the optional capabilities store, lifecycle, embeddings; the request features "
        "tools, response_format, images, reasoning_control; options.",
    )
    options_schema: dict[str, Any] | None = Field(
        None, description="JSON schema of the generation options the backend accepts (null: none)."
    )


class BackendsResponse(BaseModel):
    """``GET /backends``."""

    selection: SelectionOut
    backends: list[BackendInfo]


class DoctorStep(BaseModel):
    """One of the doctor's checks."""

    title: str
    ok: bool
    detail: str = ""
    fix: str = ""
    required: bool = True


class DoctorResponse(BaseModel):
    """``GET /doctor``: the checks of ``ultra-llm doctor``; ``ok`` is false when a required one failed."""

    ok: bool
    steps: list[DoctorStep]


class ModelOut(BaseModel):
    """A model the backend can serve."""

    name: str = Field(description="Canonical model reference, e.g. ai/smollm2:latest.")
    backend: str
    display_name: str
    details: dict[str, Any] = Field(default_factory=dict)
    source: str | None = Field(None, description="The plugin that contributed it, when not the backend.")
    context_window: int | None = Field(None, description="Context window in tokens; null: not known.")
    tools: bool | None = Field(None, description="Whether the model can call tools here; null: not known.")
    vision: bool | None = Field(None, description="Whether the model takes images; null: not known.")


class ModelsResponse(BaseModel):
    """``GET /models``."""

    backend: str
    default_model: str | None = Field(
        description="The model used when a request names none; null when neither DEFAULT_MODEL nor the backend has one."
    )
    models: list[ModelOut]


class PullRequest(_Strict):
    """``POST /models/pull``: download a model (progress streamed as SSE)."""

    model: str = Field(min_length=1, max_length=512, examples=["ai/smollm2"])
    backend: str | None = Field(None, description="Backend to use; default: the serving one.")


class ProgressEvent(BaseModel):
    """SSE ``event: progress`` of a pull; the stream ends with ``event: done`` or ``event: error``."""

    message: str
    completed: int | None = None
    total: int | None = None
    fraction: float | None = Field(None, description="completed / total, when both are known.")
    status: Literal["progress", "success", "warning", "info"] = "progress"


class PullDoneEvent(BaseModel):
    """SSE ``event: done``, last of a pull that completed."""

    model: str
    backend: str


class RemoveResponse(BaseModel):
    """``DELETE /models/{model}``."""

    removed: str
    backend: str


class TextPartIn(_Strict):
    """A text part of a message's content."""

    type: Literal["text"]
    text: str = Field(max_length=MAX_PROMPT_CHARS)


class ImageURL(_Strict):
    """Where an image is: a ``data:image/...;base64,...`` URL (remote URLs are refused)."""

    url: str = Field(max_length=MAX_IMAGE_URL_CHARS, examples=["data:image/png;base64,iVBORw0KGgo..."])


class ImagePartIn(_Strict):
    """An image part of a user message's content (PNG, JPEG, GIF or BMP, as a data URL)."""

    type: Literal["image_url"]
    image_url: ImageURL


class FunctionCall(_Strict):
    """The function a tool call names, and its arguments as the model wrote them (JSON text)."""

    name: str = Field(max_length=64)
    arguments: str = Field("{}", max_length=MAX_PROMPT_CHARS)


class ToolCallIn(_Strict):
    """A tool call an earlier assistant message made (OpenAI's shape)."""

    id: str = Field(max_length=512)
    type: Literal["function"] = "function"
    function: FunctionCall


class MessageIn(_Strict):
    """One chat message: text or a list of parts (text, images) in OpenAI's shape. An assistant
    message may carry the ``tool_calls`` it made; a ``tool`` message answers one of them by
    ``tool_call_id``."""

    role: Literal["system", "user", "assistant", "tool"]
    content: (
        Annotated[str, Field(max_length=MAX_PROMPT_CHARS)]
        | list[Annotated[TextPartIn | ImagePartIn, Field(discriminator="type")]]
        | None
    ) = Field(description="Text, or a list of text and image_url parts; null beside tool_calls.")
    tool_calls: list[ToolCallIn] | None = Field(None, description="The calls an assistant message made.")
    tool_call_id: str | None = Field(None, max_length=512, description="The call a `tool` message answers.")


class FunctionIn(_Strict):
    """A function the model may call: its name, what it does and a JSON Schema of its arguments."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str = Field("", max_length=MAX_PROMPT_CHARS)
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ToolIn(_Strict):
    """A tool definition (OpenAI's shape)."""

    type: Literal["function"] = "function"
    function: FunctionIn


class NamedToolChoice(_Strict):
    """``tool_choice`` naming the one tool the model must call."""

    type: Literal["function"] = "function"
    function: dict[str, str] = Field(description='{"name": <a tool of the request>}')


class ToolCallOut(BaseModel):
    """A call the model asks for: echo ``id`` in the ``tool`` message that answers it."""

    id: str
    name: str
    arguments: str = Field(description="The arguments as the model wrote them (JSON text).")
    parsed_arguments: Any = Field(None, description="The arguments decoded; null when they are not JSON.")


class ToolCallDeltaOut(BaseModel):
    """A streamed piece of a tool call: ``index`` says which; the first piece usually carries ``id``
    and ``name``, later ones more ``arguments`` text."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class GenerateRequest(_Strict):
    """``POST /generate``: a prompt (or messages), the model, and the backend's options.

    ``options`` are validated against the backend's options model (``GET /backends`` gives its JSON
    schema); an unknown option or a bad value is a 422 naming the supported ones.
    """

    prompt: str | list[MessageIn] = Field(description="A bare prompt, or a list of chat messages.")
    model: str | None = Field(None, max_length=512, description="Model to use; default: the server's default model.")
    models: list[Annotated[str, Field(min_length=1, max_length=512)]] | None = Field(
        None,
        min_length=1,
        max_length=16,
        description="Ask several models instead of one (not with `model`): the whole answer is `answers`, one "
        "per model in this order; streamed, every event carries its `model`. Scheduled around model loads.",
    )
    backend: str | None = Field(None, description="Backend to use; default: the serving one.")
    system_message: str | None = Field(None, max_length=MAX_PROMPT_CHARS, description="A system prompt put first.")
    options: dict[str, Any] = Field(default_factory=dict, description="The backend's generation options.")
    stream: bool = Field(False, description="Stream the answer as server-sent events instead of one JSON body.")
    timeout: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        strict=True,  # a number: not "5", not true
        description="Seconds this generation may take, instead of the server's ULTRA_LLM_TIMEOUT (above 0); "
        "the first-token limit (ULTRA_LLM_FIRST_TOKEN_TIMEOUT) still holds.",
    )
    tools: list[ToolIn] | None = Field(
        None, description="Functions the model may ask to call; the calls come back in `tool_calls` (none is run)."
    )
    tool_choice: Literal["auto", "none", "required"] | NamedToolChoice | str | None = Field(
        None, description="auto, none, required, a tool's name, or {type: function, function: {name}}; needs tools."
    )
    response_format: dict[str, Any] | None = Field(
        None,
        description="Answer in JSON: a JSON Schema, or OpenAI's response_format ({type: json_schema, json_schema: "
        "{name, schema}} or {type: json_object}); the parsed answer comes back in `parsed`.",
    )
    reasoning: bool | None = Field(None, description="Ask a reasoning model to think (true) or not (false).")
    reasoning_budget: int | None = Field(None, ge=0, description="The most tokens a reasoning model may think for.")
    fallback_models: list[Annotated[str, Field(min_length=1, max_length=512)]] | None = Field(
        None,
        max_length=16,
        description="Models to try, in order, when the model cannot answer (not found, its servers down or "
        "overloaded, the prompt past its context); replaces ULTRA_LLM_MODEL_FALLBACKS for this request.",
    )
    conversation: str | None = Field(
        None,
        min_length=1,
        max_length=256,
        description="The id of the conversation this request continues: a backend with several servers keeps "
        "it on one, where the server reuses its cache.",
    )


class UsageOut(BaseModel):
    """Token counts, when the backend reports them."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


class TokenLogprobOut(BaseModel):
    """A token with its log probability (OpenAI's shape), and the most likely tokens at its place."""

    token: str
    logprob: float
    bytes: list[int] | None = None
    top_logprobs: list[TokenLogprobOut] = Field(default_factory=list)


class ChoiceOut(BaseModel):
    """One of several answers (the ``n`` option)."""

    index: int
    text: str
    finish_reason: str | None = None
    reasoning: str | None = None
    tool_calls: list[ToolCallOut] = Field(default_factory=list)
    logprobs: list[TokenLogprobOut] = Field(default_factory=list)
    parsed: Any = None


class ChoiceEnd(BaseModel):
    """How one of several streamed answers ended (in ``done``'s ``choices``)."""

    index: int
    finish_reason: str | None = None
    tool_calls: list[ToolCallOut] = Field(default_factory=list)
    parsed: Any = None


class FallbackOut(BaseModel):
    """Another model answered than the one asked for (``fallback_models``, ULTRA_LLM_MODEL_FALLBACKS)."""

    requested: str = Field(description="The model asked for.")
    model: str = Field(description="The model that answered.")
    reason: Literal["not_found", "unavailable", "overloaded", "context_length", "cooling_down"] = Field(
        description="Why the model asked for did not answer."
    )
    message: str = Field(description="What happened to it.")
    passed: list[str] = Field(default_factory=list, description="Every model before the one that answered.")


class GenerateResponse(BaseModel):
    """The whole answer of ``POST /generate`` (``stream: false``)."""

    text: str
    model: str
    backend: str
    finish_reason: str | None = None
    usage: UsageOut | None = None
    reasoning: str | None = None
    tool_calls: list[ToolCallOut] = Field(default_factory=list, description="The calls the model asks for.")
    parsed: Any = Field(None, description="With a response_format: the answer decoded from JSON.")
    logprobs: list[TokenLogprobOut] = Field(
        default_factory=list, description="With the logprobs option: each token and its log probability."
    )
    choices: list[ChoiceOut] = Field(
        default_factory=list, description="With the n option above 1: every answer (the fields above are the first's)."
    )
    fallback: FallbackOut | None = Field(None, description="When another model answered than the one asked for.")


class ChunkEvent(BaseModel):
    """SSE ``event: chunk`` of a streamed generation: a piece of the answer (or of its reasoning), or
    pieces of the tool calls the model is making."""

    text: str
    kind: Literal["text", "reasoning"] = "text"
    tool_call_deltas: list[ToolCallDeltaOut] = Field(default_factory=list)
    logprobs: list[TokenLogprobOut] = Field(default_factory=list, description="This piece's tokens (logprobs option).")
    index: int = Field(0, description="Which answer the piece belongs to (the n option); 0 otherwise.")
    model: str | None = Field(None, description="With `models`: the model whose answer this piece is.")


class DoneEvent(BaseModel):
    """SSE ``event: done``, last of a streamed generation that completed: with the tool calls
    assembled from their pieces and, for a response_format, the parsed answer."""

    model: str
    backend: str
    finish_reason: str | None = None
    usage: UsageOut | None = None
    tool_calls: list[ToolCallOut] = Field(default_factory=list)
    parsed: Any = None
    choices: list[ChoiceEnd] = Field(default_factory=list, description="With n above 1: how each answer ended.")
    fallback: FallbackOut | None = Field(None, description="When another model answered than the one asked for.")


class FanOutAnswer(BaseModel):
    """One model's part of a generation asked of several (``models``): its answer or its error."""

    index: int = Field(description="The model's place in `models`.")
    model: str = Field(description="The model asked (canonical name).")
    ok: bool
    result: GenerateResponse | None = Field(None, description="Its answer, when it answered.")
    error: ErrorBody | None = Field(None, description="Its error, when it failed (the others still answer).")
    seconds: float = Field(description="How long its generation took.")


class FanOutResponse(BaseModel):
    """The whole answer of ``POST /generate`` with ``models``: one entry per model, in their order."""

    answers: list[FanOutAnswer]


class EmbeddingsRequest(_Strict):
    """``POST /embeddings``: one text or several."""

    input: str | list[str] = Field(description="One text, or a list of texts (one vector each, in order).")
    model: str | None = Field(None, max_length=512)
    backend: str | None = None


class EmbeddingsResponse(BaseModel):
    """One vector per input, in input order."""

    model: str
    backend: str
    vectors: list[list[float]]
    usage: UsageOut | None = None
