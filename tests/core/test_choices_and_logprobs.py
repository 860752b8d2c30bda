"""Several answers to one request (``n``) and the log probabilities of tokens, in the kernel: how a
stream of indexed chunks becomes ``Result.choices``, how token log probabilities are kept whole and
streamed, and the refusal from a backend whose options cannot ask for them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict

from ultra_llm import Result, TokenLogprob, load_config
from ultra_llm.errors import InvalidOptionsError, UnsupportedOperationError
from ultra_llm.plugin import Availability, Backend, Chunk, GenerationRequest, ModelInfo, ToolCallDelta
from ultra_llm.testing.adapters import adapter_over


class ShapeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    n: int | None = None
    logprobs: bool | None = None


def token(text: str, logprob: float) -> TokenLogprob:
    return TokenLogprob(text, logprob, tuple(text.encode()), (TokenLogprob(text, logprob),))


class Several(Backend):
    """Streams two answers interleaved, as an OpenAI-compatible server does for ``n=2``."""

    name = "several"
    default_model = "several/model"
    options_model: ClassVar[Any] = ShapeOptions
    supports_tools = True

    async def check_availability(self) -> Availability:
        return Availability(True, "here")

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(self.default_model, self.name)]

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        answers = int(request.options_dict.get("n") or 1)
        with_logprobs = bool(request.options_dict.get("logprobs"))
        for piece in ("one", " two"):
            for index in range(answers):
                text = f"{piece}{index}"
                yield Chunk(text, index=index, logprobs=(token(text, -0.5 - index),) if with_logprobs else ())
        if request.tools:
            for index in range(answers):
                yield Chunk("", index=index, tool_call_deltas=(ToolCallDelta(0, f"call-{index}", "look", "{}"),))
        for index in reversed(range(answers)):
            yield Chunk("", index=index, finish_reason="stop")


class Plain(Several):
    """The same answers, with options that cannot ask for several or for log probabilities."""

    name = "plain"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        temperature: float | None = None

    options_model = Options


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def complete(backend: Backend, **options: Any) -> Result:
    async with adapter_over(backend) as adapter:
        return await adapter.complete("hi", **options)


def test_two_answers_are_the_results_choices_and_the_first_is_the_result() -> None:
    result = run(complete(Several(load_config()), n=2))
    assert [choice.text for choice in result.choices] == ["one0 two0", "one1 two1"]
    assert [choice.index for choice in result.choices] == [0, 1]
    assert result.text == "one0 two0" and result.finish_reason == "stop"
    assert [choice["text"] for choice in result.to_dict()["choices"]] == ["one0 two0", "one1 two1"]


def test_one_answer_has_no_choices() -> None:
    result = run(complete(Several(load_config())))
    assert result.text == "one0 two0" and result.choices == ()
    assert result.to_dict()["choices"] == []


def test_generate_returns_the_first_answers_text() -> None:
    async def generate() -> str:
        async with adapter_over(Several(load_config())) as adapter:
            return await adapter.generate("hi", n=3)

    assert run(generate()) == "one0 two0"


def test_token_logprobs_are_kept_whole_per_answer_and_streamed() -> None:
    result = run(complete(Several(load_config()), n=2, logprobs=True))
    assert [t.token for t in result.logprobs] == ["one0", " two0"]
    assert [t.logprob for t in result.choices[1].logprobs] == [-1.5, -1.5]
    assert result.to_dict()["logprobs"][0] == {
        "token": "one0",
        "logprob": -0.5,
        "bytes": list(b"one0"),
        "top_logprobs": [{"token": "one0", "logprob": -0.5, "bytes": None, "top_logprobs": []}],
    }

    async def streamed() -> list[Chunk]:
        async with adapter_over(Several(load_config())) as adapter:
            return [chunk async for chunk in adapter.stream("hi", logprobs=True)]

    chunks = run(streamed())
    assert [t.token for chunk in chunks for t in chunk.logprobs] == ["one0", " two0"]
    assert chunks[0].to_dict()["logprobs"][0]["token"] == "one0"


def test_each_answers_tool_calls_close_its_own_stream_and_choice() -> None:
    tool = {"name": "look", "description": "Look.", "parameters": {"type": "object", "properties": {}}}

    async def streamed() -> list[Chunk]:
        async with adapter_over(Several(load_config())) as adapter:
            return [chunk async for chunk in adapter.stream("hi", n=2, tools=[tool])]

    finals = [chunk for chunk in run(streamed()) if chunk.tool_calls]
    assert [(chunk.index, chunk.tool_calls[0].id) for chunk in finals] == [(0, "call-0"), (1, "call-1")]
    result = run(complete(Several(load_config()), n=2, tools=[tool]))
    assert [choice.tool_calls[0].id for choice in result.choices] == ["call-0", "call-1"]


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"n": 2}, "cannot give several answers to one request (n=2)"),
        ({"logprobs": True}, "cannot give the log probabilities of its tokens (logprobs=True)"),
    ],
)
def test_a_backend_that_cannot_refuses_clearly(options: dict[str, Any], said: str) -> None:
    with pytest.raises(UnsupportedOperationError) as caught:
        run(complete(Plain(load_config()), **options))
    assert said in caught.value.message and "'plain'" in caught.value.message


def test_asking_for_one_answer_is_only_an_unknown_option_there() -> None:
    with pytest.raises(InvalidOptionsError, match="does not support the option"):
        run(complete(Plain(load_config()), n=1))


def test_the_mock_gives_several_answers_and_logprobs_whole_streamed_and_on_the_cli() -> None:
    """The stand-in honours n, logprobs and top_logprobs deterministically, through the CLI too."""
    import json
    import subprocess
    import sys

    async def both() -> tuple[Result, list[Chunk]]:
        from ultra_llm import create_adapter

        async with await create_adapter(backend="mock") as adapter:
            whole = await adapter.complete("two words", n=2, logprobs=True, top_logprobs=2)
            return whole, [chunk async for chunk in adapter.stream("two words", n=2, logprobs=True)]

    whole, chunks = run(both())
    assert [choice.text for choice in whole.choices] == [whole.text, whole.text + " (answer 2)"]
    assert whole.logprobs and [alt.token for alt in whole.logprobs[0].top_logprobs] == [
        whole.logprobs[0].token,
        whole.logprobs[0].token.upper(),
    ]
    assert {chunk.index for chunk in chunks} == {0, 1}
    assert "".join(t.token for chunk in chunks if chunk.index == 0 for t in chunk.logprobs) == whole.text
    from pathlib import Path

    command = [str(Path(sys.executable).with_name("ultra-llm")), "generate", "-b", "mock", "two words", "-o", "n=2"]
    shown = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    assert "[answer 1 of 2]" in shown.stderr and "[answer 2 of 2]" in shown.stderr
    assert shown.stdout.splitlines() == [whole.text, whole.text + " (answer 2)"]
    streamed = subprocess.run([*command, "--stream"], capture_output=True, text=True, timeout=60, check=True)
    assert streamed.stdout == shown.stdout and streamed.stderr == shown.stderr, "streamed, then the others whole"
    as_json = subprocess.run([*command, "-o", "logprobs=true", "--json"], capture_output=True, text=True, timeout=60)
    printed = json.loads(as_json.stdout)
    assert len(printed["choices"]) == 2 and printed["logprobs"][0]["token"] == whole.logprobs[0].token
