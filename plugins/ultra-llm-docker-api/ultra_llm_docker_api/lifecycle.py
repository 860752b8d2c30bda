"""The runner's model-lifecycle API: request bodies and answers, as pure functions.

Shapes from docker/model-runner at 642c7211 (read, not copied):

- ``GET /engines/ps``: a JSON array of ``BackendStatus`` ``{backend_name, model_name, mode, last_used,
  in_use, loading, keep_alive}`` (``pkg/inference/scheduling/api.go:71-86``, ``http_handler.go:322-331``);
  ``docker model ps`` shows ``UNTIL`` from it (``cmd/cli/commands/ps.go:57-80``), done here the same way.
- ``GET /engines/df``: ``{models_disk_usage, default_backend_disk_usage}`` in bytes (``api.go:88-92``).
- ``POST /engines/unload`` ``{all, backend, models}`` -> ``{unloaded_runners}`` (``api.go:94-104``).
- ``POST /engines/_configure`` ``{model, context-size, keep_alive, ...}`` -> 202, or 409 ``runner already
  active`` while the model's runner is in use (``api.go:106-112``, ``inference/backend.go:258-268``,
  ``http_handler.go:478-486,520``, ``loader.go:722-732``).
- llama-server's ``GET /props`` (llama.cpp b9878 ``tools/server/server-context.cpp:4557-4600``):
  ``default_generation_settings.n_ctx``, ``modalities.vision``, ``chat_template_caps.supports_tool_calls``
  (``common/jinja/caps.cpp:80-89``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from ultra_llm.plugin import DiskUsage, ModelSettings, RunningModel, preview

from .parsing import MalformedResponse

__all__ = [
    "configure_body",
    "disk_usage_from",
    "human_duration",
    "props_capabilities",
    "running_from",
    "unload_body",
    "unloaded_from",
]

log = logging.getLogger("ultra_llm.docker_api")

_DEFAULT_KEEP_ALIVE = 300.0
"""``KeepAliveDefault``: 5 minutes (``inference/backend.go:207``)."""
_GO_MAX_SECONDS = (2**63 - 1) / 1e9
"""The longest Go ``time.Duration`` (int64 nanoseconds, about 292 years): ``time.ParseDuration``
refuses a longer one, so the runner never sends it."""
_GO_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_PART = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|μs|ms|s|m|h)")


def configure_body(model: str, settings: ModelSettings) -> bytes:
    """The ``_configure`` body: only the fields set (``context-size`` an int32, ``keep_alive`` a string,
    ``llamacpp.reasoning-budget`` -1 to think without a budget or 0 not to, as the runner's own CLI
    sends ``--think``: ``cmd/cli/commands/configure_flags.go:200-243``, ``inference/backend.go``
    ``LlamaCppConfig``, llama-server's ``--reasoning-budget``)."""
    body: dict[str, Any] = {"model": model}
    if settings.context_size is not None:
        body["context-size"] = settings.context_size
    if settings.keep_alive is not None:
        body["keep_alive"] = settings.keep_alive
    if settings.think is not None:
        body["llamacpp"] = {"reasoning-budget": -1 if settings.think else 0}
    return json.dumps(body).encode()


def unload_body(models: Sequence[str], *, all: bool) -> bytes:
    """The ``unload`` body (``backend`` empty: every engine, ``loader.go:270``)."""
    return json.dumps({"all": all, "backend": "", "models": list(models)}).encode()


def unloaded_from(body: object) -> int:
    """``unloaded_runners`` of the unload answer."""
    count = body.get("unloaded_runners") if isinstance(body, Mapping) else None
    if isinstance(count, int) and not isinstance(count, bool):
        return count
    raise MalformedResponse(f"the unload answer has no unloaded_runners count: {str(body)[:200]!r}")


def _seconds(keep_alive: str) -> float | None:
    """A Go duration string in seconds (``-1``: never, as a negative number); ``None`` if unreadable,
    or longer than a Go duration holds (``time.ParseDuration`` refuses it as Go does)."""
    text = keep_alive.strip()
    if text in ("0", "-1"):
        return float(text)
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    parts = _GO_PART.findall(body)
    if not parts or "".join(n + u for n, u in parts) != body:
        return None
    seconds = sum(float(n) * _GO_UNIT[u] for n, u in parts)
    return sign * seconds if seconds <= _GO_MAX_SECONDS else None


def human_duration(seconds: float) -> str:
    """go-units ``HumanDuration`` (``docker/go-units`` ``duration.go``), as ``docker model ps`` prints it."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if s < 48 * 3600:
        return f"{hours} hours"
    if s < 14 * 24 * 3600:
        return f"{s // (24 * 3600)} days"
    if s < 90 * 24 * 3600:
        return f"{s // (7 * 24 * 3600)} weeks"
    if s < 2 * 365 * 24 * 3600:
        return f"{s // (30 * 24 * 3600)} months"
    return f"{s // (365 * 24 * 3600)} years"


def _parse_time(value: object) -> datetime | None:
    """A Go ``time.Time`` in JSON (RFC 3339, nanoseconds); ``None`` for the zero time or junk."""
    if not isinstance(value, str) or value.startswith("0001-01-01"):
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def until(entry: Mapping[str, Any], now: datetime) -> str:
    """``formatUntil`` (``cmd/cli/commands/ps.go:57-80``): ``Loading...``, ``Forever``, ``N minutes from
    now`` or ``Expiring``; without a ``keep_alive``, the runner's default. ``MalformedResponse`` for a
    ``keep_alive`` that is not a Go duration."""
    if entry.get("loading"):
        return "Loading..."
    keep = entry.get("keep_alive")
    seconds = _DEFAULT_KEEP_ALIVE if keep is None else _seconds(keep) if isinstance(keep, str) else None
    if seconds is None:
        raise MalformedResponse(f"its keep_alive {preview(keep, 40)} is not a Go duration")
    if seconds < 0:
        return "Forever"
    used = _parse_time(entry.get("last_used"))
    if entry.get("in_use") or used is None:
        return human_duration(seconds) + " from now"
    remaining = seconds - (now - used).total_seconds()
    if remaining <= 0:
        return "Expiring"
    return human_duration(remaining) + " from now"


def running_from(body: object, *, backend: str, canonical: Any, now: datetime | None = None) -> list[RunningModel]:
    """The ``GET /engines/ps`` array as ``RunningModel`` rows (names through ``canonical`` when it takes them)."""
    if not isinstance(body, list):
        raise MalformedResponse(f"GET /engines/ps did not return a JSON array: {str(body)[:200]!r}")
    now = now or datetime.now(timezone.utc)
    rows: list[RunningModel] = []
    for entry in body:
        try:
            rows.append(_running(entry, backend, canonical, now))
        except MalformedResponse as exc:  # one odd entry: the others still show
            log.warning("GET /engines/ps listed an entry it cannot show, left out: %s: %s", preview(entry, 200), exc)
    return rows


def _running(entry: object, backend: str, canonical: Any, now: datetime) -> RunningModel:
    """One ``GET /engines/ps`` entry as a row; ``MalformedResponse`` saying why it cannot be one."""
    if not isinstance(entry, Mapping) or not isinstance(entry.get("model_name"), str):
        raise MalformedResponse("it is not an object with a model_name")
    raw = entry["model_name"]
    try:
        name = canonical(raw)
    except ValueError:  # InvalidModelNameError is a ValueError: keep the runner's text
        name = raw
    keep = entry.get("keep_alive")
    used = _parse_time(entry.get("last_used"))
    return RunningModel(
        name=name,
        backend=backend,
        engine=_text(entry.get("backend_name")),
        mode=_text(entry.get("mode")),
        until=until(entry, now),
        in_use=bool(entry.get("in_use")),
        loading=bool(entry.get("loading")),
        keep_alive=keep if isinstance(keep, str) else None,
        last_used=used.isoformat() if used else None,
    )


def disk_usage_from(body: object, *, backend: str) -> DiskUsage:
    """The ``GET /engines/df`` object."""
    if not isinstance(body, Mapping):
        raise MalformedResponse(f"GET /engines/df did not return a JSON object: {str(body)[:200]!r}")
    return DiskUsage(
        backend=backend,
        models_bytes=_int(body.get("models_disk_usage")),
        engine_bytes=_int(body.get("default_backend_disk_usage")),
    )


def props_capabilities(body: object) -> tuple[int | None, bool | None, bool | None]:
    """``(context window, tools, vision)`` from llama-server's ``GET /props``; ``None`` for what it omits."""
    if not isinstance(body, Mapping):
        return None, None, None
    settings = body.get("default_generation_settings")
    n_ctx = _int(settings.get("n_ctx")) if isinstance(settings, Mapping) else None
    caps = body.get("chat_template_caps")
    tools = caps.get("supports_tool_calls") if isinstance(caps, Mapping) else None
    modalities = body.get("modalities")
    vision = modalities.get("vision") if isinstance(modalities, Mapping) else None
    return (
        n_ctx if n_ctx and n_ctx > 0 else None,
        tools if isinstance(tools, bool) else None,
        vision if isinstance(vision, bool) else None,
    )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
