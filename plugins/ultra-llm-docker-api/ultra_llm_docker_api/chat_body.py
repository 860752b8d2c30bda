"""The JSON body of ``POST <api>/chat/completions``, built from a ``GenerationRequest``.

A pure function: a new dict each time, nothing of the (immutable) request changed. Docker Model
Runner forwards the body to ``llama-server`` unchanged (its reverse proxy,
``pkg/inference/scheduling/runner.go:125`` at 642c7211), so every field here reaches the engine:

* ``messages``: ``Message.to_dict()``, content parts with images inline as data URLs
  (``image_url`` parts; llama-server decodes ``data:image/...;base64,`` URLs,
  ``tools/server/server-common.cpp:878-891`` in b9878), assistant ``tool_calls``, ``tool_call_id``;
* ``tools`` / ``tool_choice``: OpenAI's shapes (llama-server needs ``--jinja`` for them,
  ``server-common.cpp:911-922``);
* ``response_format``: ``ResponseFormat.to_openai()``; llama-server turns the schema into a grammar
  (``server-common.cpp:939-952``);
* reasoning control, per request: ``reasoning`` becomes ``chat_template_kwargs: {"enable_thinking":
  bool}`` (merged over the server's ``--chat-template-kwargs``, read back as the template's
  ``enable_thinking`` at ``server-common.cpp:1071-1086``) and ``reasoning_budget`` becomes
  ``thinking_budget_tokens`` (``server-common.cpp:1117-1130``: it overrides the server's
  ``--reasoning-budget`` for this request, and only when the chat template has thinking tags; on a
  template without them the engine ignores it, no error). Docker Model Runner's own reasoning
  setting is per model, not per request: ``docker model configure --think`` / ``POST
  /engines/_configure`` with ``llamacpp.reasoning-budget`` (``pkg/inference/backend.go:195-197``),
  which starts llama-server with ``--reasoning-budget``; these per-request fields override it.
* the options (``DockerAPIOptions``), each under its own name when set: OpenAI's and llama-server's
  sampling and server fields. ``stream_options`` goes with a streamed request only (OpenAI refuses it
  on a whole one); set per request, it wins over ``ULTRA_LLM_DOCKER_API_STREAM_USAGE``. ``extra``'s
  fields are merged last (the options model refused any that names a field set here).
* three pairings of an option with a request feature, refused here before any request
  (``InvalidOptionsError``: the options model cannot see the features):

  - ``grammar`` with tools: llama-server refuses it ("Cannot use custom grammar constraints with
    tools.", ``server-common.cpp`` ``oaicompat_chat_params_parse``);
  - ``grammar`` with ``response_format``: llama-server keeps one grammar and drops the other without
    a word (measured on b9878: a schema's grammar wins over ``grammar``, ``grammar`` wins over
    ``json_object`` without a schema; only the body field ``json_schema`` beside ``grammar`` is
    refused there, "Cannot use both json_schema and grammar");
  - ``logprobs`` with tools on a stream: refused there too ("logprobs is not supported with tools +
    stream").
"""

from __future__ import annotations

import json
from typing import Any

from ultra_llm.errors import InvalidOptionsError
from ultra_llm.plugin import GenerationRequest

__all__ = ["chat_body"]


def chat_body(request: GenerationRequest, *, stream: bool, stream_usage: bool) -> bytes:
    """The request's body as compact UTF-8 JSON; ``stream_usage`` asks for usage in the stream
    unless the request's own ``stream_options`` says otherwise."""
    body: dict[str, Any] = {"model": request.model, "messages": [m.to_dict() for m in request.messages]}
    options = dict(request.options_dict)
    _check_pairings(request, options, stream=stream)
    extra: dict[str, Any] = options.pop("extra", None) or {}
    stream_options = options.pop("stream_options", None)
    body.update(options)
    if request.tools:
        body["tools"] = [tool.to_dict() for tool in request.tools]
    if request.tool_choice is not None:
        body["tool_choice"] = request.tool_choice
    if request.response_format is not None:
        body["response_format"] = request.response_format.to_openai()
    if request.reasoning is not None:
        body["chat_template_kwargs"] = {"enable_thinking": request.reasoning}
    if request.reasoning_budget is not None:
        body["thinking_budget_tokens"] = request.reasoning_budget
    if stream:
        body["stream"] = True
        if stream_options is not None:
            body["stream_options"] = stream_options
        elif stream_usage:
            body["stream_options"] = {"include_usage": True}
    body.update(extra)
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _check_pairings(request: GenerationRequest, options: dict[str, Any], *, stream: bool) -> None:
    """``InvalidOptionsError`` for an option llama-server refuses or drops beside a request feature."""
    tools = bool(request.tools)
    if "grammar" in options and tools and request.tool_choice != "none":
        raise InvalidOptionsError(
            "The option grammar cannot go with tools: llama-server refuses custom grammar constraints with tools.",
            fix="Drop grammar or the tools, or set tool_choice='none'.",
            backend=request.backend,
        )
    if "grammar" in options and request.response_format is not None:
        raise InvalidOptionsError(
            "The option grammar cannot go with response_format: llama-server keeps one of the two grammars "
            "and drops the other without a word.",
            fix="Give either grammar or response_format.",
            backend=request.backend,
        )
    if options.get("logprobs") and tools and stream:
        raise InvalidOptionsError(
            "The option logprobs cannot go with tools on a stream: llama-server refuses it.",
            fix="Call without streaming, or drop logprobs or the tools.",
            backend=request.backend,
        )
