"""What both Docker backends read of the runner's model configurations (``configure``).

``GET /engines/_configure[?model=]`` and ``docker model configure show [MODEL]`` (which prints that
answer, ``json.MarshalIndent``: ``cmd/cli/commands/configure_show.go:23-33``) give an array of
``ModelConfigEntry`` (no JSON tags: ``Backend``, ``Model``, ``ModelID``, ``Mode``, ``Config``;
``pkg/inference/scheduling/api.go:114-121``, ``http_handler.go:523-546`` at docker/model-runner
642c7211) whose ``Config`` is a ``BackendConfiguration`` (``context-size``, ``keep_alive``, ...;
``pkg/inference/backend.go:258-268``). A configured context size wins over the one the model was
packaged with (``pkg/inference/backends/llamacpp/llamacpp_config.go:97-109``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

__all__ = ["configured_context"]


def configured_context(entries: object, model: str, canonical: Callable[[str], str]) -> int | None:
    """The context size ``configure`` set for ``model`` (canonical name) in ``entries``; ``None`` when
    none is set or ``entries`` is not such an array. ``-1`` is the model's whole trained context."""
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("Config"), Mapping):
            continue
        named = entry.get("Model")
        try:
            if isinstance(named, str) and named and canonical(named) != model:
                continue
        except ValueError:  # InvalidModelNameError: not a name we could have asked for
            continue
        size = entry["Config"].get("context-size")
        if isinstance(size, int) and not isinstance(size, bool) and (size > 0 or size == -1):
            return size
    return None
