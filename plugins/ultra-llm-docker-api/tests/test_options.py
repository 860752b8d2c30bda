"""The generation options of docker-api (issue 30): each reaches the chat body exactly as set, a bad
one is refused before any request, ``extra`` merges other body fields last, and a request's own
``stream_options`` wins over ``ULTRA_LLM_DOCKER_API_STREAM_USAGE``; against a scripted llama-server
double on 127.0.0.1, through the Adapter (so the kernel's option validation runs) and the CLI.

The ranges and their sources are in ``ultra_llm_docker_api/options.py``; the double answers as
llama-server b9878 does (``tools/server/server-task.cpp`` ``to_json_oaicompat_chat``, whole, and the
usage-only last chunk of a stream with ``include_usage``).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from ultra_llm_docker_api.options import OPTIONS_HINT, RESERVED_BODY_FIELDS, DockerAPIOptions

from ultra_llm import create_adapter
from ultra_llm._adapter import Adapter
from ultra_llm.errors import InvalidOptionsError
from ultra_llm.testing.scripted_server import ScriptedServer, SeenRequest, chunked, send_json, send_text, sse_head

T = TypeVar("T")

COMPLETION = {
    "object": "chat.completion",
    "model": "ai/tiny",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}
STREAM = (
    b'data: {"object":"chat.completion.chunk",'
    b'"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n'
    b'data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)

EVERY_OPTION: dict[str, Any] = {
    # OpenAI's
    "temperature": 2,
    "max_tokens": 7,
    "top_p": 0.9,
    "stop": ["END", "\n\n"],
    "seed": 4294967295,
    "frequency_penalty": -2,
    "presence_penalty": 2,
    "logit_bias": {"15043": -100, "Hello": 100},
    "logprobs": True,
    "top_logprobs": 20,
    "n": 2,
    "user": "user-7",
    "parallel_tool_calls": False,
    # llama-server's samplers
    "top_k": 1,
    "min_p": 0.05,
    "typical_p": 0.5,
    "top_n_sigma": -1.0,
    "xtc_probability": 0.5,
    "xtc_threshold": 0.1,
    "dynatemp_range": 0.5,
    "dynatemp_exponent": 1.5,
    "repeat_penalty": 1.1,
    "repeat_last_n": -1,
    "dry_multiplier": 0.8,
    "dry_base": 1.75,
    "dry_allowed_length": 2,
    "dry_penalty_last_n": -1,
    "dry_sequence_breakers": ["\n", ":"],
    "mirostat": 2,
    "mirostat_tau": 5.0,
    "mirostat_eta": 0.1,
    "adaptive_target": -1.0,
    "adaptive_decay": 0.9,
    "samplers": ["penalties", "top-k", "temp"],
    "grammar": 'root ::= "hi"',
    "min_keep": 1,
    "ignore_eos": False,
    # llama-server's server fields
    "post_sampling_probs": True,
    "cache_prompt": False,
    "n_cache_reuse": 256,
    "id_slot": -1,
    "n_keep": -1,
    "n_discard": 0,
    "n_indent": 4,
    "t_max_predict_ms": 500,
    "return_tokens": True,
    "timings_per_token": True,
}
"""Every option except ``n_probs`` (refused beside ``logprobs=true``), ``stream_options`` and
``extra`` (tested on their own), each at a value that is not llama-server's default."""


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def answer(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
    """A whole answer or, for ``"stream": true``, a stream (with the usage chunk when asked for); the
    runner's ``GET /`` (the CLI's availability probe) its status line."""
    if not req.path.endswith("/chat/completions"):
        await send_text(writer, 200, "Docker Model Runner is running")
        return
    body = req.json()
    if not body.get("stream"):
        await send_json(writer, 200, COMPLETION)
        return
    usage = b""
    if body.get("stream_options", {}).get("include_usage"):
        usage = (
            b'data: {"object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1}}'
        )
        usage += b"\n\n"
    writer.write(sse_head() + chunked(STREAM.replace(b"data: [DONE]", usage + b"data: [DONE]")) + b"0\r\n\r\n")
    await writer.drain()


async def adapter_for(server: ScriptedServer, **settings: Any) -> Adapter:
    return await create_adapter(
        "ai/tiny",
        backend="docker-api",
        check=False,
        settings={"url": server.url, "retry_wait_initial": 0.01, **settings},
    )


async def completed(server: ScriptedServer, **options: Any) -> Any:
    async with await adapter_for(server) as adapter:
        return await adapter.complete("hello", **options)


async def streamed(server: ScriptedServer, settings: dict[str, Any] | None = None, **options: Any) -> list[Any]:
    async with await adapter_for(server, **(settings or {})) as adapter:
        return [chunk async for chunk in adapter.stream("hello", **options)]


def test_every_option_list_covers_the_model() -> None:
    assert set(DockerAPIOptions.model_fields) == {*EVERY_OPTION, "n_probs", "stream_options", "extra"}


def test_every_option_reaches_the_body_exactly_as_set() -> None:
    with ScriptedServer(answer) as server:
        run(completed(server, **EVERY_OPTION))
        sent = server.requests[0].json()

    assert {key: sent[key] for key in EVERY_OPTION} == EVERY_OPTION
    assert set(sent) == {"model", "messages", *EVERY_OPTION}  # nothing added, no stream_options on a whole call


def test_options_not_set_are_not_sent_and_token_ids_become_keys() -> None:
    with ScriptedServer(answer) as server:
        run(completed(server))
        run(completed(server, logit_bias={15043: -100.0}, n_probs=3, typical_p=1))
        bare, few = (request.json() for request in server.requests)

    assert set(bare) == {"model", "messages"}
    assert few["logit_bias"] == {"15043": -100.0} and few["n_probs"] == 3 and few["typical_p"] == 1
    assert set(few) == {"model", "messages", "logit_bias", "n_probs", "typical_p"}


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"temperature": 2.5}, "temperature=2.5"),
        ({"temperature": float("nan")}, "finite"),
        ({"frequency_penalty": 2.01}, "frequency_penalty"),
        ({"presence_penalty": -3}, "presence_penalty"),
        ({"logit_bias": {"15043": -101}}, "logit_bias.15043"),
        ({"logit_bias": {"15043": False}}, "logit_bias.15043"),
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs=21"),
        ({"n": 0}, "n=0"),
        ({"n": 1.5}, "n=1.5"),
        ({"n": "two"}, "n='two'"),
        ({"seed": 2**32}, "seed"),
        ({"top_k": -1}, "top_k=-1"),
        ({"min_p": 1.01}, "min_p"),
        ({"typical_p": -0.1}, "typical_p"),
        ({"xtc_probability": 2}, "xtc_probability"),
        ({"xtc_threshold": -1}, "xtc_threshold"),
        ({"repeat_penalty": 0}, "repeat_penalty"),
        ({"repeat_last_n": -2}, "repeat_last_n"),
        ({"dry_base": 0.5}, "dry_base"),
        ({"dry_allowed_length": -1}, "dry_allowed_length"),
        ({"dry_penalty_last_n": -2}, "dry_penalty_last_n"),
        ({"dry_sequence_breakers": []}, "dry_sequence_breakers"),
        ({"mirostat": 3}, "mirostat"),
        ({"mirostat_tau": -1}, "mirostat_tau"),
        ({"adaptive_decay": 1}, "adaptive_decay"),
        ({"samplers": ["top_k", "greedy"]}, "greedy"),
        ({"samplers": "kq"}, "sampler letters"),
        ({"grammar": ""}, "grammar"),
        ({"min_keep": -1}, "min_keep"),
        ({"id_slot": -2}, "id_slot"),
        ({"n_keep": -2}, "n_keep"),
        ({"n_discard": -1}, "n_discard"),
        ({"t_max_predict_ms": -1}, "t_max_predict_ms"),
        ({"logprobs": "maybe"}, "logprobs"),
        ({"stream_options": {"include_usage": True, "other": 1}}, "stream_options.other"),
        ({"stream_options": {}}, "stream_options.include_usage"),
        ({"extra": ["not", "an", "object"]}, "extra"),
        ({"extra": {"x": float("inf")}}, "JSON object"),
    ],
)
def test_a_bad_value_is_refused_before_any_request(options: dict[str, Any], named: str) -> None:
    with ScriptedServer(answer) as server:
        with pytest.raises(InvalidOptionsError, match=named) as caught:
            run(completed(server, **options))
        assert server.requests == []
    assert caught.value.backend == "docker-api"


def test_top_logprobs_without_logprobs_is_the_callers_error_with_a_fix() -> None:
    """llama-server refuses it (``oaicompat_chat_params_parse``: "top_logprobs requires logprobs to be
    set to true"); here it is refused before the request, naming the fix."""
    with ScriptedServer(answer) as server:
        for options in ({"top_logprobs": 2}, {"logprobs": False, "top_logprobs": 2}):
            with pytest.raises(InvalidOptionsError, match="top_logprobs needs logprobs=true") as caught:
                run(completed(server, **options))
            assert "add logprobs=true or drop top_logprobs" in str(caught.value)
        with pytest.raises(InvalidOptionsError, match="use top_logprobs instead"):
            run(completed(server, logprobs=True, n_probs=3))
        run(completed(server, logprobs=True, top_logprobs=0))
        assert [r.json()["top_logprobs"] for r in server.requests] == [0]


def test_an_unknown_option_is_refused_naming_the_groups_and_the_docs() -> None:
    with ScriptedServer(answer) as server:
        with pytest.raises(InvalidOptionsError, match="does not support the option") as caught:
            run(completed(server, tfs_z=0.9))
        assert server.requests == []
    assert caught.value.fix == OPTIONS_HINT
    assert "extra=" in OPTIONS_HINT and "docs/configuration.md" in OPTIONS_HINT and "llama-server" in OPTIONS_HINT


def test_extra_is_merged_into_the_body_last() -> None:
    extra = {"foo": 1, "return_progress": False, "nested": {"a": [1, None]}, "reasoning_format": "none"}
    with ScriptedServer(answer) as server:
        run(completed(server, top_k=3, extra=extra))
        sent = server.requests[0].json()

    assert {key: sent[key] for key in extra} == extra
    assert sent["top_k"] == 3 and "extra" not in sent
    assert list(sent)[-len(extra) :] == list(extra)


@pytest.mark.parametrize("field", sorted({*RESERVED_BODY_FIELDS, "top_k", "stream_options", "logit_bias"}))
def test_extra_refuses_a_field_the_backend_or_an_option_sets(field: str) -> None:
    with ScriptedServer(answer) as server:
        with pytest.raises(InvalidOptionsError, match=f"extra may not name {field} ") as caught:
            run(completed(server, extra={"ok": 1, field: 1}))
        assert server.requests == []
    assert "extra may not name ok" not in str(caught.value)


def test_a_requests_stream_options_wins_over_the_setting() -> None:
    with ScriptedServer(answer) as server:
        default = run(streamed(server))  # the setting's default: usage asked for
        off = run(streamed(server, stream_options={"include_usage": False}))
        on = run(streamed(server, {"stream_usage": False}, stream_options={"include_usage": True}))
        unset = run(streamed(server, {"stream_usage": False}))
        run(completed(server, stream_options={"include_usage": True}))  # a whole call: not sent
        bodies = [r.json() for r in server.requests]

    assert [b.get("stream_options") for b in bodies] == [
        {"include_usage": True},
        {"include_usage": False},
        {"include_usage": True},
        None,
        None,
    ]
    assert bodies[-1].get("stream") is None
    assert default[-1].usage is not None and on[-1].usage is not None
    assert off[-1].usage is None and unset[-1].usage is None


def test_the_cli_sends_options_read_as_json(tmp_path: Path) -> None:
    """``ultra-llm generate -o KEY=VALUE`` reads each value as JSON: numbers, lists and ``extra``'s
    object reach the body typed; a bad one exits 2 before any request."""
    cli = str(Path(sys.executable).with_name("ultra-llm"))
    env = {**os.environ, "HOME": str(tmp_path)}
    with ScriptedServer(answer) as server:
        env["MODEL_RUNNER_URL"] = server.url
        options = ["-o", "top_k=1", "-o", "temperature=2", "-o", 'samplers=["top_k"]', "-o", 'extra={"foo": 1}']
        done = subprocess.run(
            [cli, "generate", "-b", "docker-api", "-m", "ai/tiny", *options, "hello"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        refused = subprocess.run(
            [cli, "generate", "-b", "docker-api", "-m", "ai/tiny", "-o", 'extra={"model": "x"}', "hello"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        chats = [r.json() for r in server.requests if r.path.endswith("/chat/completions")]

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "hi"
    assert refused.returncode == 2 and "extra may not name model" in refused.stderr
    assert len(chats) == 1
    assert {k: chats[0][k] for k in ("top_k", "temperature", "samplers", "foo")} == {
        "top_k": 1,
        "temperature": 2,
        "samplers": ["top_k"],
        "foo": 1,
    }


WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}


@pytest.mark.parametrize(
    ("call", "named"),
    [
        ({"grammar": 'root ::= "hi"', "tools": [WEATHER]}, "grammar cannot go with tools"),
        (
            {"grammar": 'root ::= "hi"', "response_format": {"type": "json_object"}},
            "grammar cannot go with response_format",
        ),
        ({"logprobs": True, "tools": [WEATHER], "stream": True}, "logprobs cannot go with tools on a stream"),
    ],
)
def test_an_option_llama_server_refuses_or_drops_beside_a_feature_is_refused_first(
    call: dict[str, Any], named: str
) -> None:
    """The options model cannot see the request's features; the body builder refuses these pairings
    (llama-server refuses the first and third, and keeps only one grammar of the second, silently)."""
    stream = call.pop("stream", False)
    with ScriptedServer(answer) as server:
        with pytest.raises(InvalidOptionsError, match=named) as caught:
            run(streamed(server, **call) if stream else completed(server, **call))
        assert server.requests == []
    assert caught.value.backend == "docker-api" and caught.value.fix


def test_the_pairings_llama_server_takes_are_sent() -> None:
    with ScriptedServer(answer) as server:
        run(completed(server, grammar='root ::= "hi"', tools=[WEATHER], tool_choice="none"))
        run(completed(server, logprobs=True, tools=[WEATHER]))  # whole: llama-server takes it
        run(streamed(server, logprobs=True))
        bodies = [r.json() for r in server.requests]
    assert bodies[0]["grammar"] == 'root ::= "hi"' and bodies[0]["tool_choice"] == "none"
    assert bodies[1]["logprobs"] is True and bodies[1]["tools"]
    assert bodies[2]["logprobs"] is True and bodies[2]["stream"] is True
