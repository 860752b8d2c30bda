"""Pure parsers of ``docker model`` output: list (JSON and table), status (JSON and text), pull
progress, CLI failures. Text in, typed values out; no I/O, nothing raised for odd input (unknown
shapes give empty or ``None`` values, never exceptions).

The formats are those of ``shared/reference/docker-model-runner.md`` and docker/model-runner's
``cmd/cli/commands/{list,status,utils}.go``: tables have no borders and columns padded with
spaces (cells contain spaces and may be blank, so rows are cut at the header's column starts);
older CLIs lack the ``CONTEXT`` column and show raw tags.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ultra_llm.plugin import JSONDepthError, json_loads

__all__ = [
    "Failure",
    "ListedModel",
    "RunnerStatus",
    "classify_failure",
    "parse_list_json",
    "parse_list_table",
    "parse_progress_line",
    "parse_size",
    "parse_status_json",
    "parse_status_text",
    "render_prompt",
    "strip_ansi",
]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_COLUMN = re.compile(r"\S+(?: \S+)*")
_HEADERS = {
    "MODEL NAME": "name",
    "MODEL": "name",
    "NAME": "name",
    "PARAMETERS": "parameters",
    "QUANTIZATION": "quantization",
    "ARCHITECTURE": "architecture",
    "MODEL ID": "id",
    "ID": "id",
    "CREATED": "created",
    "CONTEXT": "context_size",
    "SIZE": "size",
}
_DOWNLOADED = re.compile(r"^Downloaded (\S+) of (\S+)$")
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")
_UNITS = {
    "": 1, "b": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
    "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4,
}  # fmt: skip


def strip_ansi(text: str) -> str:
    """``text`` without ANSI escape sequences (the CLI makes ``What's next:`` bold)."""
    return _ANSI.sub("", text)


@dataclass(frozen=True)
class ListedModel:
    """One model tag as ``docker model list`` reports it; ``name`` as printed (not normalised)."""

    name: str
    id: str | None = None
    parameters: str | None = None
    quantization: str | None = None
    architecture: str | None = None
    size: str | None = None
    context_size: int | None = None
    created: str | int | None = None
    served_context: int | None = None
    """The context the runner serves it with, as packaged (``config.context_size``; ``None``: not
    packaged, so not known here: ``context_size`` may then be the model's trained context)."""

    def details(self) -> dict[str, str | int | float | None]:
        """The known fields, for ``ModelInfo.details`` (``None`` values left out)."""
        values: dict[str, str | int | float | None] = {
            "id": self.id,
            "parameters": self.parameters,
            "quantization": self.quantization,
            "architecture": self.architecture,
            "size": self.size,
            "context_size": self.context_size,
            "created": self.created,
        }
        return {k: v for k, v in values.items() if v is not None and v != ""}


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _as_str(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _load_json(text: str, what: str) -> Any:
    """``json.loads`` (depth bounded, ``ultra_llm._json_depth``), with input nested too deeply reported
    as malformed like any other: a ``ValueError``."""
    try:
        return json_loads(text)
    except JSONDepthError as exc:
        raise ValueError(f"{what} printed JSON nested too deeply to read ({exc})") from None


def parse_list_json(text: str) -> list[ListedModel]:
    """``docker model list --json`` (an array of ``{id, tags, created, config}``): one entry per tag.

    Untagged models (no tags) are left out: they cannot be named. Raises ``ValueError`` when the
    text is not a JSON array, however malformed or deeply nested (so a caller can fall back to the table).
    """
    data = _load_json(text, "docker model list --json")
    if not isinstance(data, list):
        raise ValueError("docker model list --json did not print a JSON array")
    models: list[ListedModel] = []
    for item in data:
        if not isinstance(item, Mapping):
            continue
        config = item.get("config")
        config = config if isinstance(config, Mapping) else {}
        context = packaged = _as_int(config.get("context_size"))
        gguf = config.get("gguf")
        if context is None and isinstance(gguf, Mapping):
            context = _as_int(gguf.get("llama.context_length"))
        raw_id = _as_str(item.get("id"))
        created = item.get("created")
        tags = item.get("tags")
        for tag in tags if isinstance(tags, list) else []:
            name = _as_str(tag)
            if not name:
                continue
            models.append(
                ListedModel(
                    name=name,
                    id=raw_id,
                    parameters=_as_str(config.get("parameters")),
                    quantization=_as_str(config.get("quantization")),
                    architecture=_as_str(config.get("architecture")),
                    size=_as_str(config.get("size")),
                    context_size=context,
                    created=created if isinstance(created, int) and not isinstance(created, bool) else None,
                    served_context=packaged,
                )
            )
    return models


def parse_list_table(text: str) -> list[ListedModel]:
    """The ``docker model list`` table (old or new columns): one entry per row, ``<none>`` rows left out.

    Cells are cut at the header's column start positions (cells hold spaces and may be blank).
    Lines before the header (install messages of a standalone runner) are skipped.
    """
    lines = [strip_ansi(line.rstrip("\r")) for line in text.splitlines()]
    header_index = next((i for i, line in enumerate(lines) if line.lstrip().startswith("MODEL")), None)
    if header_index is None:
        return []
    header = lines[header_index]
    columns = [(m.start(), _HEADERS.get(m.group(0).upper())) for m in _COLUMN.finditer(header)]
    if not columns or columns[0][1] != "name":
        return []
    models: list[ListedModel] = []
    for line in lines[header_index + 1 :]:
        if not line.strip():
            continue
        cells: dict[str, str] = {}
        for index, (start, key) in enumerate(columns):
            end = columns[index + 1][0] if index + 1 < len(columns) else len(line)
            if key is not None:
                cells[key] = line[start:end].strip()
        if index_cut_inside_word(line, [start for start, _ in columns]):
            # A row wider than the header layout (e.g. wide characters): fall back to 2+ spaces.
            parts = re.split(r" {2,}", line.strip())
            if len(parts) == len(columns):
                cells = {key: part.strip() for (_, key), part in zip(columns, parts, strict=True) if key is not None}
        name = cells.get("name", "")
        if not name or name == "<none>":
            continue
        models.append(
            ListedModel(
                name=name,
                id=cells.get("id") or None,
                parameters=cells.get("parameters") or None,
                quantization=cells.get("quantization") or None,
                architecture=cells.get("architecture") or None,
                size=cells.get("size") or None,
                context_size=_as_int(cells.get("context_size")),
                created=cells.get("created") or None,
            )
        )
    return models


def index_cut_inside_word(line: str, starts: Sequence[int]) -> bool:
    """True when a column start falls inside a word (the row does not follow the header layout)."""
    return any(0 < start < len(line) and line[start - 1] != " " and line[start] != " " for start in starts[1:])


@dataclass(frozen=True)
class RunnerStatus:
    """What ``docker model status`` said: running or not (``None``: could not tell), and details."""

    running: bool | None
    backends: Mapping[str, str] = field(default_factory=dict)
    kind: str | None = None
    endpoint: str | None = None
    """The OpenAI base URL this host reaches: ``endpointHost`` when printed, else ``endpoint``."""
    container_endpoint: str | None = None
    """``endpoint`` when it differs from ``endpointHost``: where containers reach the runner."""
    text: str = ""


def parse_status_json(text: str) -> RunnerStatus:
    """``docker model status --json``; raises ``ValueError`` when the text is not a JSON object
    (malformed or deeply nested JSON included).

    Newer CLIs print ``endpointHost`` besides ``endpoint`` (``cmd/cli/commands/status.go:126-179`` at
    642c7211): on Docker Desktop ``endpoint`` is ``http://model-runner.docker.internal/v1/``, reachable
    only from containers, on Docker Engine the gateway address; ``endpointHost`` is the URL on this host.
    So ``endpoint`` here is ``endpointHost`` when present (older CLIs: their ``endpoint``).
    """
    data = _load_json(text, "docker model status --json")
    if not isinstance(data, Mapping):
        raise ValueError("docker model status --json did not print a JSON object")
    running = data.get("running")
    backends = data.get("backends")
    endpoint, host = _as_str(data.get("endpoint")), _as_str(data.get("endpointHost"))
    return RunnerStatus(
        running=running if isinstance(running, bool) else None,
        backends={str(k): str(v) for k, v in backends.items()} if isinstance(backends, Mapping) else {},
        kind=_as_str(data.get("kind")),
        endpoint=host or endpoint,
        container_endpoint=endpoint if host and endpoint != host else None,
        text=text.strip(),
    )


def parse_status_text(text: str) -> RunnerStatus:
    """The text of ``docker model status`` (old ``Status:`` lines or the new ``BACKEND`` table)."""
    clean = strip_ansi(text)
    lines = [line.strip() for line in clean.splitlines() if line.strip()]
    running: bool | None = None
    for line in lines:
        if line.startswith("Docker Model Runner is not running"):
            running = False
            break
        if line.startswith("Docker Model Runner is running"):
            running = True
            break
    backends: dict[str, str] = {}
    if running:
        table_at = next((i for i, line in enumerate(lines) if line.startswith("BACKEND")), None)
        if table_at is not None:
            for line in lines[table_at + 1 :]:
                parts = re.split(r" {2,}", line, maxsplit=2)
                if len(parts) >= 2:
                    backends[parts[0]] = ": ".join(parts[1:])
        else:
            for line in lines:
                name, sep, value = line.partition(": ")
                if sep and name not in ("Status", "Docker Model Runner is running"):
                    backends[name] = value
    return RunnerStatus(running=running, backends=backends, text=clean.strip())


def parse_size(text: str) -> int | None:
    """``"12.34MB"``, ``"256.35 MiB"``, ``"4.74GiB"`` -> bytes; ``None`` when not a size."""
    match = _SIZE.match(text)
    if not match:
        return None
    unit = _UNITS.get(match.group(2).lower())
    return None if unit is None else int(float(match.group(1)) * unit)


def parse_progress_line(line: str) -> tuple[int | None, int | None] | None:
    """``Downloaded 12.34MB of 256.35MB`` -> ``(completed, total)`` bytes; ``None`` for other lines."""
    match = _DOWNLOADED.match(line.strip())
    if not match:
        return None
    return parse_size(match.group(1)), parse_size(match.group(2))


class Failure(Enum):
    """What a failed ``docker`` invocation means, judged from its output."""

    PLUGIN_MISSING = "plugin-missing"
    DAEMON_DOWN = "daemon-down"
    RUNNER_NOT_RUNNING = "runner-not-running"
    MODEL_NOT_FOUND = "model-not-found"
    UNKNOWN_FLAG = "unknown-flag"
    CONTEXT_EXCEEDED = "context-exceeded"
    ENGINE_NOT_INSTALLED = "engine-not-installed"
    REQUEST_TOO_LARGE = "request-too-large"
    MUST_FORCE = "must-force"
    RUNNER_ACTIVE = "runner-active"
    UNKNOWN_COMMAND = "unknown-command"
    OTHER = "other"


def classify_failure(stderr: str, stdout: str = "") -> Failure:
    """Classify a non-zero exit from its stderr (and stdout); order matters, most specific first."""
    text = strip_ansi(stderr + "\n" + stdout)
    if "is not a docker command" in text or "unknown command: docker model" in text:
        return Failure.PLUGIN_MISSING
    if "Cannot connect to the Docker daemon" in text or "Is the docker daemon running" in text:
        return Failure.DAEMON_DOWN
    if "Docker Model Runner is not running" in text:
        return Failure.RUNNER_NOT_RUNNING
    if "exceeds the available context size" in text or "exceed_context_size_error" in text:
        return Failure.CONTEXT_EXCEEDED
    err = strip_ansi(stderr)
    # `run` prints a non-200 answer as `error response: status=N body=<body>` (desktop.go:601, wrapped
    # by run.go:855 as `Failed to generate a response: ...`); the runner's 412 and 400 bodies are
    # scheduling/http_handler.go:244-247 and :33-34 (docker/model-runner at 642c7211)
    if "status=412 " in err or "is not installed; run: docker model install-runner" in err:
        return Failure.ENGINE_NOT_INSTALLED
    if "status=400 body=request too large" in err:
        return Failure.REQUEST_TOO_LARGE
    if "runner already active" in err:  # configure of a busy model: 409 (scheduling/http_handler.go:480-481)
        return Failure.RUNNER_ACTIVE
    if err.startswith("unknown command ") and 'for "docker model"' in err:  # a CLI without the command
        return Failure.UNKNOWN_COMMAND
    if "(must be forced)" in err:  # rm by ID of a model with several tags: 409 (client.go:562-567)
        return Failure.MUST_FORCE
    if (
        "model not found" in err
        or "no such model" in err
        or "Model not found" in err
        or ("Failed to pull model" in err and ("404" in err or "401 Unauthorized" in err))
    ):
        return Failure.MODEL_NOT_FOUND
    if err.startswith(("unknown flag:", "unknown shorthand flag:")):
        return Failure.UNKNOWN_FLAG
    return Failure.OTHER


def render_prompt(messages: Sequence[tuple[str, str]]) -> str:
    """The one-shot prompt for ``docker model run`` from ``(role, content)`` pairs.

    A single user message is sent verbatim. Otherwise the system text comes first, then earlier
    turns as ``User:``/``Assistant:`` lines, then the last user message, separated by blank lines:
    the CLI has no other way to carry a conversation.
    """
    if len(messages) == 1:
        return messages[0][1]
    parts: list[str] = []
    turns = [(role, content) for role, content in messages if role != "system"]
    parts.extend(content for role, content in messages if role == "system")
    if len(turns) > 1:
        parts.extend(f"{role.capitalize()}: {content}" for role, content in turns[:-1])
    if turns:
        parts.append(turns[-1][1])
    return "\n\n".join(parts)
