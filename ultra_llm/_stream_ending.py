"""The end of a streamed answer: the tool calls assembled from their pieces and, for a response
format, the parsed answer, delivered as one last chunk (the adapter's, for every backend)."""

from __future__ import annotations

from ._structured import ResponseFormat
from ._tools import ToolCallAssembler
from ._types import Chunk

__all__ = ["StreamEnding"]


class _Ending:
    """One answer's end (one per ``Chunk.index``): its tool-call pieces and, to parse, its text."""

    def __init__(self) -> None:
        self.calls = ToolCallAssembler()
        self.has_calls = False
        self.text: list[str] = []
        self.finish_reason: str | None = None


class StreamEnding:
    """Watches a stream's chunks; ``final_chunks()`` are the chunks to add after the last one: one
    per answer (``Chunk.index``) that has tool calls or a parsed answer."""

    def __init__(self, response_format: ResponseFormat | None, backend: str) -> None:
        self.response_format = response_format
        self.backend = backend
        self._endings: dict[int, _Ending] = {}

    def add(self, chunk: Chunk) -> None:
        """Take one chunk: its tool-call pieces, and its answer text when the answer is to be parsed."""
        if not chunk.tool_call_deltas and self.response_format is None:
            return  # the hot path: nothing to assemble or parse
        ending = self._endings.get(chunk.index)
        if ending is None:
            ending = self._endings[chunk.index] = _Ending()
        if chunk.tool_call_deltas:
            for delta in chunk.tool_call_deltas:
                ending.calls.add(delta)
            ending.has_calls = True
        if self.response_format is not None:  # only a parsed answer needs the text kept
            if chunk.kind == "text":
                ending.text.append(chunk.text)
            ending.finish_reason = chunk.finish_reason or ending.finish_reason

    def final_chunks(self) -> list[Chunk]:
        """Per answer, an empty chunk carrying its assembled ``tool_calls`` or its ``parsed`` answer
        (none when there are neither). ``StructuredOutputError`` (raw text kept) when an answer
        should be JSON and is not."""
        if self.response_format is not None and not self._endings:
            self._endings[0] = _Ending()  # an empty answer is parsed too (and refused)
        finals = []
        for index in sorted(self._endings):
            ending = self._endings[index]
            if ending.has_calls:
                finals.append(Chunk("", tool_calls=ending.calls.calls(), index=index))
            elif self.response_format is not None:
                parsed = self.response_format.parse(
                    "".join(ending.text), finish_reason=ending.finish_reason, backend=self.backend
                )
                finals.append(Chunk("", parsed=parsed, index=index))
        return finals
