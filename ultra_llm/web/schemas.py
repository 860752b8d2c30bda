"""The API's request and response bodies (pydantic), so the OpenAPI schema documents every route.

Server-sent event streams are documented here too: each ``*Event`` model is the JSON ``data`` of
one event whose SSE ``event:`` name is given in the model's docstring.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..text import lone_surrogate_path

__all__ = [
    "BackendInfo",
    "BackendsResponse",
    "ChunkEvent",
    "DoctorResponse",
    "DoctorStep",
    "DoneEvent",
    "EmbeddingsRequest",
    "EmbeddingsResponse",
    "ErrorBody",
    "GenerateRequest",
    "GenerateResponse",
    "MessageIn",
    "ModelOut",
    "ModelsResponse",
    "ProgressEvent",
    "PullDoneEvent",
    "PullRequest",
    "RemoveResponse",
    "SelectionOut",
    "UsageOut",
]

MAX_PROMPT_CHARS = 1_000_000


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
    capabilities: dict[str, Any] | None = Field(
        None, description="streaming, embeddings, pull, remove, lifecycle, options."
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


class ModelsResponse(BaseModel):
    """``GET /models``."""

    backend: str
    default_model: str = Field(description="The model used when a request names none.")
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


class MessageIn(_Strict):
    """One chat message."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str = Field(max_length=MAX_PROMPT_CHARS)


class GenerateRequest(_Strict):
    """``POST /generate``: a prompt (or messages), the model, and the backend's options.

    ``options`` are validated against the backend's options model (``GET /backends`` gives its JSON
    schema); an unknown option or a bad value is a 422 naming the supported ones.
    """

    prompt: str | list[MessageIn] = Field(description="A bare prompt, or a list of chat messages.")
    model: str | None = Field(None, max_length=512, description="Model to use; default: the server's default model.")
    backend: str | None = Field(None, description="Backend to use; default: the serving one.")
    system_message: str | None = Field(None, max_length=MAX_PROMPT_CHARS, description="A system prompt put first.")
    options: dict[str, Any] = Field(default_factory=dict, description="The backend's generation options.")
    stream: bool = Field(False, description="Stream the answer as server-sent events instead of one JSON body.")


class UsageOut(BaseModel):
    """Token counts, when the backend reports them."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


class GenerateResponse(BaseModel):
    """The whole answer of ``POST /generate`` (``stream: false``)."""

    text: str
    model: str
    backend: str
    finish_reason: str | None = None
    usage: UsageOut | None = None
    reasoning: str | None = None


class ChunkEvent(BaseModel):
    """SSE ``event: chunk`` of a streamed generation: a piece of the answer (or of its reasoning)."""

    text: str
    kind: Literal["text", "reasoning"] = "text"


class DoneEvent(BaseModel):
    """SSE ``event: done``, last of a streamed generation that completed."""

    model: str
    backend: str
    finish_reason: str | None = None
    usage: UsageOut | None = None


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
