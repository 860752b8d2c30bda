"""The mock's generation options: a pydantic model, imported only when a call sets options."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["MockOptions"]

_IGNORED = "Accepted and ignored: the mock is deterministic."


class MockOptions(BaseModel):
    """Options the mock accepts: the common sampling options, with the ranges a real backend checks
    (OpenAI's API reference: temperature 0..2, penalties -2..2, top_logprobs 0..20, n ≥ 1; llama-server's
    for its samplers), so callers can exercise them. ``max_tokens`` and ``stop`` change the answer, ``n``
    gives several answers and ``logprobs``/``top_logprobs`` deterministic token log probabilities
    (``with_choices_and_logprobs`` in the backend); the rest are accepted and ignored.
    ``top_logprobs`` without ``logprobs=true`` is refused, as llama-server refuses it."""

    model_config = ConfigDict(extra="forbid", defer_build=True, frozen=True, allow_inf_nan=False)

    temperature: float | None = Field(None, ge=0, le=2, description=_IGNORED)
    max_tokens: int | None = Field(None, ge=1, description="Stop after this many word-sized chunks.")
    top_p: float | None = Field(None, gt=0, le=1, description="Accepted and ignored.")
    seed: int | None = Field(None, description="Accepted and ignored.")
    stop: str | list[str] | None = Field(None, description="Stop before the first occurrence of this text.")
    top_k: int | None = Field(None, ge=0, description=_IGNORED)
    min_p: float | None = Field(None, ge=0, le=1, description=_IGNORED)
    frequency_penalty: float | None = Field(None, ge=-2, le=2, description=_IGNORED)
    presence_penalty: float | None = Field(None, ge=-2, le=2, description=_IGNORED)
    repeat_penalty: float | None = Field(None, gt=0, description=_IGNORED)
    logprobs: bool | None = Field(None, description="Each text chunk's log probability: -0.1 times its length.")
    top_logprobs: int | None = Field(
        None, ge=0, le=20, description="Needs logprobs=true. Up to 3 alternatives: the token, upper case, title case."
    )
    n: int | None = Field(None, ge=1, le=8, description="Answers: the i-th adds ' (answer i)' to the first's text.")
    user: str | None = Field(None, description=_IGNORED)

    @model_validator(mode="after")
    def _top_logprobs_needs_logprobs(self) -> MockOptions:
        if self.top_logprobs is not None and self.logprobs is not True:
            raise ValueError(
                "top_logprobs needs logprobs=true (as llama-server refuses it alone); "
                "add logprobs=true or drop top_logprobs"
            )
        return self
