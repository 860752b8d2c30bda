"""The generation options the ``docker-api`` backend accepts, validated before any request."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["OPTIONS_HINT", "DockerAPIOptions"]

OPTIONS_HINT = (
    "Use temperature, max_tokens, top_p, stop or seed (max_tokens: the name every OpenAI-compatible server takes)."
)


class DockerAPIOptions(BaseModel):
    """OpenAI sampling options llama.cpp, vLLM and Ollama all honour; sent only when set."""

    model_config = ConfigDict(extra="forbid", defer_build=True, frozen=True)

    temperature: float | None = Field(default=None, ge=0, le=2, description="Sampling temperature; 0 is greedy.")
    max_tokens: int | None = Field(default=None, ge=1, description="Most tokens to generate (sent as max_tokens).")
    top_p: float | None = Field(default=None, ge=0, le=1, description="Nucleus sampling probability mass.")
    stop: str | list[str] | None = Field(default=None, description="Text (or texts) that ends the answer.")
    seed: int | None = Field(default=None, description="Random seed, for repeatable sampling.")

    @field_validator("stop")
    @classmethod
    def _stop_not_empty(cls, value: str | list[str] | None) -> str | list[str] | None:
        texts = [value] if isinstance(value, str) else (value or [])
        if any(not text for text in texts):
            raise ValueError("stop texts must not be empty")
        return value
