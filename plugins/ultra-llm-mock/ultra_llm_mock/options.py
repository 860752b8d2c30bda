"""The mock's generation options: a pydantic model, imported only when a call sets options."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MockOptions"]


class MockOptions(BaseModel):
    """Options the mock accepts (the common sampling options, so callers can exercise them)."""

    model_config = ConfigDict(extra="forbid", defer_build=True, frozen=True)

    temperature: float | None = Field(None, ge=0, le=2, description="Accepted and ignored: the mock is deterministic.")
    max_tokens: int | None = Field(None, ge=1, description="Stop after this many word-sized chunks.")
    top_p: float | None = Field(None, gt=0, le=1, description="Accepted and ignored.")
    seed: int | None = Field(None, description="Accepted and ignored.")
    stop: str | list[str] | None = Field(None, description="Stop before the first occurrence of this text.")
