"""The mock backend's settings: latency, canned answers and fault injection, from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Fault = Literal["none", "unavailable", "timeout", "hang", "fail-midstream", "unknown-model", "fail"]


class MockSettings(BaseSettings):
    """``ULTRA_LLM_MOCK_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="ULTRA_LLM_MOCK_", case_sensitive=False, extra="ignore")

    delay: float = Field(0.0, ge=0, description="Seconds between streamed chunks.")
    first_token_delay: float = Field(0.0, ge=0, description="Seconds before the first chunk.")
    answers: Path | None = Field(None, description="JSON file mapping prompts to canned answers.")
    fault: Fault = Field(
        "none", description="Inject a failure: unavailable, timeout, hang, fail, fail-midstream, unknown-model."
    )
    fail_after: int = Field(2, ge=0, description="Chunks streamed before `fail-midstream` fails.")
    embedding_size: int = Field(8, ge=1, le=4096, description="Length of the mock's embedding vectors.")
