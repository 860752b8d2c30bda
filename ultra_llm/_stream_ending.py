"""The end of a streamed answer: the tool calls assembled from their pieces and, for a response
format, the parsed answer, delivered as one last chunk (the adapter's, for every backend)."""

from __future__ import annotations

from ._structured import ResponseFormat
from ._tools import ToolCallAssembler
from ._types import Chunk

__all__ = ["StreamEnding"]


class StreamEnding:
    """Watches a stream's chunks; ``final_chunk()`` is the chunk to add after the last one, if any."""

    def __init__(self, response_format: ResponseFormat | None, backend: str) -> None:
        self.response_format = response_format
        self.backend = backend
        self._calls = ToolCallAssembler()
        self._add_piece = self._calls.add
        self._has_calls = False
        self._text: list[str] = []
        self._finish_reason: str | None = None

    def add(self, chunk: Chunk) -> None:
        """Take one chunk: its tool-call pieces, and its answer text when the answer is to be parsed."""
        if chunk.tool_call_deltas:
            for delta in chunk.tool_call_deltas:
                self._add_piece(delta)
            self._has_calls = True
        if self.response_format is not None:  # only a parsed answer needs the text kept
            if chunk.kind == "text":
                self._text.append(chunk.text)
            self._finish_reason = chunk.finish_reason or self._finish_reason

    def final_chunk(self) -> Chunk | None:
        """An empty chunk carrying the assembled ``tool_calls`` and the ``parsed`` answer; ``None``
        when there are neither. ``StructuredOutputError`` (raw text kept) when the answer should be
        JSON and is not."""
        if self._has_calls:
            return Chunk("", tool_calls=self._calls.calls())
        if self.response_format is None:
            return None
        parsed = self.response_format.parse(
            "".join(self._text), finish_reason=self._finish_reason, backend=self.backend
        )
        return Chunk("", parsed=parsed)
