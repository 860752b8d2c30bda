"""The mock backend's settings: latency, canned answers and fault injection, from the environment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from ultra_llm.plugin import Settings, setting

Fault = Literal["none", "unavailable", "timeout", "hang", "fail-midstream", "unknown-model", "fail"]


@dataclass(frozen=True)
class MockSettings(Settings):
    """``ULTRA_LLM_MOCK_*`` variables."""

    env_prefix: ClassVar[str] = "ULTRA_LLM_MOCK_"

    delay: float = setting(0.0, ge=0, help="Seconds between streamed chunks.")
    first_token_delay: float = setting(0.0, ge=0, help="Seconds before the first chunk.")
    answers: str | None = setting(None, help="JSON file mapping prompts to canned answers.")
    fault: Fault = setting(
        "none", help="Inject a failure: unavailable, timeout, hang, fail, fail-midstream, unknown-model."
    )
    fail_after: int = setting(2, ge=0, help="Chunks streamed before `fail-midstream` fails.")
