"""The entry-point module: three outermost wrapper hooks, and nothing heavy at import.

The wrappers are ``tryfirst``, so they are the outermost: they time what the caller waits for,
cache hits included. With ``ULTRA_LLM_METRICS`` unset each hands back the inner call unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import TYPE_CHECKING

from ultra_llm import hookimpl

if TYPE_CHECKING:
    from ultra_llm.types import EmbedCall, EmbeddingRequest, GenerateCall, GenerationRequest, StreamCall

ENABLE_VARIABLE = "ULTRA_LLM_METRICS"


def enabled() -> bool:
    """True when ``ULTRA_LLM_METRICS`` is 1, true, yes or on."""
    return os.environ.get(ENABLE_VARIABLE, "").strip().lower() in {"1", "true", "yes", "on"}


@hookimpl(wrapper=True, tryfirst=True)
def ultra_llm_generate(request: GenerationRequest) -> Generator[None, GenerateCall, GenerateCall]:
    """Time and count every whole generation."""
    call = yield
    if not enabled():
        return call
    from .recorder import measure_generate

    return measure_generate(request, call)


@hookimpl(wrapper=True, tryfirst=True)
def ultra_llm_stream(request: GenerationRequest) -> Generator[None, StreamCall, StreamCall]:
    """Time (first token, rate, total) and count every streamed generation."""
    call = yield
    if not enabled():
        return call
    from .recorder import measure_stream

    return measure_stream(request, call)


@hookimpl(wrapper=True, tryfirst=True)
def ultra_llm_embed(request: EmbeddingRequest) -> Generator[None, EmbedCall, EmbedCall]:
    """Time and count every embedding request."""
    call = yield
    if not enabled():
        return call
    from .recorder import measure_embed

    return measure_embed(request, call)
