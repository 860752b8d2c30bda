"""The mock backend: deterministic answers streamed in word-sized chunks, with fault injection.

Models: ``mock/echo`` answers with the last user message; ``mock/fixed`` with a fixed text
containing "mock response"; ``mock/default`` (the default) and any other name, so a fallback from
``ai/smollm2`` still answers, with that text followed by "You said: " and the prompt.

Every request feature is declared, and each answer is a function of the request:

* **Tools**: with ``tools`` and ``tool_choice`` not ``"none"``, the mock calls the tool
  ``tool_choice`` names, else the first, with arguments ``schema.sample`` derives from the tool's
  ``parameters`` and the prompt (id ``call_`` + a digest of both). Streamed as ``ToolCallDelta``
  pieces: the id and name first, then the arguments JSON in pieces of ``ARGUMENT_PIECE`` characters;
  ``finish_reason`` ``"tool_calls"``. When the last message is a ``tool`` message, the mock answers
  text instead: ``The tool <name> returned: <its content>``.
* **Response format**: the answer is JSON valid for the schema (``schema.sample``: the subset it
  documents, within its bounds; another keyword, or a bound crossed, is an ``InvalidOptionsError``
  naming it), derived from the prompt, worked out in a thread so the event loop keeps serving,
  streamed as word-sized text pieces; ``max_tokens`` cuts it like any answer (the adapter then raises
  ``StructuredOutputError``). The adapter parses it, never the mock.
* **Images**: a text answer starts with ``[N image(s) received: image/png 68 bytes, ...]`` for the
  request's images (not a JSON or tool-call answer).
* **Reasoning**: ``reasoning=True``, or a ``reasoning_budget`` above 0 with ``reasoning`` unset, streams
  ``reasoning`` chunks (``reasoning_for``) before the answer, at most ``reasoning_budget`` words;
  otherwise (``reasoning=False``, a budget of 0, or neither set) none.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

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
    TokenLogprob,
    ToolCall,
    ToolCallDelta,
    Usage,
)

from .schema import sample
from .settings import MockSettings

if TYPE_CHECKING:
    from ultra_llm.plugin import ProgressCallback, UltraConfig

_log = logging.getLogger(__name__)

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
    summary: ClassVar[str] = (
        "Deterministic answers with no runner: echo and fixed-text models, tool calls, JSON for a schema, "
        "image acknowledgement, reasoning."
    )
    options_model = "ultra_llm_mock.options:MockOptions"  # imported only when a call sets options
    settings_model: ClassVar[type[MockSettings]] = MockSettings
    supports_tools: ClassVar[bool] = True
    supports_response_format: ClassVar[bool] = True
    supports_images: ClassVar[bool] = True
    supports_reasoning_control: ClassVar[bool] = True
    default_model: ClassVar[str] = DEFAULT_MODEL
    settings: MockSettings

    def __init__(self, config: UltraConfig, *, settings: MockSettings | None = None) -> None:
        super().__init__(config, settings=settings)
        self._models: dict[str, ModelInfo] = {
            name: _model_info(name, kind)
            for name, kind in ((ECHO_MODEL, "echo"), (FIXED_MODEL, "fixed"), (DEFAULT_MODEL, "default"))
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
        """The full text answer the mock gives to ``request`` (no response format, no tool call):
        a tool result quoted when the last message is one, else the canned, echoed or fixed text;
        after an acknowledgement of the request's images when it has any."""
        prompt = request.prompt
        last = request.messages[-1]
        if last.role == "tool":
            answer = f"The tool {_called_tool(request, last.tool_call_id)} returned: {last.text}"
        elif prompt in self._answers:
            answer = self._answers[prompt]
        elif request.model == ECHO_MODEL:
            answer = prompt
        else:
            answer = f"{FIXED_ANSWER} You said: {prompt}" if request.model != FIXED_MODEL else FIXED_ANSWER
        images = request.images
        if images:
            described = ", ".join(f"{image.media_type} {len(image.data)} bytes" for image in images)
            answer = f"[{len(images)} image{'s' if len(images) != 1 else ''} received: {described}] {answer}"
        return answer

    def tool_call_for(self, request: GenerationRequest) -> ToolCall | None:
        """The call the mock makes: the tool ``tool_choice`` names, else the first, when the request
        has tools, ``tool_choice`` is not ``"none"`` and the last message is not a tool result."""
        choice = request.tool_choice
        if not request.tools or choice == "none" or request.messages[-1].role == "tool":
            return None
        tool = request.tools[0]
        if isinstance(choice, Mapping):
            name = choice["function"]["name"]
            tool = next(candidate for candidate in request.tools if candidate.name == name)
        arguments = json.dumps(sample(tool.parameters, request.prompt))
        digest = hashlib.sha256(f"{request.prompt}\0{tool.name}".encode()).hexdigest()
        return ToolCall(f"call_{digest[:16]}", tool.name, arguments)

    def reasoning_for(self, request: GenerationRequest) -> list[str]:
        """The reasoning pieces (word-sized) streamed before the answer; none unless asked for."""
        budget = request.reasoning_budget
        if request.reasoning is False or budget == 0 or (request.reasoning is None and budget is None):
            return []
        words = split_words(f"The question is: {request.prompt} The mock answers it the same way every time. ")
        return words if budget is None else words[:budget]

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
        chunks, finish = await asyncio.to_thread(self._all_chunks, request)  # a schema walk must not hold the loop
        plain = request.response_format is None and not request.tools  # a suffix would break JSON or a call
        chunks = with_choices_and_logprobs(chunks, request.options_dict, plain=plain)
        if settings.first_token_delay:
            await asyncio.sleep(settings.first_token_delay)
        for index, chunk in enumerate(chunks):
            if settings.fault == "fail-midstream" and index == settings.fail_after:
                raise StreamInterruptedError(
                    f"The mock stream failed after {index} chunks (ULTRA_LLM_MOCK_FAULT=fail-midstream).",
                    backend=self.name,
                )
            if index and settings.delay:
                await asyncio.sleep(settings.delay)
            yield chunk
        prompt_tokens = len(split_words(request.prompt))
        usage = Usage(prompt_tokens, len(chunks), prompt_tokens + len(chunks))
        for answer in range(max(1, int(request.options_dict.get("n") or 1)) - 1, 0, -1):
            yield Chunk("", finish_reason=finish, index=answer)
        yield Chunk("", finish_reason=finish, usage=usage)

    def _all_chunks(self, request: GenerationRequest) -> tuple[list[Chunk], str]:
        """Every chunk of the answer (reasoning, then the tool call or the text) and the finish reason.
        Blocking code (a schema walk is bounded but not short): ``stream`` runs it in a thread."""
        _log.debug("Working out the answer for %s in a worker thread.", request.model)
        chunks = [Chunk(word, kind="reasoning") for word in self.reasoning_for(request)]
        call = self.tool_call_for(request)
        if call is not None:
            return chunks + _call_chunks(call), "tool_calls"
        answer_chunks, finish = self._answer_chunks(request)
        return chunks + answer_chunks, finish

    def _answer_chunks(self, request: GenerationRequest) -> tuple[list[Chunk], str]:
        """The answer's word-sized text chunks (JSON for a response format), cut at ``stop`` and
        after ``max_tokens`` chunks, and the finish reason."""
        options = request.options  # None when the call set no options
        stop = options.stop if options is not None else None
        max_tokens = options.max_tokens if options is not None else None
        fmt = request.response_format
        if fmt is not None:
            answer = json.dumps(sample(fmt.schema or {"type": "object"}, request.prompt))
        else:
            answer = self.answer_for(request)
        finish = "stop"
        stops = [stop] if isinstance(stop, str) else (stop or [])
        for stop in stops:
            if stop and stop in answer:
                answer = answer[: answer.index(stop)]
        words = split_words(answer)
        if max_tokens is not None and len(words) > max_tokens:
            words, finish = words[:max_tokens], "length"
        return [Chunk(word) for word in words], finish

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
        self._models[model] = _model_info(model, "fixed", pulled=True)
        if progress is not None:
            progress(Progress("Model pulled successfully", completed=total, total=total, status="success"))

    async def remove(self, model: str) -> None:
        if self._models.pop(model, None) is None:
            raise ModelNotFoundError(model, backend=self.name, fix="`ultra-llm models` lists what there is.")


ARGUMENT_PIECE = 8
"""Characters of a tool call's arguments per streamed ``ToolCallDelta`` after the first."""


def _call_chunks(call: ToolCall) -> list[Chunk]:
    """A call as the server streams one: id and name first, then the arguments in pieces."""
    first = Chunk("", tool_call_deltas=(ToolCallDelta(0, call.id, call.name, ""),))
    pieces = [call.arguments[i : i + ARGUMENT_PIECE] for i in range(0, len(call.arguments), ARGUMENT_PIECE)]
    return [first, *(Chunk("", tool_call_deltas=(ToolCallDelta(0, arguments=piece),)) for piece in pieces)]


def _called_tool(request: GenerationRequest, call_id: str | None) -> str:
    """The name of the tool an earlier assistant message called with ``call_id`` ("a tool" if none)."""
    for message in request.messages:
        for call in message.tool_calls:
            if call.id == call_id:
                return call.name
    return "a tool"


def _model_info(name: str, kind: str, **details: str | int | bool) -> ModelInfo:
    """A mock model: every one takes tools and images, in a 4096-token context."""
    return ModelInfo(
        name,
        MockBackend.name,
        details={"kind": kind, "context_size": 4096, **details},
        context_window=4096,
        tools=True,
        vision=True,
    )


def with_choices_and_logprobs(chunks: list[Chunk], options: Mapping[str, Any], *, plain: bool) -> list[Chunk]:
    """The mock's answer as the ``n``, ``logprobs`` and ``top_logprobs`` options ask, deterministically:
    answer ``i`` (from 0) is the answer, with `` (answer i+1)`` added when it is ``plain`` text, streamed
    after the first (``Chunk.index``); each text chunk's log probability is ``-0.1`` times its length, and its
    alternatives are the same token in upper case, then in title case, each 1.0 less likely."""
    answers = max(1, int(options.get("n") or 1))
    if answers == 1 and not options.get("logprobs"):
        return chunks
    top = int(options.get("top_logprobs") or 0)
    every = list(chunks)
    for answer in range(1, answers):
        every += [replace(chunk, index=answer) for chunk in chunks]
        if plain:
            every.append(Chunk(f" (answer {answer + 1})", index=answer))
    if not options.get("logprobs"):
        return every
    return [
        replace(chunk, logprobs=(_logprob(chunk.text, top),)) if chunk.text and chunk.kind == "text" else chunk
        for chunk in every
    ]


def _logprob(token: str, top: int) -> TokenLogprob:
    logprob = -0.1 * len(token)
    alternatives = [token, token.upper(), token.title()][:top]
    return TokenLogprob(
        token,
        logprob,
        tuple(token.encode()),
        tuple(TokenLogprob(text, logprob - rank, tuple(text.encode())) for rank, text in enumerate(alternatives)),
    )
