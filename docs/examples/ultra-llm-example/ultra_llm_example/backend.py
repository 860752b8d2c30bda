"""The ``shout`` backend: a complete, small backend to copy.

It needs no server: ``shout/upper`` answers with the prompt in capitals, ``shout/reverse`` with
the prompt reversed. Everything a real backend has is here in miniature: an options model, a
settings model, availability, discovery, streaming with cancellation, typed errors.

Imported only when the backend is first used (the plugin registers it as a string), so it may
import pydantic and whatever client library a real backend needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from ultra_llm.errors import InvalidOptionsError, ModelNotFoundError
from ultra_llm.plugin import Availability, Backend, Chunk, GenerationRequest, ModelInfo, Settings, Usage, setting

if TYPE_CHECKING:
    from ultra_llm import UltraConfig

__all__ = ["MODELS", "ShoutBackend", "ShoutOptions", "ShoutSettings"]

MODELS: dict[str, str] = {
    "shout/upper": "Answers with the prompt in capitals.",
    "shout/reverse": "Answers with the prompt reversed, in capitals.",
}


class ShoutOptions(BaseModel):
    """The generation options the backend accepts (``-o name=value`` in the CLI).

    ``extra="forbid"`` is required: an unknown option must be an error, not silently ignored.
    ``defer_build=True`` keeps pydantic's schema build off the import path; ``frozen=True`` keeps
    a request immutable all the way down (no middleware can change it after a cache keyed it).
    Accept the common sampling options your callers send (Ultra passes ``temperature`` and
    ``max_tokens``) even when, as here, some of them change nothing.
    """

    model_config = ConfigDict(extra="forbid", defer_build=True, frozen=True)

    exclamations: int = Field(default=1, ge=0, le=5, description="How many '!' to end the answer with.")
    max_tokens: int | None = Field(default=None, ge=1, description="Stop after this many words.")
    temperature: float | None = Field(
        default=None, ge=0, le=2, description="Accepted and ignored: shouting is deterministic."
    )


@dataclass(frozen=True)
class ShoutSettings(Settings):
    """The backend's own environment variables, ``ULTRA_LLM_SHOUT_*`` (``ultra-llm config`` shows them)."""

    env_prefix: ClassVar[str] = "ULTRA_LLM_SHOUT_"

    delay: float = setting(0.0, ge=0, le=10, help="Seconds to wait between streamed words.")


class ShoutBackend(Backend):
    """Shouts the prompt back, word by word."""

    name: ClassVar[str] = "shout"
    summary: ClassVar[str] = "Answers by shouting (or reversing) the prompt: an example backend."
    options_model: ClassVar[type[BaseModel]] = ShoutOptions
    settings_model: ClassVar[type[Settings]] = ShoutSettings
    default_model: ClassVar[str] = "shout/upper"  # what a call naming no model gets (DEFAULT_MODEL unset)
    settings: ShoutSettings  # the base class sets it; this narrows its type

    def __init__(self, config: UltraConfig, *, settings: ShoutSettings | None = None) -> None:
        # The host reads the settings when it makes the backend and passes them (with a caller's
        # per-adapter overrides: create_adapter(settings={...})); a bad value is a
        # ConfigurationError naming the variable. Given None, the base class reads them.
        super().__init__(config, settings=settings)

    def model_missing(self, model: str, detail: str | None = None) -> ModelNotFoundError:
        # The fix this backend gives for a model it does not have: doctor and every
        # "not found" below use it, so the user sees this backend's way, not someone else's.
        return ModelNotFoundError(
            model or "(empty)",
            backend=self.name,
            detail=detail,
            fix=f"Use one of: {', '.join(MODELS)} (`ultra-llm models -b shout`).",
        )

    async def check_availability(self) -> Availability:
        # Cheap, and never raises for "not available": return Availability(False, error=...)
        # with a typed error whose fix says what to do. This backend is always available.
        return Availability(True, "the shout backend needs no server")

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(name, self.name, details={"description": text}) for name, text in MODELS.items()]

    def answer_for(self, request: GenerationRequest) -> str:
        """The whole answer to ``request``; ``ModelNotFoundError`` for a model we do not serve."""
        if request.model not in MODELS:
            # A typed error with a fix, never a bare exception or an "Error: ..." string.
            raise self.model_missing(request.model)
        text = request.prompt.upper()
        if request.model == "shout/reverse":
            text = text[::-1]
        options: ShoutOptions = request.options or ShoutOptions()  # None when the call set no options
        return text.rstrip() + "!" * options.exclamations

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        """Yield the answer word by word; the last chunk carries the finish reason and usage.

        This is an async generator, so when the caller closes it early Python raises
        ``GeneratorExit`` at the ``await``/``yield`` it is paused on and the work stops there:
        that is what cancellation means for a backend. A backend with a subprocess or an HTTP
        response closes it in a ``finally`` block.
        """
        options: ShoutOptions = request.options or ShoutOptions()  # None when the call set no options
        if not isinstance(options, ShoutOptions):  # the host validates; direct callers may not
            raise InvalidOptionsError("The shout backend got options it did not validate.", backend=self.name)
        words = self.answer_for(request).split(" ")
        finish = "stop"
        if options.max_tokens is not None and len(words) > options.max_tokens:
            words, finish = words[: options.max_tokens], "length"
        for index, word in enumerate(words):
            if index and self.settings.delay:
                await asyncio.sleep(self.settings.delay)
            yield Chunk(word if index == 0 else f" {word}")
        prompt_words = len(request.prompt.split())
        yield Chunk("", finish_reason=finish, usage=Usage(prompt_words, len(words), prompt_words + len(words)))
