"""The mock backend: deterministic answers streamed in word-sized chunks, with fault injection.

Models: ``mock/echo`` answers with the last user message; ``mock/fixed`` with a fixed text
containing "mock response"; ``mock/default`` (the default) and any other name, so a fallback from
``ai/smollm2`` still answers, with that text followed by "You said: " and the prompt.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from ultra_llm.errors import (
    BackendUnavailableError,
    ConfigurationError,
    GenerationError,
    GenerationTimeoutError,
    ModelNotFoundError,
    StreamInterruptedError,
)
from ultra_llm.plugin import (
    Availability,
    Backend,
    Check,
    Chunk,
    EmbeddingRequest,
    EmbeddingResult,
    GenerationRequest,
    ModelInfo,
    Progress,
    Usage,
)

from .settings import MockSettings

if TYPE_CHECKING:
    from ultra_llm.config import UltraConfig
    from ultra_llm.types import ProgressCallback

EMBEDDING_SIZE = 8
"""Length of the mock's embedding vectors."""
ECHO_MODEL = "mock/echo"
FIXED_MODEL = "mock/fixed"
DEFAULT_MODEL = "mock/default"
FIXED_ANSWER = "This is a mock response from ultra-llm's mock backend."
_WORD = re.compile(r"\s*\S+\s*|\s+")


def split_words(text: str) -> list[str]:
    """Word-sized chunks that join back to exactly ``text``."""
    return _WORD.findall(text)


class MockBackend(Backend):
    """A backend with no runner behind it, for development, demos and tests."""

    name: ClassVar[str] = "mock"
    summary: ClassVar[str] = "Deterministic answers with no runner: echo and fixed-text models."
    options_model = "ultra_llm_mock.options:MockOptions"  # imported only when a call sets options
    settings_model: ClassVar[type[MockSettings]] = MockSettings
    supports_embeddings: ClassVar[bool] = True
    supports_pull: ClassVar[bool] = True
    supports_remove: ClassVar[bool] = True
    lifecycle_hint: ClassVar[str] = (
        "The mock loads nothing. Serve from Docker Model Runner for that: USE_MODEL_RUNNER=true "
        "(MODEL_RUNNER_TYPE=cli or api)."
    )
    default_model: ClassVar[str] = DEFAULT_MODEL
    settings: MockSettings

    def __init__(self, config: UltraConfig, *, settings: MockSettings | None = None) -> None:
        super().__init__(config, settings=settings)
        self._models: dict[str, ModelInfo] = {
            ECHO_MODEL: ModelInfo(ECHO_MODEL, self.name, details={"kind": "echo", "context_size": 4096}),
            FIXED_MODEL: ModelInfo(FIXED_MODEL, self.name, details={"kind": "fixed", "context_size": 4096}),
            DEFAULT_MODEL: ModelInfo(DEFAULT_MODEL, self.name, details={"kind": "default", "context_size": 4096}),
        }
        self._answers = self._load_answers()

    def _load_answers(self) -> dict[str, str]:
        path = self.settings.answers
        if path is None:
            return {}
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"ULTRA_LLM_MOCK_ANSWERS={str(path)!r} could not be read as JSON: {exc}.",
                fix="Point it at a JSON object mapping prompts to answers.",
            ) from exc
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise ConfigurationError(
                f"ULTRA_LLM_MOCK_ANSWERS={str(path)!r} must hold a JSON object of prompt -> answer strings.",
            )
        return data

    async def check_availability(self) -> Availability:
        if self.settings.fault == "unavailable":
            return Availability(
                False,
                error=BackendUnavailableError(
                    "The mock backend is unavailable (ULTRA_LLM_MOCK_FAULT=unavailable).",
                    fix="Unset ULTRA_LLM_MOCK_FAULT.",
                    backend=self.name,
                ),
            )
        return Availability(True, "the mock backend needs no runner")

    async def list_models(self) -> list[ModelInfo]:
        return list(self._models.values())

    async def doctor_checks(self, model: str) -> list[Check]:
        """The mock's models; it answers any model name (unless ``ULTRA_LLM_MOCK_FAULT=unknown-model``)."""
        checks = await super().doctor_checks(model)
        if self.settings.fault != "unknown-model":
            checks = [check for check in checks if check.ok]
            checks.append(Check(f"default model '{model}'", True, "the mock answers any model name"))
        return checks

    def answer_for(self, request: GenerationRequest) -> str:
        """The full answer the mock gives to ``request``."""
        prompt = request.prompt
        if prompt in self._answers:
            return self._answers[prompt]
        if request.model == ECHO_MODEL:
            return prompt
        return f"{FIXED_ANSWER} You said: {prompt}" if request.model != FIXED_MODEL else FIXED_ANSWER

    def _check_model(self, model: str) -> None:
        if self.settings.fault == "unknown-model" and model not in self._models:
            raise ModelNotFoundError(model, backend=self.name)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        settings = self.settings
        self._check_model(request.model)
        if settings.fault == "unavailable":
            raise BackendUnavailableError(
                "The mock backend is unavailable (ULTRA_LLM_MOCK_FAULT=unavailable).",
                fix="Unset ULTRA_LLM_MOCK_FAULT.",
                backend=self.name,
            )
        if settings.fault == "fail":
            raise GenerationError(
                "The mock backend failed (ULTRA_LLM_MOCK_FAULT=fail).", output="injected failure", backend=self.name
            )
        if settings.fault == "timeout":
            raise GenerationTimeoutError(
                "The mock backend timed out (ULTRA_LLM_MOCK_FAULT=timeout).", timeout=0.0, backend=self.name
            )
        if settings.fault == "hang":
            await asyncio.Event().wait()
        options = request.options  # None when the call set no options
        stop = options.stop if options is not None else None
        max_tokens = options.max_tokens if options is not None else None
        answer = self.answer_for(request)
        finish = "stop"
        stops = [stop] if isinstance(stop, str) else (stop or [])
        for stop in stops:
            if stop and stop in answer:
                answer = answer[: answer.index(stop)]
        words = split_words(answer)
        if max_tokens is not None and len(words) > max_tokens:
            words, finish = words[:max_tokens], "length"
        if settings.first_token_delay:
            await asyncio.sleep(settings.first_token_delay)
        for index, word in enumerate(words):
            if settings.fault == "fail-midstream" and index == settings.fail_after:
                raise StreamInterruptedError(
                    f"The mock stream failed after {index} chunks (ULTRA_LLM_MOCK_FAULT=fail-midstream).",
                    backend=self.name,
                )
            if index and settings.delay:
                await asyncio.sleep(settings.delay)
            yield Chunk(word)
        usage = Usage(len(split_words(request.prompt)), len(words), len(split_words(request.prompt)) + len(words))
        yield Chunk("", finish_reason=finish, usage=usage)

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        self._check_model(request.model)
        size = EMBEDDING_SIZE
        vectors = []
        for text in request.inputs:
            digest = hashlib.sha256(text.encode("utf-8")).digest()
            while len(digest) < size:
                digest += hashlib.sha256(digest).digest()
            raw = [byte / 127.5 - 1.0 for byte in digest[:size]]
            norm = sum(v * v for v in raw) ** 0.5 or 1.0
            vectors.append(tuple(v / norm for v in raw))
        tokens = sum(len(split_words(t)) for t in request.inputs)
        return EmbeddingResult(tuple(vectors), request.model, self.name, Usage(tokens, 0, tokens))

    async def pull(self, model: str, progress: ProgressCallback | None = None) -> None:
        total = 3 * 1024 * 1024
        for step in range(1, 4):
            if progress is not None:
                progress(Progress(f"Downloaded {step} MB of 3 MB", completed=step * 1024 * 1024, total=total))
            await asyncio.sleep(self.settings.delay)
        self._models[model] = ModelInfo(model, self.name, details={"kind": "fixed", "pulled": True})
        if progress is not None:
            progress(Progress("Model pulled successfully", completed=total, total=total, status="success"))

    async def remove(self, model: str) -> None:
        if self._models.pop(model, None) is None:
            raise ModelNotFoundError(model, backend=self.name, fix="`ultra-llm models` lists what there is.")
