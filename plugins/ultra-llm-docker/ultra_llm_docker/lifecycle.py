"""What both Docker backends read of the runner's model configurations (``configure``), and the
runner's keep-alive grammar they check before sending one (``LoadedModels.check_settings``).

``GET /engines/_configure[?model=]`` and ``docker model configure show [MODEL]`` (which prints that
answer, ``json.MarshalIndent``: ``cmd/cli/commands/configure_show.go:23-33``) give an array of
``ModelConfigEntry`` (no JSON tags: ``Backend``, ``Model``, ``ModelID``, ``Mode``, ``Config``;
``pkg/inference/scheduling/api.go:114-121``, ``http_handler.go:523-546`` at docker/model-runner
642c7211) whose ``Config`` is a ``BackendConfiguration`` (``context-size``, ``keep_alive``, ...;
``pkg/inference/backend.go:258-268``). A configured context size wins over the one the model was
packaged with (``pkg/inference/backends/llamacpp/llamacpp_config.go:97-109``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace

from ultra_llm.errors import InvalidOptionsError
from ultra_llm.plugin import ModelSettings

__all__ = ["check_keep_alive", "check_model_settings", "configured_context"]

_GO_DURATION = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h)")


def check_keep_alive(value: str) -> str:
    """``value`` if the runner takes it as a keep-alive, else ``InvalidOptionsError``: ``0`` (unload when
    idle), ``-1`` or any negative duration (never unload), or a Go duration (``30s``, ``5m``, ``1h30m``;
    ``time.ParseDuration``: a sign, then number-unit pairs, units ns us µs ms s m h). The runner's
    own grammar (``pkg/inference/backend.go:223-256`` at 642c7211), kept here once for both backends.
    """
    text = value.strip()
    body = text[1:] if text[:1] in "+-" else text
    if text in ("0", "-1") or (body and _GO_DURATION.sub("", body) == "" and _GO_DURATION.match(body)):
        return text
    raise InvalidOptionsError(
        f"Keep-alive {value!r} is not a duration.",
        fix="Use a Go duration such as 30s, 5m or 1h30m; 0 unloads the model when idle, -1 keeps it loaded.",
    )


def check_model_settings(settings: ModelSettings) -> ModelSettings:
    """``settings`` as the runner takes them (the keep-alive stripped), else ``InvalidOptionsError``;
    both backends' ``LoadedModels.check_settings``. No I/O."""
    if settings.keep_alive is None:
        return settings
    return replace(settings, keep_alive=check_keep_alive(settings.keep_alive))


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
