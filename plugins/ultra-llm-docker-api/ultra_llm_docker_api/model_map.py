"""What one runner has, and has loaded: the reads behind the pool's choice by model.

- Docker Model Runner (the runner's layout): the tags of ``GET /models`` (``docker model list
  --json``), and the models of ``GET /engines/ps``, a loading one included: it is on its way there
  (``pkg/inference/scheduling/api.go:71-86`` at 642c7211).
- Another server (``/v1``): the ids and aliases of ``GET <api>/models``; what is loaded, only where the
  list says (llama-server's router mode: each entry's ``status``, ``router_status``), a loading model
  included; elsewhere not known.

Each read is a check (``Transport.probe``: ``ULTRA_LLM_CHECK_TIMEOUT``); one that fails gives
``None``, and the pool keeps what it knew.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from ultra_llm.errors import UltraLLMError

from .faults import Failed
from .parsing import MalformedResponse, load_json, models_from_runner, served_names
from .pool import Member, ModelMap
from .router_status import ModelState, model_states

__all__ = ["read_map"]

log = logging.getLogger("ultra_llm.docker_api")

_ON_ITS_WAY = (ModelState.LOADED, ModelState.LOADING)
"""A router's models a request is sent to first: loaded, or loading (it waits for that load rather
than paying another elsewhere)."""


async def read_map(member: Member, canonical: Callable[[str], str]) -> ModelMap | None:
    """``member``'s models and loaded models (names through ``canonical``); ``None`` if it cannot say."""
    ep, transport = member.endpoint, member.transport
    try:
        if ep.runner_layout:
            listing = load_json((await transport.probe(ep.management("/models"))).body, "GET /models")
            running = load_json((await transport.probe(ep.management("/engines/ps"))).body, "GET /engines/ps")
            tags = [tag for tag, _ in models_from_runner(listing)]
            return ModelMap(_names(tags, canonical), _names(_running_names(running), canonical))
        listing = load_json((await transport.probe(ep.api("/models"))).body, f"GET {ep.api_path}/models")
        member.served = served_names(listing)
        states = model_states(listing)
        warm = None if states is None else [name for name, state in states.items() if state in _ON_ITS_WAY]
        return ModelMap(_names(member.served, canonical), None if warm is None else _names(warm, canonical))
    except (Failed, UltraLLMError, MalformedResponse) as exc:
        log.debug("%s: its models could not be read: %s", ep.display_url, exc)
        return None


def _running_names(running: object) -> list[str]:
    """The ``model_name`` of each ``GET /engines/ps`` entry (``MalformedResponse`` unless an array)."""
    if not isinstance(running, list):
        raise MalformedResponse("GET /engines/ps did not return a JSON array")
    names = [entry.get("model_name") for entry in running if isinstance(entry, dict)]
    return [name for name in names if isinstance(name, str)]


def _names(raw: Iterable[str], canonical: Callable[[str], str]) -> frozenset[str]:
    """``raw`` names as the backend spells them; one it cannot read is left out."""
    names: set[str] = set()
    for name in raw:
        try:
            names.add(canonical(name))
        except ValueError:  # InvalidModelNameError: a name no request can ask for
            continue
    return frozenset(names)
