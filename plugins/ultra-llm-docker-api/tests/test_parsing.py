"""The parsers: SSE framing (httpx2's, through the transport), NDJSON, chunk and completion shapes, progress."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ultra_llm_docker_api.parsing import (
    DONE,
    MalformedResponse,
    NDJSONDecoder,
    PullFailed,
    PullTracker,
    StreamError,
    chunks_from_event,
    completion_from_body,
    embeddings_from_body,
    models_from_openai,
    models_from_runner,
    parse_retry_after,
    served_names,
)
from ultra_llm_docker_api.settings import DockerAPISettings, resolve
from ultra_llm_docker_api.transport import MAX_EVENT_BYTES, Transport

from ultra_llm._types import Chunk, Usage


class Parts(httpx2.AsyncByteStream):
    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            yield part


def feed_all(parts: list[bytes]) -> list[bytes]:
    """The data of each event the transport's SSE framing finds in a body arriving as ``parts``."""
    transport = Transport(resolve(DockerAPISettings.load(url="http://127.0.0.1:9")))

    async def read() -> list[bytes]:
        response = httpx2.Response(
            200,
            headers={"content-type": "text/event-stream"},
            stream=Parts(parts),
            request=httpx2.Request("POST", "http://x"),
        )
        return [event.data.encode() async for event in transport.events(response)]

    return asyncio.run(read())


STREAM = (
    b'data: {"a": 1}\n\n'
    b": keep-alive comment\n\n"
    b"data: line one\ndata: line two\n\n"
    b"event: ignored\nid: 7\ndata:no-space\n\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [b'{"a": 1}', b"line one\nline two", b"no-space", DONE]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_sse_events_with_every_line_ending(newline: bytes) -> None:
    assert feed_all([STREAM.replace(b"\n", newline)]) == EXPECTED


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12), st.sampled_from([b"\n", b"\r\n", b"\r"]))
def test_sse_split_anywhere_gives_the_same_events(cuts: list[int], newline: bytes) -> None:
    data = STREAM.replace(b"\n", newline)
    points = sorted({min(c, len(data)) for c in cuts})
    parts = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert feed_all(parts) == EXPECTED


def test_sse_event_size_is_bounded_even_without_a_line_end() -> None:
    """httpx2's decoder bounds the event being read, and a line not yet ended, by ``MAX_EVENT_BYTES``."""
    assert feed_all([b"data: " + b"x" * (MAX_EVENT_BYTES - 10) + b"\n\n"]) != []
    for body in (b"data: " + b"x" * (MAX_EVENT_BYTES + 1) + b"\n\n", b"data: " + b"y" * 65536 * 17):
        with pytest.raises(httpx2.SSEError, match="byte limit"):
            feed_all([body[i : i + 65536] for i in range(0, len(body), 65536)])


def test_ndjson_framing() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"a":1}\n\n{"b"') == [b'{"a":1}']
    assert decoder.feed(b":2}\r\n{}") == [b'{"b":2}']
    assert decoder.finish() == [b"{}"]
    with pytest.raises(MalformedResponse):
        NDJSONDecoder(max_line_bytes=4).feed(b"123456")


def test_chunks_from_events() -> None:
    def ev(delta: dict[str, object], finish: str | None = None, **extra: object) -> dict[str, object]:
        return {"choices": [{"delta": delta, "finish_reason": finish}], **extra}

    assert chunks_from_event(ev({"role": "assistant"})) == []
    assert chunks_from_event(ev({"content": ""})) == []  # partial UTF-8 byte token
    assert chunks_from_event(ev({"content": "hi"})) == [Chunk("hi")]
    assert chunks_from_event(ev({"reasoning_content": "hmm", "content": "a"})) == [
        Chunk("hmm", kind="reasoning"),
        Chunk("a"),
    ]
    assert chunks_from_event(ev({}, "length")) == [Chunk("", finish_reason="length")]
    usage = {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}
    assert chunks_from_event({"choices": [], "usage": usage}) == [Chunk("", usage=Usage(2, 3, 5))]
    with pytest.raises(StreamError):
        chunks_from_event({"error": {"message": "boom"}})
    for bad in ([1], {"id": 1}, {"choices": ["x"]}):
        with pytest.raises(MalformedResponse):
            chunks_from_event(bad)


def test_completion_from_body() -> None:
    body = {
        "choices": [{"message": {"content": "yes", "reasoning_content": "why"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    parsed = completion_from_body(body)
    assert (parsed.text, parsed.reasoning, parsed.finish_reason, parsed.usage) == ("yes", "why", "stop", Usage(1, 1, 2))
    assert completion_from_body({"choices": [{"message": {"content": None}}]}).text == ""
    for bad in ({}, {"choices": []}, {"choices": [{}]}, [], {"choices": [{"message": {"content": 3}}]}):
        with pytest.raises(MalformedResponse):
            completion_from_body(bad)


def test_embeddings_from_body() -> None:
    body = {
        "data": [{"index": 1, "embedding": [3, 4]}, {"index": 0, "embedding": [1.5, 2.5]}],
        "usage": {"prompt_tokens": 4, "total_tokens": 4},
    }
    vectors, usage = embeddings_from_body(body, 2)
    assert vectors == ((1.5, 2.5), (3.0, 4.0))
    assert usage == Usage(4, None, 4)
    with pytest.raises(MalformedResponse, match="1 vectors for 2 inputs"):
        embeddings_from_body({"data": [{"embedding": [1.0]}]}, 2)
    with pytest.raises(MalformedResponse, match="per token"):
        embeddings_from_body({"data": [{"embedding": [[1.0], [2.0]]}]}, 1)


def test_models_from_runner_and_openai() -> None:
    runner = [
        {
            "id": "sha256:" + "ab" * 32,
            "tags": ["ai/smollm2:latest", "ai/smollm2:360M"],
            "created": 1742816981,
            "config": {"format": "gguf", "parameters": "361.82 M", "context_size": 8192},
        },
        {"id": "sha256:" + "cd" * 32, "tags": [], "created": 1},
        "junk",
    ]
    found = models_from_runner(runner)
    assert [name for name, _ in found] == ["ai/smollm2:latest", "ai/smollm2:360M"]
    assert found[0][1]["id"] == ("ab" * 32)[:12] and found[0][1]["context_size"] == 8192
    openai = {"object": "list", "data": [{"id": "docker.io/ai/gemma3", "owned_by": "docker", "created": 5}, {}]}
    assert models_from_openai(openai) == [("docker.io/ai/gemma3", {"created": 5, "owned_by": "docker"})]
    with pytest.raises(MalformedResponse):
        models_from_runner({"data": []})
    with pytest.raises(MalformedResponse):
        models_from_openai([])


def test_pull_tracker_sums_layers_and_fails_on_error_records() -> None:
    tracker = PullTracker()
    records = [
        {"type": "progress", "total": 300, "layer": {"id": "a", "size": 100, "current": 50}},
        {"type": "progress", "total": 300, "layer": {"id": "a", "size": 100, "current": 100}},
        {"type": "progress", "total": 300, "layer": {"id": "b", "size": 200, "current": 200}},
        {"type": "warning", "message": "format is old"},
        {"type": "success", "message": "Model pulled successfully"},
    ]
    updates = [tracker.feed(r) for r in records]
    assert [u.completed for u in updates[:3]] == [50, 100, 300]
    assert all(u.total == 300 for u in updates[:3])
    assert updates[3].status == "warning" and updates[3].message == "format is old"
    assert updates[4].status == "success" and tracker.succeeded
    with pytest.raises(PullFailed, match=r"^disk full$"):
        PullTracker().feed({"type": "error", "message": "Error: disk full"})
    with pytest.raises(MalformedResponse):
        PullTracker().feed({"message": "no type"})


def test_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("-1") == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412475.0) == pytest.approx(5.0)


def test_sse_round_trip_of_real_engine_shape() -> None:
    payload = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "\u05be"}}]}
    data = b"data: " + json.dumps(payload).encode() + b"\r\n\r\n"
    (event,) = feed_all([data[:-3], data[-3:]])
    assert chunks_from_event(json.loads(event)) == [Chunk("\u05be")]


def test_served_names_are_ids_and_llama_server_aliases() -> None:
    listing = {"data": [{"id": "ai/tiny", "aliases": ["ai/tiny", "tiny"]}, {"id": 7}, "x", {"id": "other"}]}
    assert served_names(listing) == {"ai/tiny", "tiny", "other"}
    assert served_names({"object": "list"}) == frozenset()


TOKEN = {
    "id": 1,
    "token": "hi",
    "logprob": -0.25,
    "bytes": [104, 105],
    "top_logprobs": [
        {"id": 1, "token": "hi", "logprob": -0.25, "bytes": [104, 105]},
        {"id": 2, "token": "Hi", "logprob": -1.5, "bytes": [72, 105]},
    ],
}


def test_logprobs_and_several_answers_of_a_whole_completion() -> None:
    """OpenAI's shape, which llama-server's chat endpoint gives: ``choices[i].logprobs.content``."""
    body = {
        "choices": [
            {"index": 1, "message": {"content": "yo"}, "finish_reason": "stop", "logprobs": {"content": []}},
            {"index": 0, "message": {"content": "hi"}, "finish_reason": "length", "logprobs": {"content": [TOKEN]}},
        ]
    }
    completion = completion_from_body(body)
    assert completion.text == "hi" and completion.finish_reason == "length"
    assert [(t.token, t.logprob, t.bytes) for t in completion.logprobs] == [("hi", -0.25, (104, 105))]
    assert [a.token for a in completion.logprobs[0].top_logprobs] == ["hi", "Hi"]
    assert [(c.index, c.text) for c in completion.choices] == [(0, "hi"), (1, "yo")]
    assert completion_from_body({"choices": [{"message": {"content": "x"}}]}).choices == ()


def test_streamed_logprobs_and_answers_keep_their_index() -> None:
    event = {
        "choices": [
            {"index": 0, "delta": {"content": "hi"}, "logprobs": {"content": [TOKEN]}},
            {"index": 1, "delta": {"content": "yo"}, "finish_reason": "stop"},
        ]
    }
    chunks = chunks_from_event(event)
    assert [(c.index, c.text, c.finish_reason) for c in chunks] == [(0, "hi", None), (1, "yo", None), (1, "", "stop")]
    assert [t.token for t in chunks[0].logprobs] == ["hi"]
    partial = chunks_from_event({"choices": [{"delta": {"content": ""}, "logprobs": {"content": [TOKEN]}}]})
    assert [(c.text, len(c.logprobs)) for c in partial] == [("", 1)], "a token that gave no text yet keeps its logprob"


def test_post_sampling_probabilities_are_read_as_their_log() -> None:
    """``post_sampling_probs=true``: llama-server sends ``prob``/``top_probs``; a 0 is OpenAI's -9999."""
    entry = {"token": "hi", "prob": 0.5, "top_probs": [{"token": "hi", "prob": 0.5}, {"token": "Hi", "prob": 0.0}]}
    completion = completion_from_body({"choices": [{"message": {"content": "hi"}, "logprobs": {"content": [entry]}}]})
    token = completion.logprobs[0]
    assert token.logprob == pytest.approx(-0.6931, abs=1e-4)
    assert [(a.token, round(a.logprob, 4)) for a in token.top_logprobs] == [("hi", -0.6931), ("Hi", -9999.0)]


@pytest.mark.parametrize(
    "logprobs",
    [{"content": "hi"}, {"content": [{"token": "hi"}]}, {"content": [{"logprob": -1.0}]}, {"content": [7]}],
)
def test_malformed_logprobs_are_a_malformed_response(logprobs: object) -> None:
    with pytest.raises(MalformedResponse):
        completion_from_body({"choices": [{"message": {"content": "hi"}, "logprobs": logprobs}]})
