"""The incremental parser of ``docker model run`` stdout: bytes in, answer/reasoning/progress out.

What the CLI writes (docker/model-runner ``cmd/cli/commands/run.go``, ``desktop/desktop.go``)::

    [latest: Pulling from docker/model-runner\n ... Successfully pulled docker/model-runner:latest\n
     Creating model storage volume docker-model-runner-models...\n
     Starting model runner container docker-model-runner...\n]    (runner auto-install, Docker Engine)
    [Unable to find model 'M' locally. Pulling from the server.\\n     (only when auto-pulling)
     Downloaded 12.34MB of 256.35MB\\n ...
     Model pulled successfully\\n]
    [Thinking:\\n<reasoning>\\n\\n--\\n\\n]                               (reasoning models)
    <answer, token by token>
    [\\n\\nToken usage: P prompt + C completion = T total]            (newer CLIs, when reported)
    \\n                                                                (cmd.Println)

The auto-install block is printed only without ``MODEL_RUNNER_NO_AUTO_INSTALL`` (which the backend sets
unless ``auto_install``) when no runner container exists (``ensureStandaloneRunnerAvailable``,
``commands/install-runner.go:88-178`` at 642c7211): the image pull through Docker's jsonmessage
stream (``pkg/standalone/images.go:19-27``, written with ``printer.Write`` = ``OutOrStdout``,
``commands/utils.go:91-93``), then ``Successfully pulled <image>`` or ``Using local image <image>``
(``images.go:26,35``), ``Creating model storage volume ...`` (``volumes.go:32``), ``Starting model
runner container ...`` (``containers.go:619``) and possibly ``Warning:``/CA certificate lines
(``containers.go:557-646``). The engine's own ``Installing <engine> backend...`` lines go to stderr
(``desktop/desktop.go:610-647``), never here.

Only the answer is answer text. Bytes are decoded incrementally (a character split across reads
stays whole; invalid bytes become U+FFFD). A tail that may still turn out to be the trailer (the
final newline, ``Token usage``, the ``--`` separator) is held back until it is decided, and never
more than that: the first answer characters are passed on as soon as they cannot be CLI lines.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Literal

from .parsers import parse_progress_line

__all__ = ["Event", "RunOutputParser"]

_PULLING = re.compile(r"^Unable to find model '(.*)' locally\. Pulling from the server\.$")
_USAGE = re.compile(r"\n\nToken usage: (\d+) prompt \+ (\d+) completion = (\d+) total\n?\Z")
_USAGE_HEAD = "\n\nToken usage: "
_SEPARATOR = "\n\n--\n\n"
_PREAMBLE_STARTS = ("Unable to find model '", "Thinking:")
_PULL_STARTS = ("Downloaded ", "Model pulled successfully")
_RUNNER_IMAGE = "docker/model-runner"
_INSTALL_FIRST = re.compile(
    rf"^[\w][\w.-]{{0,127}}: Pulling from {_RUNNER_IMAGE}$"
    rf"|^(?:Successfully pulled|Using local image) {_RUNNER_IMAGE}:\S+$"
)
"""The first line of an auto-install: the runner image's pull (jsonmessage, not a TTY) or its result."""
_INSTALL_LINE = re.compile(
    r"^[0-9a-f]{12}: (?:Pulling fs layer|Waiting|Verifying Checksum|Download complete|Pull complete|Already exists"
    r"|Downloading|Extracting)\b.*$"
    r"|^Digest: sha256:[0-9a-f]{64}$"
    r"|^Status: (?:Downloaded newer image|Image is up to date) for \S+$"
    rf"|^(?:Successfully pulled|Using local image) {_RUNNER_IMAGE}:\S+$"
    r"|^Creating model storage volume \S+\.\.\.$"
    r"|^Starting model runner container \S+\.\.\.$"
    r"|^(?:Updating CA certificates|Restarting container to apply CA certificate)\.\.\.$"
    r"|^Warning: .*$"
)
"""Further auto-install lines (``Warning:`` only inside the block, never as its first line)."""

EventKind = Literal["text", "reasoning", "pull-started", "progress", "pulled", "usage", "install"]


@dataclass(frozen=True)
class Event:
    """One parsed piece: ``text``/``reasoning`` carry ``text``; ``progress`` the byte counts;
    ``usage`` the three token counts; ``pull-started``/``pulled`` the CLI's line in ``text``."""

    kind: EventKind
    text: str = ""
    completed: int | None = None
    total: int | None = None
    usage: tuple[int, int, int] | None = None


def _trailer_candidate(tail: str) -> bool:
    """Could ``tail`` (starting at a newline) still be the final newline or the usage trailer?"""
    body = tail.lstrip("\n")
    if not body:
        return True
    if len(tail) - len(body) < 2:
        return False
    head = _USAGE_HEAD.lstrip("\n")
    if len(body) <= len(head):
        return head.startswith(body)
    return body.startswith(head) and "\n" not in body[:-1] and len(body) < 200


def _hold_from(text: str) -> int:
    """Where the held-back tail of answer text starts (``len(text)`` when nothing is held)."""
    end = len(text)
    # the last two newline runs are the only places the trailer can start
    starts: list[int] = []
    i = text.rfind("\n")
    while i >= 0 and len(starts) < 2:
        while i > 0 and text[i - 1] == "\n":
            i -= 1
        starts.append(i)
        i = text.rfind("\n", 0, i)
    best = end
    for start in starts:
        if _trailer_candidate(text[start:]):
            best = min(best, start)
    return best


def _separator_hold(text: str) -> int:
    """Where a possible partial ``\\n\\n--\\n\\n`` at the end of reasoning starts."""
    for size in range(min(len(_SEPARATOR) - 1, len(text)), 0, -1):
        if _SEPARATOR.startswith(text[-size:]):
            return len(text) - size
    return len(text)


def _may_become_install(partial: str) -> bool:
    """Could the unfinished first line ``partial`` still become an auto-install line?"""
    for head in ("Successfully pulled ", "Using local image "):
        if head.startswith(partial) or partial.startswith(head + _RUNNER_IMAGE[: len(partial) - len(head)]):
            return True
    tag, colon, rest = partial.partition(":")
    if not re.fullmatch(r"[\w][\w.-]{0,127}", tag):
        return False
    head = f" Pulling from {_RUNNER_IMAGE}"
    return not colon or head.startswith(rest) or rest == head


class RunOutputParser:
    """Feed stdout bytes with ``feed``; call ``finish`` once at EOF. Both return events in order.

    ``installer``: the runner may be auto-installed first (the backend's ``auto_install``), so an
    unfinished first line that may become an install line is held until its end; complete install
    lines at the start are recognised (``install`` events) either way.
    """

    def __init__(self, *, installer: bool = False) -> None:
        self._installer = installer
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._phase: Literal["start", "installing", "pulling", "reasoning", "answer"] = "start"
        self._buffer = ""
        self.answered = False
        """True once any answer or reasoning text has been emitted."""

    def feed(self, data: bytes) -> list[Event]:
        """Parse the next bytes of stdout."""
        self._buffer += self._decoder.decode(data)
        return self._drain(final=False)

    def finish(self) -> list[Event]:
        """End of output: flush what was held back, turning the trailer into a ``usage`` event."""
        self._buffer += self._decoder.decode(b"", final=True)
        events = self._drain(final=True)
        rest, self._buffer = self._buffer, ""
        usage: tuple[int, int, int] | None = None
        match = _USAGE.search(rest)
        if match:
            usage = (int(match.group(1)), int(match.group(2)), int(match.group(3)))
            rest = rest[: match.start()]
        elif rest.endswith("\n"):
            rest = rest[:-1]  # the CLI's final newline
        if rest:
            kind: EventKind = "reasoning" if self._phase == "reasoning" else "text"
            events.append(Event(kind, rest))
            self.answered = True
        if usage is not None:
            events.append(Event("usage", usage=usage))
        return events

    def _emit(self, events: list[Event], kind: EventKind, text: str) -> None:
        if text:
            events.append(Event(kind, text))
            self.answered = True

    def _drain(self, *, final: bool) -> list[Event]:
        events: list[Event] = []
        while True:
            buf = self._buffer
            if self._phase == "installing":  # the block ends at its first line that is not an install line
                line, newline, rest = buf.partition("\n")
                if not newline and not final:
                    return events  # wait for the line's end
                if newline and _INSTALL_LINE.match(line):
                    events.append(Event("install", line))
                    self._buffer = rest
                    continue
                self._phase = "start"
                continue
            if self._phase in ("start", "pulling"):
                line, newline, rest = buf.partition("\n")
                starts = _PREAMBLE_STARTS if self._phase == "start" else (*_PULL_STARTS, "Thinking:")
                if not newline:
                    held = any(s.startswith(line) or line.startswith(s) for s in starts) or (
                        self._installer and self._phase == "start" and _may_become_install(line)
                    )
                    if not final and held:
                        return events  # may still become a CLI line: wait for its end
                    self._phase = "answer"
                    continue
                if self._phase == "start" and _INSTALL_FIRST.match(line):
                    events.append(Event("install", line))
                    self._phase, self._buffer = "installing", rest
                    continue
                pulling = _PULLING.match(line)
                if self._phase == "start" and pulling:
                    events.append(Event("pull-started", line))
                    self._phase, self._buffer = "pulling", rest
                    continue
                if line == "Thinking:":
                    self._phase, self._buffer = "reasoning", rest
                    continue
                if self._phase == "pulling":
                    progress = parse_progress_line(line)
                    if progress is not None:
                        events.append(Event("progress", line, completed=progress[0], total=progress[1]))
                        self._buffer = rest
                        continue
                    if line == "Model pulled successfully":
                        events.append(Event("pulled", line))
                        self._phase, self._buffer = "start", rest
                        continue
                self._phase = "answer"
                continue
            if self._phase == "reasoning":
                at = buf.find(_SEPARATOR)
                if at >= 0:
                    self._emit(events, "reasoning", buf[:at])
                    self._phase, self._buffer = "answer", buf[at + len(_SEPARATOR) :]
                    continue
                cut = _hold_from(buf) if final else min(_separator_hold(buf), _hold_from(buf))
                self._emit(events, "reasoning", buf[:cut])
                self._buffer = buf[cut:]
                return events
            cut = _hold_from(buf)
            self._emit(events, "text", buf[:cut])
            self._buffer = buf[cut:]
            return events
