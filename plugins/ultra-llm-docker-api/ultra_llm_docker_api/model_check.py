"""Notice a server answering with another model than the one asked for (the ``/v1`` layout).

A single-model server (llama-server) answers any ``model`` with the one it loaded; its answer's
``model`` names that one. When the names differ, the server's list (``GET <api>/models``: ids and
llama-server's aliases, read once per endpoint and cached) settles it: a name it lists is an alias,
anything else is ``ModelNotFoundError``. The common case, names equal, costs no request. The
runner's layout needs none of this: Docker Model Runner routes by the name, or answers 404.
"""

from __future__ import annotations

from ultra_llm.errors import UltraLLMError

from .error_map import missing_model
from .faults import Failed
from .parsing import MalformedResponse, load_json, served_names
from .pool import Member

__all__ = ["check_answering_model"]


async def check_answering_model(member: Member, asked: str, answered: str | None) -> None:
    """Return if ``answered`` may be ``asked`` on this endpoint (its model list read the first time it
    is needed, within the call's deadline); ``ModelNotFoundError`` otherwise."""
    ep = member.endpoint
    if ep.runner_layout or answered is None or answered == asked:
        return
    if member.served is None:
        member.served = await _read_served(member)
    served = member.served or frozenset()
    if asked in served:
        return
    listed = ", ".join(sorted(served)) or "a list it could not give"
    raise missing_model(
        asked,
        member.transport.kind,
        ep.api("/models"),
        f"{ep.display_url} answered with '{answered}' instead; it serves {listed}",
    )


async def _read_served(member: Member) -> frozenset[str] | None:
    """The names the endpoint lists; ``None`` (not cached) when the list cannot be read: the answer decides."""
    try:
        reply = await member.transport.request("GET", member.endpoint.api("/models"))
        return served_names(load_json(reply.body, "the models list"))
    except (Failed, UltraLLMError, MalformedResponse):
        return None
