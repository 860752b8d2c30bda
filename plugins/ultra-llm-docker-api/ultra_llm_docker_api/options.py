"""The generation options the ``docker-api`` backend accepts, validated before any request.

Each option is a field of the chat body (``POST <api>/chat/completions``), sent only when set, under
its own name (``chat_body``); Docker Model Runner forwards the body to llama-server unchanged. The
ranges come from two sources, named in each field's description:

* OpenAI's API reference (*Create chat completion*): ``temperature`` 0..2, the penalties -2..2,
  ``logit_bias`` values -100..100, ``top_logprobs`` 0..20, ``n`` ≥ 1.
* llama.cpp b9878, ``tools/server/server-schema.cpp`` ``make_llama_cmpl_schema``: each body field of
  the completion task. A field there with ``set_hard_limits`` is refused out of range (400); one with
  ``set_limits`` is *clamped* silently, and many have no limit at all (``typical_p``, the penalties,
  ``mirostat_tau``): for those this model refuses what the sampler cannot mean (a negative ``top_k``,
  a ``dry_base`` below 1, which the server would replace by its default without a word). The chat
  endpoint first runs ``tools/server/server-common.cpp`` ``oaicompat_chat_params_parse``, which turns
  ``logprobs``/``top_logprobs`` into ``n_probs`` and refuses ``top_logprobs`` without ``logprobs``.

Anything else reaches the body only through ``extra``: a JSON object merged into the body last, that
may not name a field the backend sets itself nor one of these options (or a server alias of one).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, field_validator, model_validator

__all__ = ["OPTIONS_HINT", "RESERVED_BODY_FIELDS", "SAMPLER_NAMES", "DockerAPIOptions", "StreamOptions"]

OPTIONS_HINT = (
    "Use OpenAI's chat options (temperature, max_tokens, top_p, stop, seed, frequency_penalty, presence_penalty, "
    "logit_bias, logprobs, top_logprobs, n, user, parallel_tool_calls, stream_options), llama-server's samplers "
    "(top_k, min_p, typical_p, repeat_*, dry_*, mirostat*, xtc_*, dynatemp_*, top_n_sigma, samplers, grammar, ...) "
    "and server fields (cache_prompt, id_slot, n_probs, n_keep, ...); any other body field goes in "
    "extra='{\"field\": value}'. The table with each range: docs/configuration.md, 'Generation options on docker-api'."
)

_OPENAI = "OpenAI's API reference"
"""OpenAI's API reference, *Create chat completion* (platform.openai.com/docs/api-reference/chat/create)."""
_SCHEMA = "server-schema.cpp make_llama_cmpl_schema"
"""llama.cpp b9878 ``tools/server/server-schema.cpp``, ``make_llama_cmpl_schema``."""
_PARSE = "server-common.cpp oaicompat_chat_params_parse"
"""llama.cpp b9878 ``tools/server/server-common.cpp``, ``oaicompat_chat_params_parse``."""

RESERVED_BODY_FIELDS: dict[str, str] = {
    "model": "the model argument",
    "messages": "the prompt or messages",
    "stream": "stream() / --stream",
    "tools": "tools=",
    "tool_choice": "tool_choice=",
    "response_format": "response_format=",
    "json_schema": "response_format= (llama-server turns it into the same grammar)",
    "chat_template_kwargs": "reasoning=",
    "thinking_budget_tokens": "reasoning_budget=",
    "n_predict": "the option max_tokens",
    "max_completion_tokens": "the option max_tokens",
    "n_cmpl": "the option n",
}
"""Body fields ``extra`` may not name -> what sets them. The backend writes the first ones itself
(``chat_body``); the rest are llama-server's aliases of an option (``n_predict`` and
``max_completion_tokens`` of ``max_tokens``, ``n_cmpl`` of ``n``: ``make_llama_cmpl_schema``'s
``add_alias``), which would override the option without its checks."""

_CANONICAL_SAMPLERS = (
    "dry",
    "top_k",
    "top_p",
    "top_n_sigma",
    "typ_p",
    "min_p",
    "temperature",
    "xtc",
    "infill",
    "penalties",
    "adaptive_p",
)
SAMPLER_NAMES = frozenset(
    {
        *_CANONICAL_SAMPLERS,
        *(name.replace("_", "-") for name in _CANONICAL_SAMPLERS),
        *(name.replace("_", "") for name in _CANONICAL_SAMPLERS),
        "nucleus",
        "temp",
        "typ",
    }
)
"""The sampler names llama-server knows, compared lower-cased: the canonical names, their kebab-case
and no-dash spellings and three aliases (llama.cpp b9878 ``common/sampling.cpp``
``common_sampler_types_from_names``, which drops an unknown name with only a log warning)."""
_SAMPLER_CHARS = frozenset("dkypsmtxiea")
"""One character per sampler (``common_sampler_type_to_chr``; ``common_sampler_types_from_chars``
drops an unknown one with a log warning)."""

_Bias = Annotated[StrictFloat, Field(ge=-100, le=100)]


class StreamOptions(BaseModel):
    """OpenAI's ``stream_options``: llama-server reads ``include_usage`` only (``make_llama_cmpl_schema``'s
    nested ``stream_options``). Sent with streamed requests only (OpenAI refuses it otherwise); per
    request it wins over ``ULTRA_LLM_DOCKER_API_STREAM_USAGE``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    include_usage: bool = Field(description="Send a last chunk with the token usage.")


class DockerAPIOptions(BaseModel):
    """The chat body's sampling and server fields: OpenAI's, which llama.cpp, vLLM and Ollama honour,
    and llama-server's own (another server may ignore those). Sent only when set; ``extra`` merges
    other body fields last. Out-of-range values, an unknown option and ``top_logprobs`` without
    ``logprobs`` are refused before any request (the kernel's ``InvalidOptionsError``)."""

    model_config = ConfigDict(extra="forbid", defer_build=True, frozen=True, allow_inf_nan=False)

    # -- OpenAI's chat options ------------------------------------------------------------------
    temperature: float | None = Field(
        default=None,
        ge=0,
        le=2,
        description=(
            f"Sampling temperature; 0 is greedy. 0..2: {_OPENAI} (llama-server clamps below 0 only: {_SCHEMA})."
        ),
    )
    max_tokens: int | None = Field(
        default=None,
        ge=1,
        description=(
            f"Most tokens to generate. ≥ 1 (llama-server's n_predict also takes -1, no limit, and 0, prompt only; it "
            f"refuses less than -1: {_SCHEMA})."
        ),
    )
    top_p: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description=f"Nucleus sampling probability mass, 1 = off. 0..1 ({_SCHEMA} clamps; {_OPENAI}).",
    )
    stop: str | list[str] | None = Field(
        default=None,
        description=f"Text (or texts) that ends the answer; none empty (llama-server drops empty ones: {_SCHEMA}).",
    )
    seed: int | None = Field(
        default=None,
        ge=-1,
        le=2**32 - 1,
        description=(
            f"Random seed, for repeatable sampling; -1 = random. -1..2^32-1: llama-server reads an unsigned 32-bit "
            f"seed ({_SCHEMA})."
        ),
    )
    frequency_penalty: float | None = Field(
        default=None,
        ge=-2,
        le=2,
        description=f"Penalty by how often a token appeared, 0 = off. -2..2: {_OPENAI} (no limit in {_SCHEMA}).",
    )
    presence_penalty: float | None = Field(
        default=None,
        ge=-2,
        le=2,
        description=f"Penalty for a token that appeared at all, 0 = off. -2..2: {_OPENAI} (no limit in {_SCHEMA}).",
    )
    logit_bias: dict[str, _Bias] | None = Field(
        default=None,
        description=(
            f"Token id (or text, which llama-server tokenizes) -> bias added to its logit; -100 bans it. Values "
            f"-100..100: {_OPENAI} "
            f"(llama-server takes any number and skips ids outside the vocabulary: {_SCHEMA}, logit_bias)."
        ),
    )
    logprobs: bool | None = Field(
        default=None,
        description=(
            f"Return the log probability of each chosen token (llama-server refuses it with tools while streaming: "
            f"{_PARSE})."
        ),
    )
    top_logprobs: int | None = Field(
        default=None,
        ge=0,
        le=20,
        description=(
            f"How many most likely tokens to return at each place; needs logprobs=true ({_PARSE} refuses it "
            f"otherwise). 0..20: {_OPENAI}."
        ),
    )
    n: int | None = Field(
        default=None,
        ge=1,
        description=(
            f"How many choices to generate. ≥ 1: {_OPENAI}; llama-server refuses more than its slots (--parallel): "
            f"{_SCHEMA}, n_cmpl."
        ),
    )
    user: str | None = Field(
        default=None, description=f"An id of the end user, for the server's logs ({_OPENAI}; llama-server ignores it)."
    )
    parallel_tool_calls: bool | None = Field(
        default=None,
        description=(
            f"Let the model ask for several tool calls in one answer ({_PARSE}; the chat template must support it)."
        ),
    )
    stream_options: StreamOptions | None = Field(
        default=None,
        description=(
            'Streams only: {"include_usage": bool}; wins over ULTRA_LLM_DOCKER_API_STREAM_USAGE for this request '
            f"({_SCHEMA} reads include_usage only)."
        ),
    )

    # -- llama-server's samplers ----------------------------------------------------------------
    top_k: int | None = Field(
        default=None, ge=0, description=f"Keep the K most likely tokens, 0 = off. ≥ 0 ({_SCHEMA} clamps)."
    )
    min_p: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description=f"Least probability relative to the most likely token, 0 = off. 0..1 ({_SCHEMA} clamps).",
    )
    typical_p: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description=f"Locally typical sampling, 1 = off. 0..1, a probability (no limit in {_SCHEMA}).",
    )
    top_n_sigma: float | None = Field(
        default=None,
        description=(
            f"Keep tokens within N standard deviations of the top logit; negative = off (no limit in {_SCHEMA})."
        ),
    )
    xtc_probability: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description=f"Chance of XTC removing the top tokens, 0 = off. 0..1 ({_SCHEMA} clamps).",
    )
    xtc_threshold: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description=f"Least probability of a token XTC removes; above 0.5 XTC is off. 0..1 ({_SCHEMA} clamps).",
    )
    dynatemp_range: float | None = Field(
        default=None,
        ge=0,
        description=f"Dynamic temperature: temperature ± range, 0 = off. ≥ 0 (no limit in {_SCHEMA}).",
    )
    dynatemp_exponent: float | None = Field(
        default=None, ge=0, description=f"Dynamic temperature exponent. ≥ 0 (no limit in {_SCHEMA})."
    )
    repeat_penalty: float | None = Field(
        default=None,
        gt=0,
        description=f"Penalty on repeated tokens, 1 = off. > 0: the sampler divides by it (no limit in {_SCHEMA}).",
    )
    repeat_last_n: int | None = Field(
        default=None,
        ge=-1,
        description=f"Tokens the penalties look back, 0 = off, -1 = the context. ≥ -1 ({_SCHEMA} refuses less).",
    )
    dry_multiplier: float | None = Field(
        default=None, ge=0, description=f"DRY repetition penalty multiplier, 0 = off. ≥ 0 (no limit in {_SCHEMA})."
    )
    dry_base: float | None = Field(
        default=None,
        ge=1,
        description=f"DRY penalty base. ≥ 1 ({_SCHEMA} replaces a value below 1 by the server's default).",
    )
    dry_allowed_length: int | None = Field(
        default=None, ge=0, description=f"Repeated tokens DRY allows before penalizing. ≥ 0 ({_SCHEMA} refuses less)."
    )
    dry_penalty_last_n: int | None = Field(
        default=None, ge=-1, description=f"Tokens DRY scans, 0 = off, -1 = the context. ≥ -1 ({_SCHEMA} refuses less)."
    )
    dry_sequence_breakers: list[str] | None = Field(
        default=None,
        min_length=1,
        description=f"Texts that end a DRY repetition; not empty ({_SCHEMA} refuses an empty list).",
    )
    mirostat: int | None = Field(
        default=None, ge=0, le=2, description=f"0 = off, 1 = Mirostat, 2 = Mirostat 2.0. 0..2 ({_SCHEMA} clamps)."
    )
    mirostat_tau: float | None = Field(
        default=None, ge=0, description=f"Mirostat target entropy. ≥ 0 (no limit in {_SCHEMA})."
    )
    mirostat_eta: float | None = Field(
        default=None, ge=0, description=f"Mirostat learning rate. ≥ 0 (no limit in {_SCHEMA})."
    )
    adaptive_target: float | None = Field(
        default=None, le=1, description=f"Adaptive-p target entropy 0..1, negative = off. ≤ 1 ({_SCHEMA} clamps)."
    )
    adaptive_decay: float | None = Field(
        default=None, ge=0, le=0.99, description=f"Adaptive-p EMA decay. 0..0.99 ({_SCHEMA} refuses outside)."
    )
    samplers: list[str] | str | None = Field(
        default=None,
        description=(
            "The samplers in order: names (dry, top_k, top_p, top_n_sigma, typ_p, min_p, temperature, xtc, "
            "infill, penalties, "
            "adaptive_p, their kebab-case or no-dash spellings, nucleus, temp, typ) or a string of their letters "
            "(dkypsmtxiea); "
            "llama-server drops an unknown one with a log warning (common/sampling.cpp "
            "common_sampler_types_from_names)."
        ),
    )
    grammar: str | None = Field(
        default=None,
        min_length=1,
        description=f"A GBNF grammar the answer follows ({_SCHEMA}; {_PARSE} refuses it with tools).",
    )
    min_keep: int | None = Field(
        default=None, ge=0, description=f"Least tokens each sampler keeps. ≥ 0 ({_SCHEMA} refuses less)."
    )
    ignore_eos: bool | None = Field(default=None, description=f"Go on past the end-of-generation token ({_SCHEMA}).")

    # -- llama-server's server fields -----------------------------------------------------------
    n_probs: int | None = Field(
        default=None,
        ge=0,
        description=(
            f"Top-N token probabilities in llama-server's own form. ≥ 0 (no limit in {_SCHEMA}); with logprobs=true "
            f"use top_logprobs."
        ),
    )
    post_sampling_probs: bool | None = Field(
        default=None, description=f"Probabilities after the sampler chain ({_SCHEMA})."
    )
    cache_prompt: bool | None = Field(default=None, description=f"Reuse the KV cache of a common prefix ({_SCHEMA}).")
    n_cache_reuse: int | None = Field(
        default=None,
        ge=0,
        description=f"Least chunk reused from the cache by KV shifting. ≥ 0 ({_SCHEMA} refuses less).",
    )
    id_slot: int | None = Field(
        default=None,
        ge=-1,
        description=(
            "The slot to run in, -1 = an idle one. ≥ -1; a number past the last slot wraps around "
            "(server-context.cpp get_slot_by_id)."
        ),
    )
    n_keep: int | None = Field(
        default=None,
        ge=-1,
        description=f"Prompt tokens kept when the context shifts, -1 = all. ≥ -1 ({_SCHEMA} refuses less).",
    )
    n_discard: int | None = Field(
        default=None,
        ge=0,
        description=f"Tokens after n_keep discarded on a shift, 0 = half. ≥ 0 ({_SCHEMA} refuses less).",
    )
    n_indent: int | None = Field(
        default=None, ge=0, description=f"Least line indentation of the answer. ≥ 0 ({_SCHEMA} refuses less)."
    )
    t_max_predict_ms: int | None = Field(
        default=None,
        ge=0,
        description=(
            f"Time limit of generation after a newline, in ms, 0 = none. ≥ 0 ({_SCHEMA} takes -1 too, the same as 0)."
        ),
    )
    return_tokens: bool | None = Field(default=None, description=f"Return the generated token ids ({_SCHEMA}).")
    timings_per_token: bool | None = Field(default=None, description=f"Timings in every streamed chunk ({_SCHEMA}).")

    # -- anything else ----------------------------------------------------------------------------
    extra: dict[str, Any] | None = Field(
        default=None,
        description=(
            "Other body fields, a JSON object merged into the body last (at your own risk: not checked). "
            "Refused: the fields the backend sets (model, messages, stream, tools, ...), these options and their "
            "server aliases."
        ),
    )

    @field_validator("stop")
    @classmethod
    def _stop_not_empty(cls, value: str | list[str] | None) -> str | list[str] | None:
        texts = [value] if isinstance(value, str) else (value or [])
        if any(not text for text in texts):
            raise ValueError("stop texts must not be empty")
        return value

    @field_validator("logit_bias", mode="before")
    @classmethod
    def _token_ids_as_keys(cls, value: Any) -> Any:
        """Integer token ids become the JSON object's string keys: ``{15043: -100}`` is sent as OpenAI's
        ``{"15043": -100}``."""
        if isinstance(value, dict):
            return {
                str(key) if isinstance(key, int) and not isinstance(key, bool) else key: bias
                for key, bias in value.items()
            }
        return value

    @field_validator("samplers")
    @classmethod
    def _known_samplers(cls, value: list[str] | str | None) -> list[str] | str | None:
        if isinstance(value, str):
            unknown = sorted(set(value) - _SAMPLER_CHARS)
            if unknown or not value:
                raise ValueError(f"sampler letters are {''.join(sorted(_SAMPLER_CHARS))}, got {value!r}")
        elif value is not None:
            unknown = [name for name in value if name.lower() not in SAMPLER_NAMES]
            if unknown or not value:
                raise ValueError(f"unknown sampler(s) {unknown or value}; known: {', '.join(_CANONICAL_SAMPLERS)}")
        return value

    @field_validator("extra")
    @classmethod
    def _extra_fields(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        taken = [f"{name} (set by {RESERVED_BODY_FIELDS[name]})" for name in value if name in RESERVED_BODY_FIELDS]
        taken += [
            f"{name} (an option: pass it as {name}=...)"
            for name in value
            if name in cls.model_fields and name != "extra"
        ]
        if taken:
            raise ValueError(f"extra may not name {', '.join(taken)}")
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"extra must be a JSON object ({exc})") from None
        return value

    @model_validator(mode="after")
    def _logprobs_pairs(self) -> DockerAPIOptions:
        """``top_logprobs`` needs ``logprobs=true`` (llama-server refuses it otherwise:
        ``oaicompat_chat_params_parse``, "top_logprobs requires logprobs to be set to true"); ``n_probs``
        with ``logprobs=true`` would be overwritten there by ``top_logprobs`` (default 20) without a word."""
        if self.top_logprobs is not None and self.logprobs is not True:
            raise ValueError(
                "top_logprobs needs logprobs=true (llama-server refuses it alone); "
                "add logprobs=true or drop top_logprobs"
            )
        if self.n_probs is not None and self.logprobs is True:
            raise ValueError(
                "n_probs is ignored when logprobs=true (llama-server uses top_logprobs); use top_logprobs instead"
            )
        return self
