"""The host's own hook implementations: the innermost calls every wrapper wraps."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from .hookspecs import hookimpl

if TYPE_CHECKING:
    from .backend import Backend
    from .types import EmbedCall, EmbeddingRequest, GenerateCall, GenerationRequest, StreamCall


@hookimpl(trylast=True)
def ultra_llm_generate(request: GenerationRequest, backend: Backend) -> GenerateCall:
    """Generate on the backend itself."""
    return partial(backend.generate, request)


@hookimpl(trylast=True)
def ultra_llm_stream(request: GenerationRequest, backend: Backend) -> StreamCall:
    """Stream from the backend itself."""
    return partial(backend.stream, request)


@hookimpl(trylast=True)
def ultra_llm_embed(request: EmbeddingRequest, backend: Backend) -> EmbedCall:
    """Embed on the backend itself."""
    return partial(backend.embed, request)
