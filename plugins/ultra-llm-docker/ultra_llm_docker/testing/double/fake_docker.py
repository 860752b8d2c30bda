"""A faithful test double of the ``docker`` CLI with the Docker Model Runner plugin (stdlib only).

Run as ``docker`` (the fixture in ``fixtures.py`` writes an executable wrapper first on PATH).
Its whole behaviour is driven by a JSON state file named by ``FAKE_DOCKER_STATE``; ``pull`` and
``rm`` mutate that file. Start-up is kept small (only ``os``, ``sys`` and ``json`` at import; the
rest imported where used) because tests and benchmarks launch it thousands of times.

Where each behaviour comes from
-------------------------------
* ``shared/reference/docker-model-runner.md`` (the project's reference): command set, table and
  JSON formats, error texts, the stdin rule of ``run``, auto-pull messages, exit codes.
* docker/model-runner ``cmd/cli/`` (commit 642c7211, read, not copied):
  - ``main.go``: a returned error is printed once to stderr with ``Fprintln`` and exit code 1.
  - ``commands/run.go``: prompt = ``strings.Join(args[1:], " ")``; when stdin is not a character
    device (and not ``--detach``) ALL of stdin is read and appended after ``"\\n\\n"``; the model
    is inspected first and, when not found, ``Unable to find model '<m>' locally. Pulling from the
    server.`` is printed to stdout (cobra ``cmd.Println``; docker's plugin wrapper sets the output
    to stdout) before pulling; an empty prompt starts the interactive ``> `` loop; a one-shot run
    ends with ``cmd.Println()``; errors are ``Failed to generate a response: <err>``.
    An unknown model is ALWAYS pulled before the run (``run.go:829-838``; the runner's own
    auto-pull setting plays no part); ``cmd_run`` does the same.
  - ``commands/images.go`` (called from ``run.go:chatWithMarkdownContext`` on every prompt, one-shot
    and interactive; reproduced in ``cli_images.py``, which also builds the user message and
    makes the answer acknowledge the images received):
    ``processFileInclusions`` finds ``@(?:"([^"]+)"|'([^']+)'|([^\\s"']+))`` tokens, undoes shell
    escapes (``normalizeFilePath``; no ``~`` expansion), ``os.ReadFile``s each (relative to the
    working directory; an unreadable or missing one is skipped, a FIFO blocks, as in Go), leaves
    image files (content sniff OR extension) for the next step, and replaces ``@"p"``, ``@'p'`` and
    ``(@p)(\\s|$)`` with the contents through Go's ``ReplaceAllString``, so ``$1``, ``${x}`` and ``$$``
    in the file are template-expanded (``go_expand``). Then ``processImagesInPrompt``: the
    ``extractImagePaths`` regex (quoted, absolute, ``./`` or drive-letter paths ending in
    .jpg/.jpeg/.png/.webp); a missing file (``os.ErrNotExist``) is skipped; any other failure (a
    directory, an unreadable or empty file, over 100 MiB) ends ``run`` with ``Failed to generate a
    response: failed to process images: couldn't process image "<p>": <err>`` (Go's error text:
    ``open <p>: permission denied``, ``read <p>: is a directory``, ``EOF``, ``file size exceeds
    maximum limit (100 MB)``); a read image is cut out of the text (``strings.ReplaceAll`` of
    ``'p'`` and ``p``, then ``TrimSpace``) and sent as a ``data:`` URL before the text
    (``run.go:buildUserMessage``). ``prompt_log`` records what is finally sent. Simplified:
    ``http.DetectContentType`` knows PNG, JPEG, GIF, BMP and WebP signatures only here.
  - ``commands/nim.go`` and ``run.go:772-826``: a model starting ``nvcr.io/nim/`` (``isNIMImage``,
    a plain prefix test before any inspect) is not run by the model runner: the image is pulled
    (``Pulling NIM image <m>...``) and a container ``docker-model-nim-<name>`` started with the
    Docker engine, then the prompt is sent to it. The double records the container in the state's
    ``containers`` and answers as usual; it leaves out the credential and GPU lines.
  - ``desktop/desktop.go``: reasoning is printed as ``Thinking:\\n`` + reasoning, then
    ``\\n\\n--\\n\\n`` before the answer; usage as ``\\n\\nToken usage: P prompt + C completion = T
    total`` (so a blank line precedes it, the final newline follows it); a non-200 answer is
    ``error response: status=N body=<body>``; inspect of an unknown model ``<m>: model not found``;
    remove of an unknown one ``no such model: <m>``; a successful remove prints ``Untagged:`` /
    ``Deleted:`` lines.
  - ``desktop/progress.go``: without a TTY, pull progress is ``Downloaded 12.34MB of 256.35MB``
    (decimal units, ``%.2f`` and no space) then the final message ``Model pulled successfully``.
  - ``commands/utils.go``: ``handleClientError`` turns "service unavailable" into
    ``Docker Model Runner is not running. Please start it and try again.`` + a blank line + the
    bold ``What's next:`` block (ANSI ``ESC[1m``/``ESC[0m`` around ``"\\nWhat's next:"``, items
    indented by four spaces); tables have no borders, left alignment and two spaces of padding.
  - ``commands/status.go``: text status, ``BACKEND STATUS DETAILS`` table (rows parsed from
    ``"Running: details"`` style values, sorted Running, Error, Not Installed, Installing), exit 1
    when not running; ``--json`` is compact ``json.Marshal`` with ``endpointHost`` and exits 0.
  - ``commands/list.go`` / ``formatter/json.go``: rows sorted by shortened name, names shortened
    by ``stripDefaultsFromModelName``; JSON indented with four spaces and a trailing newline;
    ``-q`` prints ``id[7:19]``.
  - ``commands/version.go``: the ``Client:`` / ``Server:`` layout.
* the archived docker/model-cli (tag v0.1.20, the "old" CLI here): table without ``CONTEXT`` and
  raw tags, ``status`` with ``Status:`` lines and no ``--json``, ``Docker Model Runner version``
  text; its first commits (``list: ... Add --json`` came later) are the "oldest" CLI, which has
  no ``list --json`` either.
* docker/cli (read, not copied): plugins' flag errors are ``<pflag error>\\nSee '<cmd> --help'.``;
  a missing plugin is ``docker: 'model' is not a docker command.\\nSee 'docker --help'`` on older
  Docker CLIs and ``docker: unknown command: docker model\\n\\nRun 'docker --help' for more
  information`` on newer ones (both exit 1).
* Not confirmed anywhere, kept configurable: the exact wrapping of the daemon-down message
  (``daemon_down_prefix``) and the text of the pull 404.

State keys (all optional; see ``DEFAULT_STATE``): ``cli_version`` (``new``/``old``/``oldest``),
``docker_cli`` (``old``/``new``: the plugin-missing wording), ``daemon`` (``up``/``down``),
``plugin_installed``, ``runner`` (``running``/``disabled``), ``backends``, ``models``, ``registry``
(models ``pull`` can fetch), ``first_token_delay``, ``token_delay`` (seconds), ``pull_steps``,
``pull_delay``, ``answer`` (fixed text), ``non_ascii``, ``split_utf8``, ``split_delay``, ``usage``,
``engine_url``/``engine_model``/``engine_max_tokens`` (answer from a real OpenAI-compatible server,
the last a test knob bounding the answer), ``fault`` (``crash``, ``kill``, ``hang``, ``hang_after``,
``bad_utf8``, ``runner_500``, ``engine_412`` naming the engine in ``fault_message``) with
``fault_after`` and ``fault_message``, ``pull_hang_after`` (a
fault too: ``pull``, and the auto-pull of ``run``, print that many progress lines and then nothing,
never exiting, as a stalled download would; the real CLI's behaviour when its registry stalls is not
confirmed), ``timestamp_log`` (one ``<monotonic_ns> <len>`` line per stdout write, taken just before
the write) and ``invocation_log`` (one JSON line per run), ``prompt_log`` (one JSON line per prompt
sent to the model: its final ``text`` and ``images``, each ``{"path", "bytes", "sha256"}``),
``containers`` (NIM containers started), ``loaded``/``configs``/``engine_disk_usage`` (the model
lifecycle: see that section), ``missing_commands`` (subcommands this CLI lacks, as an older plugin),
``runner_container`` (false: Docker Engine without the runner
container, which commands auto-install; see ``auto_install``), ``gateway_ip``. Fault ``leave_helper``
(not a documented CLI behaviour: a crashing plugin's child would do it): ``run`` forks a helper into
its process group that keeps stdout and stderr open and sleeps (its pid written to ``helper_pid_file``), then exits with
``fault_code`` (default 1; 0 answers normally first)."""

from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False  # typing is not imported at run time: it costs milliseconds per launch

if TYPE_CHECKING:
    from typing import Any

DEFAULT_STATE: dict[str, Any] = {
    "cli_version": "new",
    "docker_cli": "old",
    "daemon": "up",
    "daemon_down_prefix": "",
    "plugin_installed": True,
    "runner": "running",
    "kind": "Docker Desktop",
    "backends": {"llama.cpp": "Running: llama.cpp latest-cpu (sha256:5d01670) version: b5d01670"},
    "models": [],
    "registry": [],
    "first_token_delay": 0.0,
    "token_delay": 0.0,
    "pull_steps": 3,
    "pull_delay": 0.0,
    "pull_hang_after": None,
    "answer": None,
    "non_ascii": False,
    "split_utf8": False,
    "split_delay": 0.01,
    "usage": False,
    "engine_url": None,
    "engine_model": None,
    "engine_max_tokens": None,
    "fault": None,
    "fault_after": 0,
    "fault_message": None,
    "timestamp_log": None,
    "invocation_log": None,
    "prompt_log": None,
    "containers": [],
    "helper_pid_file": None,
    "fault_code": 1,
    "client_version": "v1.0.3",
    "server_version": "v1.0.3",
    "loaded": {},
    "configs": {},
    "engine_disk_usage": 48_000_000,
}

MAX_REQUEST_BYTES = 10 * 1024 * 1024
"""``maximumOpenAIInferenceRequestSize`` (``pkg/inference/scheduling/api.go:15``): a larger chat
request is answered ``400 request too large``, which ``run`` prints as any non-200 answer."""

NON_ASCII_TAIL = " — naïve café ✓ 日本語 🙂"
DAEMON_DOWN = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
NOT_RUNNING = "Docker Model Runner is not running"
ENABLE_CLI = "Enable Docker Model Runner via the CLI → docker desktop enable model-runner"
ENABLE_GUI = "Enable Docker Model Runner via the GUI → Go to Settings->AI->Enable Docker Model Runner"
NEXT_STEPS = "\x1b[1m\nWhat's next:\x1b[0m\n    " + ENABLE_CLI + "\n    " + ENABLE_GUI + "\n"
ERR_NOT_RUNNING = NOT_RUNNING + ". Please start it and try again.\n\n" + NEXT_STEPS.rstrip("\n")


class Exit(Exception):
    """Raised to end the command with ``code`` after printing ``stderr`` (if any)."""

    def __init__(self, code: int, stderr: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.stderr = stderr


# --------------------------------------------------------------------------- state


def state_path() -> str:
    """The state file's path from ``FAKE_DOCKER_STATE`` (empty: built-in defaults only)."""
    return os.environ.get("FAKE_DOCKER_STATE", "")


def load_state() -> dict[str, Any]:
    """The defaults overlaid with the state file."""
    state = dict(DEFAULT_STATE)
    path = state_path()
    if path and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            state.update(json.load(f))
    return state


def save_state(state: dict[str, Any]) -> None:
    """Write ``state`` back atomically (``pull``/``rm`` mutate it)."""
    path = state_path()
    if not path:
        return
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f, indent=1)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- names


def normalize(name: str) -> str:
    """``smollm2``, ``ai/smollm2``, ``docker.io/ai/smollm2:latest`` -> ``ai/smollm2:latest``.

    As the runner's ``normalizeModelName`` (``pkg/distribution/distribution/client.go:143-196`` at
    642c7211): ``hf.co/`` becomes ``huggingface.co/`` (``:156``); a 12- or 64-hex ID or a
    ``sha256:<64 hex>`` digest is left as it is (``:160-166``, resolved by ``find_model``).
    """
    name = name.strip()
    if name.startswith("hf.co/"):
        name = "huggingface.co/" + name[len("hf.co/") :]
    if looks_like_id(name):
        return name
    for prefix in ("index.docker.io/", "docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    last = name.rsplit("/", 1)[-1]
    if "@" not in name and ":" not in last:
        name += ":latest"
    if "/" not in name:
        name = "ai/" + name
    return name


def looks_like_id(name: str) -> bool:
    """``looksLikeID`` or ``looksLikeDigest`` (``client.go:198-231``): lower-case hex only."""
    digest = name.startswith("sha256:")
    hexpart = name[len("sha256:") :] if digest else name
    lengths = (64,) if digest else (12, 64)
    return len(hexpart) in lengths and all(c in "0123456789abcdef" for c in hexpart)


def short_name(tag: str) -> str:
    """The newer table's display name (``stripDefaultsFromModelName``)."""
    for prefix in ("index.docker.io/", "docker.io/"):
        if tag.startswith(prefix):
            tag = tag[len(prefix) :]
            break
    if tag.startswith("ai/"):
        tag = tag[3:]
    if tag.endswith(":latest"):
        tag = tag[: -len(":latest")]
    return tag


def find_model(models: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The model one of whose tags (or id) matches ``name`` after normalisation."""
    wanted = normalize(name)
    for m in models:
        if any(normalize(t) == wanted for t in m.get("tags", [])):
            return m
        mid = str(m.get("id", ""))
        if looks_like_id(name) and name in (mid, mid[7:19], mid.removeprefix("sha256:")):  # resolveID, :235-260
            return m
    return None


def public_model(m: dict[str, Any]) -> dict[str, Any]:
    """The model as the CLI prints it (without the double's private keys)."""
    return {k: v for k, v in m.items() if k in ("id", "tags", "created", "config")}


# --------------------------------------------------------------------------- output


class Out:
    """Unbuffered writes to fd 1 (one ``write`` per call), optionally timestamp-logged."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.log_fd = -1
        path = state.get("timestamp_log")
        if path:
            self.log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def raw(self, data: bytes) -> None:
        """Write ``data`` to stdout completely; log ``<monotonic_ns> <len>`` first if asked."""
        if not data:
            return
        if self.log_fd >= 0:
            import time

            os.write(self.log_fd, f"{time.monotonic_ns()} {len(data)}\n".encode())
        view = memoryview(data)
        while view:
            n = os.write(1, view)
            view = view[n:]

    def text(self, s: str) -> None:
        self.raw(s.encode("utf-8"))


def err(s: str) -> None:
    """Write ``s`` to stderr at once."""
    os.write(2, s.encode("utf-8"))


def human_duration(seconds: float) -> str:
    """go-units ``HumanDuration``."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if s < 48 * 3600:
        return f"{h} hours"
    if s < 7 * 24 * 3600 * 2:
        return f"{s // (24 * 3600)} days"
    if s < 30 * 24 * 3600 * 3:
        return f"{s // (7 * 24 * 3600)} weeks"
    if s < 365 * 24 * 3600 * 2:
        return f"{s // (30 * 24 * 3600)} months"
    return f"{s // (365 * 24 * 3600)} years"


def table(rows: list[list[str]], trailing: bool) -> str:
    """Docker-style table: no borders, left aligned, each cell padded by two spaces."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        line = "".join(cell.ljust(w) + "  " for cell, w in zip(r, widths, strict=True))
        lines.append(line if trailing else line.rstrip())
    return "\n".join(lines) + "\n"


def to_json(value: Any) -> str:
    """``formatter.ToStandardJSON``: four-space indent, no HTML escaping, trailing newline."""
    return json.dumps(value, indent=4, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- flags


class Flags:
    """Minimal pflag: interspersed flags, ``--`` ends them, errors worded like pflag/docker."""

    def __init__(self, command: str, bools: dict[str, str | None], values: dict[str, str | None]) -> None:
        self.command = command
        self.bools = bools  # long name -> shorthand
        self.values = values
        self.set: dict[str, Any] = {}
        self.args: list[str] = []

    def fail(self, message: str) -> Exit:
        return Exit(1, f"{message}\nSee 'docker model {self.command} --help'.\n")

    def parse(self, argv: list[str]) -> Flags:
        shorts = {v: k for k, v in {**self.bools, **self.values}.items() if v}
        i = 0
        while i < len(argv):
            a = argv[i]
            i += 1
            if a == "--":
                self.args.extend(argv[i:])
                break
            if a.startswith("--") and len(a) > 2:
                name, eq, value = a[2:].partition("=")
                if name == "help":
                    self.set["help"] = True
                elif name in self.bools:
                    self.set[name] = value != "false" if eq else True
                elif name in self.values:
                    if not eq:
                        if i >= len(argv):
                            raise self.fail(f"flag needs an argument: --{name}")
                        value = argv[i]
                        i += 1
                    self.set[name] = value
                else:
                    raise self.fail(f"unknown flag: --{name}")
            elif a.startswith("-") and len(a) > 1:
                for j, c in enumerate(a[1:]):
                    if c == "h":
                        self.set["help"] = True
                    elif c in shorts and shorts[c] in self.bools:
                        self.set[shorts[c]] = True
                    elif c in shorts:
                        rest = a[j + 2 :]
                        if not rest:
                            if i >= len(argv):
                                raise self.fail(f"flag needs an argument: '{c}' in -{c}")
                            rest = argv[i]
                            i += 1
                        self.set[shorts[c]] = rest
                        break
                    else:
                        raise self.fail(f"unknown shorthand flag: '{c}' in {a}")
            else:
                self.args.append(a)
        return self


def require_args(command: str, usage: str, args: list[str], n: int, exact: bool) -> None:
    if (exact and len(args) != n) or (not exact and len(args) < n):
        qual = "" if exact else "at least "
        raise Exit(
            1,
            f"'docker model {command}' requires {qual}{n} argument(s).\n\n"
            f"Usage:  docker model {command} {usage}\n\n"
            f"See 'docker model {command} --help' for more information\n",
        )


def help_text(command: str) -> str:
    return f"Usage:  docker model {command} [OPTIONS]\n\n(fake docker double: help for '{command}')\n"


# --------------------------------------------------------------------------- answers


def answer_for(prompt: str, model: str, state: dict[str, Any]) -> str:
    """The deterministic answer: derived from the prompt (its first words and its length)."""
    if state.get("answer") is not None:
        text = str(state["answer"])
    else:
        head = " ".join(prompt.split()[:8])
        text = f"Answer to '{head}' ({len(prompt)} chars) from {normalize(model)}."
    if state.get("non_ascii"):
        text += NON_ASCII_TAIL
    return text


def reasoning_for(prompt: str) -> str:
    """The deterministic reasoning of a reasoning model."""
    head = " ".join(prompt.split()[:4])
    return f"The user asked about '{head}'. I should answer briefly."


def tokens_of(text: str) -> list[str]:
    """Split text into tokens: each word with the whitespace that follows it."""
    out: list[str] = []
    cur = ""
    for ch in text:
        if cur and not ch.isspace() and cur[-1].isspace():
            out.append(cur)
            cur = ""
        cur += ch
    if cur:
        out.append(cur)
    return out


def expected_output(prompt: str, model: str, state: dict[str, Any], reasoning: bool = False) -> str:
    """What a successful one-shot ``run`` writes to stdout (tests compare against this)."""
    text = ""
    if reasoning:
        text += "Thinking:\n" + reasoning_for(prompt) + "\n\n--\n\n"
    answer = answer_for(prompt, model, state)
    text += answer
    if state.get("usage"):
        p, c = len(prompt.split()), len(tokens_of(answer))
        text += f"\n\nToken usage: {p} prompt + {c} completion = {p + c} total"
    return text + "\n"


# --------------------------------------------------------------------------- prompt rewriting (images.go)

# in cli_images.py: imported as a sibling when run as `docker`, from the package by the tests
if __package__:
    from . import cli_images
else:
    import cli_images  # type: ignore[no-redef,import-not-found,unused-ignore]

acknowledge, go_expand = cli_images.acknowledge, cli_images.go_expand


def rewrite_prompt(prompt: str, state: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """``cli_images.rewrite_prompt``; its failure ends ``run`` (exit 1, the CLI's message)."""
    try:
        return cli_images.rewrite_prompt(prompt, state)
    except cli_images.RunFailure as e:
        raise Exit(1, e.stderr) from None


NIM_PREFIX = "nvcr.io/nim/"


# --------------------------------------------------------------------------- commands


def ensure_runner(state: dict[str, Any]) -> None:
    if state["runner"] != "running":
        raise Exit(1, ERR_NOT_RUNNING + "\n")


def cmd_version(state: dict[str, Any], argv: list[str], out: Out) -> int:
    Flags("version", {}, {}).parse(argv)
    if state["cli_version"] == "new":
        running = state["runner"] == "running"
        out.text(
            "Client:\n"
            f" Version:    {state['client_version']}\n"
            " OS/Arch:    linux/amd64\n\n"
            "Server:\n"
            f" Version:    {state['server_version'] if running else '(not reachable)'}\n"
            f" Engine:     {state['kind']}\n"
        )
    else:
        out.text(f"Docker Model Runner version v0.1.20\nDocker Engine Kind: {state['kind']}\n")
    return 0


def status_endpoints(state: dict[str, Any]) -> tuple[str, str]:
    """``(endpoint, endpointHost)`` of ``status --json`` by engine kind (``commands/status.go:134-165``
    at 642c7211): ``endpoint`` is where containers reach the runner, ``endpointHost`` where this host
    does (``makeEndpoint`` = ``http://host:port/v1/``, ``:122-124``). Desktop's ``endpointHost`` is
    ``modelRunner.URL("/v1/")``: the TCP port 12434 here (Desktop with TCP enabled). Manual install:
    both are ``MODEL_RUNNER_HOST`` + ``/v1/``. Docker Engine: the gateway address the runner container
    binds (state ``gateway_ip``, else ``host.docker.internal``) and 127.0.0.1, both on 12434; Cloud: 12435."""
    kind = state["kind"]
    if kind == "Docker Desktop":
        return "http://model-runner.docker.internal/v1/", "http://localhost:12434/v1/"
    if kind == "Docker Engine (Manual Install)":
        host = os.environ.get("MODEL_RUNNER_HOST") or "http://localhost:12434"
        url = host.rstrip("/") + "/v1/"
        return url, url
    if kind == "Docker Cloud":
        return f"http://{state.get('gateway_ip') or '127.0.0.1'}:12435/v1/", "http://127.0.0.1:12435/v1/"
    return f"http://{state.get('gateway_ip') or 'host.docker.internal'}:12434/v1/", "http://127.0.0.1:12434/v1/"


def cmd_status(state: dict[str, Any], argv: list[str], out: Out) -> int:
    bools: dict[str, str | None] = {"json": None} if state["cli_version"] == "new" else {}
    f = Flags("status", bools, {}).parse(argv)
    if f.set.get("help"):
        out.text(help_text("status"))
        return 0
    running = state["runner"] == "running"
    backends: dict[str, str] = state["backends"] if running else {}
    if f.set.get("json"):
        endpoint, endpoint_host = status_endpoints(state)
        out.text(
            json.dumps(
                {
                    "running": running,
                    "backends": backends,
                    "kind": state["kind"],
                    "endpoint": endpoint,
                    "endpointHost": endpoint_host,
                },
                separators=(",", ":"),
                ensure_ascii=False,
            )
            + "\n"
        )
        return 0
    if not running:
        out.text(NOT_RUNNING + "\n" + NEXT_STEPS)
        return 1
    if state["cli_version"] == "new":
        order = {"Running": 0, "Error": 1, "Not Installed": 2, "Installing": 3}
        rows = []
        for name, value in backends.items():
            kind, details = "Error", value
            if not value:
                kind, details = "Not Installed", ""
            for prefix in order:
                if value == prefix:
                    kind, details = prefix, ""
                elif value.startswith(prefix + ": "):
                    kind, details = prefix, value[len(prefix) + 2 :]
            rows.append((order.get(kind, 4), name, kind, details))
        rows.sort()
        body = table([["BACKEND", "STATUS", "DETAILS"]] + [[r[1], r[2], r[3]] for r in rows], True)
        out.text("Docker Model Runner is running\n\n" + body)
    else:
        lines = [f"{b}: {s}" for b, s in backends.items() if s != "not running"]
        out.text("Docker Model Runner is running\n\nStatus:\n" + "".join(line + "\n" for line in lines))
    return 0


def cmd_list(state: dict[str, Any], argv: list[str], out: Out, command: str) -> int:
    import time

    bools: dict[str, str | None] = {"openai": None, "quiet": "q"}
    if state["cli_version"] != "oldest":
        bools["json"] = None
    f = Flags(command, bools, {"openaiurl": None}).parse(argv)
    if f.set.get("help"):
        out.text(help_text(command))
        return 0
    if f.set.get("openai") and f.set.get("quiet"):
        raise Exit(1, "--quiet flag cannot be used with --openai flag or OpenAI backend\n")
    ensure_runner(state)
    models: list[dict[str, Any]] = list(state["models"])
    if f.args:
        wanted = f.args[0]
        want = wanted if "/" in wanted else "ai/" + wanted
        kept = []
        for m in models:
            tags = [t for t in m.get("tags", []) if (t == want if ":" in want else t.split(":")[0] == want)]
            if tags:
                kept.append({**m, "tags": tags})
        models = kept
    new = state["cli_version"] == "new"
    if f.set.get("openai"):
        data = [
            {
                "id": ("docker.io/" + t) if new and t.startswith("ai/") else t,
                "object": "model",
                "created": m.get("created", 0),
                "owned_by": "docker",
            }
            for m in models
            for t in m.get("tags", [])
        ]
        out.text(to_json({"object": "list", "data": data}))
        return 0
    if f.set.get("json"):
        out.text(to_json([public_model(m) for m in models]))
        return 0
    if f.set.get("quiet"):
        out.text("".join(str(m["id"])[7:19] + "\n" for m in models))
        return 0
    now = time.time()
    rows: list[tuple[str, str, dict[str, Any]]] = []
    for m in models:
        for tag in m.get("tags") or ["<none>"]:
            rows.append((short_name(tag) if new else tag, tag, m))
    if new:

        def key(r: tuple[str, str, dict[str, Any]]) -> tuple[str, int, str]:
            base, _, variant = r[0].rpartition(":") if ":" in r[0] else (r[0], "", "")
            return (base.lower(), 1 if variant else 0, variant.lower())

        rows.sort(key=key)
        header = ["MODEL NAME", "PARAMETERS", "QUANTIZATION", "ARCHITECTURE", "MODEL ID", "CREATED", "CONTEXT", "SIZE"]
    else:
        header = ["MODEL NAME", "PARAMETERS", "QUANTIZATION", "ARCHITECTURE", "MODEL ID", "CREATED", "SIZE"]
    cells = [header]
    for display, _tag, m in rows:
        c = m.get("config") or {}
        created = human_duration(now - float(m.get("created", now))) + " ago"
        row = [display, c.get("parameters", ""), c.get("quantization", ""), c.get("architecture", "")]
        row += [str(m["id"])[7:19], created]
        if new:
            ctx = c.get("context_size")
            row.append("" if ctx is None else str(ctx))
        row.append(c.get("size", ""))
        cells.append(row)
    out.text(table(cells, trailing=new))
    return 0


def format_size(n: float) -> str:
    """go-units ``CustomSize("%.2f%s", n, 1000, [B kB MB GB ...])``."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000.0
        i += 1
    return f"{n:.2f}{units[i]}"


def parse_size(text: str) -> float:
    """``256.35 MiB`` / ``4.74GiB`` -> bytes (for the progress total)."""
    num = "".join(ch for ch in text if ch.isdigit() or ch == ".")
    unit = text[len(text.rstrip("BiKMGTkb ")) :].strip().upper().rstrip("B").rstrip("I")
    mult = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}.get(unit, 1)
    try:
        return float(num) * mult
    except ValueError:
        return 1e8


def do_pull(state: dict[str, Any], name: str, out: Out) -> None:
    """Pull ``name`` from the state's registry into its models, printing progress; or fail."""
    import time

    ensure_runner(state)
    ref = normalize(name)
    found = find_model(state["registry"], name)
    if found is None:
        raise Exit(1, f"Failed to pull model: pulling {ref} failed with status 404 Not Found: Model not found\n")
    total = parse_size((found.get("config") or {}).get("size", "100 MB"))
    steps = max(1, int(state["pull_steps"]))
    hang_after = state.get("pull_hang_after")
    for i in range(1, steps + 1):
        if hang_after is not None and i > int(hang_after):
            while True:  # a stalled download: no more output, no exit
                time.sleep(3600)
        if state["pull_delay"]:
            time.sleep(float(state["pull_delay"]))
        out.text(f"Downloaded {format_size(total * i / steps)} of {format_size(total)}\n")
    existing = find_model(state["models"], name)
    if existing is None:
        state["models"].append({**found, "tags": [ref]})
    elif ref not in existing.get("tags", []):
        existing.setdefault("tags", []).append(ref)
    save_state(state)
    out.text("Model pulled successfully\n")


def cmd_pull(state: dict[str, Any], argv: list[str], out: Out) -> int:
    f = Flags("pull", {}, {}).parse(argv)
    if f.set.get("help"):
        out.text(help_text("pull"))
        return 0
    require_args("pull", "MODEL", f.args, 1, exact=True)
    do_pull(state, f.args[0], out)
    return 0


def cmd_inspect(state: dict[str, Any], argv: list[str], out: Out) -> int:
    f = Flags("inspect", {"openai": None, "remote": "r"}, {}).parse(argv)
    if f.set.get("help"):
        out.text(help_text("inspect"))
        return 0
    require_args("inspect", "MODEL", f.args, 1, exact=True)
    ensure_runner(state)
    name = f.args[0]
    m = find_model(state["models"], name)
    if m is None:
        raise Exit(1, f"Failed to get model {name}: {name}: model not found\n")
    out.text(to_json(public_model(m)))
    return 0


def cmd_rm(state: dict[str, Any], argv: list[str], out: Out) -> int:
    f = Flags("rm", {"force": "f"}, {}).parse(argv)
    if f.set.get("help"):
        out.text(help_text("rm"))
        return 0
    require_args("rm", "[MODEL...]", f.args, 1, exact=False)
    ensure_runner(state)
    text = ""
    for name in f.args:  # desktop.go:871-916: one DELETE /models/{name}?force=<bool> per name, in order
        m = find_model(state["models"], name)
        if m is None:
            if text:
                out.text(text)
            raise Exit(1, f"Failed to remove model: no such model: {name}\n")
        # DeleteModel (pkg/distribution/distribution/client.go:529-582): a tag is untagged and the
        # model kept while other tags remain; by ID or digest, several tags need --force (409)
        ref = normalize(name)
        by_tag = not looks_like_id(ref) and "@" not in name
        tags = list(m.get("tags", []))
        if by_tag:
            tags = [t for t in tags if normalize(t) != ref]
            text += f"Untagged: {ref}\n"
            if tags:
                m["tags"] = tags
                continue
        elif len(tags) > 1 and not f.set.get("force"):
            if text:
                out.text(text)
            body = f'unable to delete "{name}" (must be forced) due to multiple tag references: resource conflict\n'
            raise Exit(1, f"Failed to remove model: removing {name} failed with status 409 Conflict: {body}\n")
        text += "".join(f"Untagged: {t}\n" for t in tags)
        state["models"].remove(m)
        text += f"Deleted: {m['id']}\n"
    save_state(state)
    out.text(text)
    return 0


def stdin_is_char_device() -> bool:
    import stat

    try:
        return stat.S_ISCHR(os.fstat(0).st_mode)
    except OSError:
        return True  # closed stdin: nothing to read


def cmd_run(state: dict[str, Any], argv: list[str], out: Out) -> int:
    f = Flags("run", {"debug": None, "detach": "d", "websearch": None}, {"color": None, "openaiurl": None})
    f.parse(argv)
    if f.set.get("help"):
        out.text(help_text("run"))
        return 0
    require_args("run", "MODEL [PROMPT]", f.args, 1, exact=False)
    model = f.args[0]
    prompt = " ".join(f.args[1:])
    stdin_bytes = 0
    if not f.set.get("detach") and not stdin_is_char_device():
        data = sys.stdin.buffer.read()  # ALL of stdin: a pipe never closed hangs here
        stdin_bytes = len(data)
        if prompt:
            prompt += "\n\n"
        prompt += data.decode("utf-8", errors="replace")
    log = state.get("invocation_log")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(
                json.dumps({"argv": sys.argv[1:], "stdin_bytes": stdin_bytes, "pid": os.getpid(), "cwd": os.getcwd()})
                + "\n"
            )
    ensure_runner(state)
    if model.startswith(NIM_PREFIX):  # run.go:775, before any inspect: a container, not the runner
        return run_nim(state, model, prompt, out)
    m = find_model(state["models"], model)
    if m is None:  # run.go:829-838: pulled whatever the runner's settings say
        out.text(f"Unable to find model '{model}' locally. Pulling from the server.\n")
        do_pull(state, model, out)
        m = find_model(state["models"], model)
        assert m is not None
    tag = normalize(model)
    load_runner(state, tag)  # the chat request loads it (http_handler.go:264); -d only that (run.go:842-851)
    if f.set.get("detach"):
        return 0
    if not prompt:
        return interactive(state, model, m, out)
    generate(state, model, m, prompt, out)
    load_runner(state, tag)  # released: last used now (loader.release)
    return 0


def run_nim(state: dict[str, Any], model: str, prompt: str, out: Out) -> int:
    """``runNIMModel`` then ``chatWithNIM`` (``nim.go``): pull the image, start the container (kept
    in the state's ``containers``), answer; the prompt goes to the NIM as is (no file inclusion)."""
    name = nim_container_name(model)
    if not any(c.get("name") == name for c in state["containers"]):
        out.text(f"Pulling NIM image {model}...\n")
        state["containers"].append({"name": name, "image": model, "running": True})
        save_state(state)
        out.text(f"Started NIM container {name}\n")
    else:
        out.text(f"Using existing NIM container {name}\n")
    out.text("Waiting for NIM to be ready (this may take several minutes)...\nNIM is ready!\n")
    if prompt:
        out.text(answer_for(prompt, model, state) + "\n")
    return 0


def nim_container_name(model: str) -> str:
    """``nimContainerName``: ``nvcr.io/nim/google/gemma:1`` -> ``docker-model-nim-google-gemma``."""
    name = "-".join(model[len(NIM_PREFIX) :].split("/")).split(":")[0]
    return "docker-model-nim-" + name


def leave_helper(state: dict[str, Any]) -> None:
    """Fault ``leave_helper``: fork a child into this process group that holds stdout and stderr
    open and sleeps; its pid goes to ``helper_pid_file``."""
    import time

    pid = os.fork()
    if pid == 0:
        time.sleep(3600)
        os._exit(0)
    path = state.get("helper_pid_file")
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(str(pid))


def interactive(state: dict[str, Any], model: str, m: dict[str, Any], out: Out) -> int:
    """The chat loop: ``> `` then one line; ``/bye`` or EOF ends it."""
    while True:
        out.text("> ")
        line = sys.stdin.buffer.readline()
        if not line:
            out.text("\n")
            return 0
        text = line.decode("utf-8", errors="replace").strip()
        if text in ("/bye", "/exit"):
            return 0
        if text:
            generate(state, model, m, text, out)


def fault_point(state: dict[str, Any], written: int, out: Out) -> None:
    """Apply ``fault`` once ``written`` tokens have been written (``fault_after``)."""
    import time

    fault = state.get("fault")
    if not fault or written != int(state.get("fault_after") or 0):
        return
    if fault == "crash":
        message = state.get("fault_message") or (
            "Failed to generate a response: error reading response stream: unexpected EOF"
        )
        raise Exit(1, message + "\n")
    if fault == "kill":
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
    if fault == "hang_after":
        while True:
            time.sleep(3600)
    if fault == "bad_utf8":
        out.raw(b"\xff\xfe\xc3")


def write_tokens(state: dict[str, Any], tokens: list[str], out: Out, first: list[bool], written: list[int]) -> None:
    import time

    for tok in tokens:
        fault_point(state, written[0], out)
        delay = state["first_token_delay"] if first[0] else state["token_delay"]
        first[0] = False
        if delay:
            time.sleep(float(delay))
        data = tok.encode("utf-8")
        cut = next((i for i, b in enumerate(data) if b >= 0x80), -1)
        if state.get("split_utf8") and cut >= 0:
            out.raw(data[: cut + 1])  # the lead byte alone: the character is split across writes
            time.sleep(float(state["split_delay"]))
            out.raw(data[cut + 1 :])
        else:
            out.raw(data)
        written[0] += 1
    fault_point(state, written[0], out)


def generate(state: dict[str, Any], model: str, m: dict[str, Any], prompt: str, out: Out) -> None:
    """One answer: from the engine when ``engine_url`` is set, else the deterministic generator."""
    import time

    fault = state.get("fault")
    if fault == "leave_helper":
        leave_helper(state)
        code = int(state.get("fault_code") or 0)
        if code:
            raise Exit(code, (state.get("fault_message") or "Failed to generate a response: EOF") + "\n")
    prompt, images = rewrite_prompt(prompt, state)
    if fault == "hang":
        while True:
            time.sleep(3600)
    if fault == "engine_412":  # the runner's 412 (pkg/inference/scheduling/http_handler.go:244-245)
        engine = state.get("fault_message") or "vllm"
        body = f'backend "{engine}" is not installed; run: docker model install-runner --backend {engine}\n'
        raise Exit(1, f"Failed to generate a response: error response: status=412 body={body}\n")
    if len(json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}], "stream": True})) > (
        MAX_REQUEST_BYTES
    ):  # the runner reads at most 10 MiB of a request (http_handler.go:29-37, scheduling/api.go:15)
        raise Exit(1, "Failed to generate a response: error response: status=400 body=request too large\n\n")
    if fault == "runner_500":
        detail = state.get("fault_message") or "llama.cpp terminated unexpectedly: signal: killed"
        body = f"unable to load runner: {detail}\n"  # DMR's plain-text error body ends with a newline
        raise Exit(1, f"Failed to generate a response: error response: status=500 body={body}\n")
    if state.get("engine_url"):
        stream_engine(state, model, prompt, out, images)
        return
    first, written = [True], [0]
    if m.get("reasoning"):
        out.text("Thinking:\n")
        write_tokens(state, tokens_of(reasoning_for(prompt)), out, first, written)
        out.text("\n\n--\n\n")
    answer = answer_for(prompt, model, state)
    if images:  # observable: the answer says what arrived as images (cli_images.acknowledge)
        answer = acknowledge(images) + " " + answer
    toks = tokens_of(answer)
    write_tokens(state, toks, out, first, written)
    if state.get("usage"):
        p, c = len(prompt.split()), len(toks)
        out.text(f"\n\nToken usage: {p} prompt + {c} completion = {p + c} total")
    out.text("\n")


def stream_engine(
    state: dict[str, Any], model: str, prompt: str, out: Out, images: list[dict[str, Any]] | None = None
) -> None:
    """POST ``<engine_url>/chat/completions`` with stream true; write each delta as it arrives.

    Images are sent as ``image_url`` parts before the text (``buildUserMessage``); the double sends
    their digest, not their bytes."""
    import urllib.error
    import urllib.request

    content: Any = prompt
    if images:
        content = [{"type": "image_url", "image_url": {"url": "sha256:" + i["sha256"]}} for i in images]
        if prompt:
            content.append({"type": "text", "text": prompt})
    request: dict[str, Any] = {
        "model": state.get("engine_model") or model,
        "messages": [{"role": "user", "content": content}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if state.get("engine_max_tokens"):
        # Not what the real CLI sends (its OpenAIChatRequest has no sampling fields: the runner's
        # configuration bounds the answer); a test knob, so a tiny random model's answer stays short.
        request["max_tokens"] = int(state["engine_max_tokens"])
    body = json.dumps(request).encode()
    req = urllib.request.Request(
        str(state["engine_url"]).rstrip("/") + "/chat/completions",
        data=body,
        headers={"Content-Type": "application/json", "Accept": "text/event-stream"},
    )
    try:
        resp = urllib.request.urlopen(req, timeout=300)
    except urllib.error.HTTPError as e:
        text = e.read().decode("utf-8", errors="replace")
        raise Exit(1, f"Failed to generate a response: error response: status={e.code} body={text}\n") from None
    except OSError as e:
        raise Exit(1, f"Failed to generate a response: {e}\n") from None
    state_print = ""
    usage = None
    written = 0
    with resp:
        for raw in resp:
            line = raw.decode("utf-8", errors="replace").strip()
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            if chunk.get("usage"):
                usage = chunk["usage"]
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                reasoning = delta.get("reasoning_content") or ""
                content = delta.get("content") or ""
                if reasoning:
                    if state_print == "content":
                        out.text("\n\n")
                    if state_print != "reasoning":
                        out.text("Thinking:\n")
                    state_print = "reasoning"
                    out.text(reasoning)
                if content:
                    if state_print == "reasoning":
                        out.text("\n\n--\n\n")
                    state_print = "content"
                    fault_point(state, written, out)
                    out.text(content)
                    written += 1
    if usage:  # the real CLI prints it whenever the server reports usage
        out.text(
            f"\n\nToken usage: {usage.get('prompt_tokens', 0)} prompt + "
            f"{usage.get('completion_tokens', 0)} completion = {usage.get('total_tokens', 0)} total"
        )
    out.text("\n")


# --------------------------------------------------------------------------- model lifecycle
#
# The runner's loader (pkg/inference/scheduling/loader.go at 642c7211) as state: ``loaded`` maps a
# model's tag to its runner {engine, mode, last_used (epoch seconds), in_use (requests in flight),
# keep_alive}; ``configs`` maps it to the configuration ``configure`` stored ({"context-size": N,
# "keep_alive": "5m"}). A test sets ``in_use`` to stand for another client's request in flight.


def load_runner(state: dict[str, Any], tag: str) -> None:
    """Start (or touch) the model's runner (``loader.load``)."""
    import time

    runner = state["loaded"].setdefault(tag, {"engine": "llama.cpp", "mode": "completion", "in_use": 0})
    runner["last_used"] = time.time()
    save_state(state)


def keep_alive_seconds(value: str | None) -> float | None:
    """``ParseKeepAlive`` (inference/backend.go:236-256) in seconds: -1 (or any negative) is forever;
    ``None`` for what it refuses (``invalid keep_alive duration``)."""
    import re

    if value is None:
        return 300.0  # KeepAliveDefault, backend.go:207
    if value in ("0", "-1"):
        return float(value)
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    body = value.lstrip("+-")
    parts = re.findall(r"([0-9]*\.?[0-9]+)(ns|us|µs|μs|ms|s|m|h)", body)
    if not parts or "".join(n + u for n, u in parts) != body:
        return None
    seconds = sum(float(n) * units[u] for n, u in parts)
    return -1.0 if value.startswith("-") else seconds


def format_until(runner: dict[str, Any]) -> str:
    """``formatUntil`` (cmd/cli/commands/ps.go:57-80)."""
    import time

    if runner.get("loading"):
        return "Loading..."
    keep = keep_alive_seconds(runner.get("keep_alive"))
    keep = 300.0 if keep is None else keep
    if keep < 0:
        return "Forever"
    if runner.get("in_use") or not runner.get("last_used"):
        return human_duration(keep) + " from now"
    remaining = keep - (time.time() - float(runner["last_used"]))
    if remaining <= 0:
        return "Expiring"
    return human_duration(remaining) + " from now"


def table_command(name: str, state: dict[str, Any], argv: list[str], out: Out) -> bool:
    """The shared start of ``ps`` and ``df`` (no flags, ``NoComplete``): False when ``--help`` answered."""
    if Flags(name, {}, {}).parse(argv).set.get("help"):
        out.text(help_text(name))
        return False
    ensure_runner(state)
    return True


def cmd_ps(state: dict[str, Any], argv: list[str], out: Out) -> int:
    """``docker model ps`` (ps.go:15-55): ``MODEL NAME BACKEND MODE UNTIL``, names shortened."""
    if not table_command("ps", state, argv, out):
        return 0
    rows = [["MODEL NAME", "BACKEND", "MODE", "UNTIL"]]
    for tag, runner in state["loaded"].items():
        # getLoaderStatus (scheduler.go:243-285): the keep-alive of the model's current config
        runner = {**runner, "keep_alive": state["configs"].get(tag, {}).get("keep_alive")}
        rows.append([short_name(tag.lower()), runner["engine"], runner["mode"], format_until(runner)])
    out.text(table(rows, trailing=True))
    return 0


def cmd_df(state: dict[str, Any], argv: list[str], out: Out) -> int:
    """``docker model df`` (df.go:12-41): ``TYPE SIZE``; ``Inference engine`` only when not 0."""
    if not table_command("df", state, argv, out):
        return 0
    models = sum(parse_size(str((m.get("config") or {}).get("size", "0"))) for m in state["models"])
    rows = [["TYPE", "SIZE"], ["Models", format_size(models)]]
    if state["engine_disk_usage"]:
        rows.append(["Inference engine", format_size(float(state["engine_disk_usage"]))])
    out.text(table(rows, trailing=True))
    return 0


def cmd_unload(state: dict[str, Any], argv: list[str], out: Out) -> int:
    """``docker model unload`` (unload.go:11-62; loader.go:306-330): a runner serving a request stays
    (``evictRunner`` frees unused ones only, loader.go:269-284); configs go with ``--all``, or for the
    named models only when ``--backend`` names their engine (loader.go:315-319)."""
    f = Flags("unload", {"all": None}, {"backend": None}).parse(argv)
    if f.set.get("help"):
        out.text(help_text("unload"))
        return 0
    usage = "Usage:  docker model unload (MODEL [MODEL ...] [--backend BACKEND] | --all)"
    see = "See 'docker model unload --help' for more information."
    if f.set.get("all") and f.args:
        raise Exit(1, f"'docker model unload' does not take MODEL when --all is specified.\n\n{usage}\n\n{see}\n")
    if not f.set.get("all") and not f.args:
        raise Exit(1, f"'docker model unload' requires MODEL unless --all is specified.\n\n{usage}\n\n{see}\n")
    ensure_runner(state)
    loaded = state["loaded"]
    before = len(loaded)
    if f.set.get("all"):
        state["configs"] = {}
        doomed = [tag for tag, r in loaded.items() if not r.get("in_use")]
    else:
        tags = [normalize(name) for name in f.args]
        if f.set.get("backend") == "llama.cpp":
            for tag in tags:
                state["configs"].pop(tag, None)
        doomed = [tag for tag in tags if tag in loaded and not loaded[tag].get("in_use")]
    for tag in doomed:
        loaded.pop(tag, None)
    save_state(state)
    count = before - len(loaded)
    if count:
        out.text(f"Unloaded {count} model(s).\n")
    else:
        out.text("No models are running.\n" if f.set.get("all") else "No such model(s) running.\n")
    return 0


def cmd_configure(state: dict[str, Any], argv: list[str], out: Out) -> int:
    """``docker model configure`` (configure.go, configure_flags.go:140-227, desktop.go:1127-1149): exactly
    one MODEL before ``--`` (the rest are runtime flags); ``--keep-alive`` through ``ParseKeepAlive``; the
    runner's 409 ``runner already active`` when the model's runner is still there after evicting idle ones
    (loader.go:722-732), printed as the bare body; an unchanged config is a no-op (loader.go:709-713);
    otherwise the config is stored and the model preloaded (http_handler.go:488-520). The runner takes
    any name (scheduler.go:386-396): a model it does not have is configured all the same, and its
    background preload fails unseen."""
    dash = argv.index("--") if "--" in argv else len(argv)
    if argv[:1] == ["show"]:
        return cmd_configure_show(state, argv[1:], out)
    f = Flags("configure", {"think": None}, {"context-size": None, "keep-alive": None, "mode": None})
    f.parse(argv[:dash])
    if f.set.get("help"):
        out.text(help_text("configure"))
        return 0
    runtime_flags = argv[dash + 1 :]
    if len(f.args) != 1:
        where = " before --" if dash < len(argv) else ""
        got = f"got {len(f.args)}" + ("" if where else f": [{' '.join(f.args)}]")
        raise Exit(
            1,
            f"Exactly one model must be specified{where}, {got}\n\n"
            "See 'docker model configure --help' for more information\n",
        )
    config: dict[str, Any] = {}
    if "context-size" in f.set:
        try:
            size = int(f.set["context-size"])
            if not -(2**31) <= size < 2**31:
                raise ValueError
        except ValueError:
            value = f.set["context-size"]
            raise f.fail(
                f'invalid argument "{value}" for "--context-size" flag: '
                f'strconv.ParseInt: parsing "{value}": invalid syntax'
            ) from None
        config["context-size"] = size
    if f.set.get("keep-alive"):
        keep = f.set["keep-alive"]
        if keep_alive_seconds(keep) is None:
            raise Exit(1, f'invalid keep_alive duration "{keep}": time: invalid duration "{keep}"\n')
        config["keep_alive"] = keep
    if "think" in f.set:  # getReasoningBudget (configure_flags.go:200-206,229-243): -1 thinks, 0 does not
        config["llamacpp"] = {"reasoning-budget": -1 if f.set["think"] else 0}
    if runtime_flags:
        config["runtime-flags"] = runtime_flags
    ensure_runner(state)
    tag = normalize(f.args[0])
    loaded = state["loaded"]
    if state["configs"].get(tag) != config:
        if tag in loaded and not loaded[tag].get("in_use"):
            del loaded[tag]  # evictRunner (loader.go:724-726)
        if tag in loaded:
            raise Exit(1, "runner already active\n\n")  # the 409 body, returned as the error (desktop.go:1142-1143)
        state["configs"][tag] = config
    save_state(state)
    if find_model(state["models"], tag) is not None:
        load_runner(state, tag)  # the background preload
    return 0


def cmd_configure_show(state: dict[str, Any], argv: list[str], out: Out) -> int:
    """``docker model configure show [MODEL]`` (configure_show.go:11-40; http_handler.go:523-546): the
    stored configs as ``ModelConfigEntry`` (no JSON tags), ``json.MarshalIndent`` with two spaces."""
    ensure_runner(state)
    wanted = normalize(argv[0]) if argv else None
    entries = []
    for tag, config in state["configs"].items():
        m = find_model(state["models"], tag)
        if m is None or (wanted is not None and tag != wanted):
            continue  # getAllRunnerConfigs lists only models it has (loader.go:747-760)
        entries.append(
            {"Backend": "llama.cpp", "Model": tag, "ModelID": m["id"], "Mode": "completion", "Config": config}
        )
    out.text(json.dumps(entries, indent=2, ensure_ascii=False) + "\n")
    return 0


# --------------------------------------------------------------------------- entry


AUTO_INSTALL_COMMANDS = (
    "run",
    "status",
    "pull",
    "list",
    "ls",
    "rm",
    "inspect",
    "ps",
    "df",
    "unload",
    "stop",
    "configure",
    "config",
)
"""Commands that first make sure a runner exists: ``withStandaloneRunner`` (``commands/root.go:111-133``,
``configure``, ``ps``, ``df`` and ``unload`` among them) and ``run`` itself (``root.go:135-136``);
``version`` does not."""

MODEL_COMMANDS = (*AUTO_INSTALL_COMMANDS, "version")


def auto_install(state: dict[str, Any], out: Out) -> None:
    """``ensureStandaloneRunnerAvailable`` (``commands/install-runner.go:88-178`` at 642c7211).

    Only on Docker Engine (``kind`` ``Docker Engine``/``Docker Cloud``, ``:95-100``), only when no
    runner container exists (state ``runner_container`` false, ``:118-124``) and only without
    ``MODEL_RUNNER_NO_AUTO_INSTALL`` (any non-empty value, ``:102-105``). Then, all on stdout: the image
    pull as Docker's jsonmessage stream prints it without a TTY (``pkg/standalone/images.go:19-23``,
    through ``printer.Write`` = ``OutOrStdout``, ``commands/utils.go:91-93``; the line shapes are moby's
    ``pkg/jsonmessage``, not in the mirror), ``Successfully pulled`` (``images.go:26``), the volume
    (``volumes.go:32``) and the container (``containers.go:619``) lines, which go through cobra's
    ``Printf`` (to stdout under docker's plugin wrapper, as for ``run``'s own lines above). The runner
    then runs (state ``runner`` ``running``, ``runner_container`` true; saved).
    """
    if state.get("runner_container", True) or state["kind"] not in ("Docker Engine", "Docker Cloud"):
        return
    if os.environ.get("MODEL_RUNNER_NO_AUTO_INSTALL"):
        return
    image = "docker/model-runner:latest"
    layer = "4f4fb700ef54"
    out.text(
        "latest: Pulling from docker/model-runner\n"
        f"{layer}: Pulling fs layer\n{layer}: Verifying Checksum\n{layer}: Download complete\n{layer}: Pull complete\n"
        f"Digest: sha256:{'5d01670' * 9}a\n"
        f"Status: Downloaded newer image for {image}\n"
        f"Successfully pulled {image}\n"
        "Creating model storage volume docker-model-runner-models...\n"
        "Starting model runner container docker-model-runner...\n"
    )
    state["runner_container"], state["runner"] = True, "running"
    save_state(state)


def model_main(state: dict[str, Any], argv: list[str], out: Out) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        out.text(
            "Usage:  docker model COMMAND\n\nDocker Model Runner\n\nCommands:\n"
            + "".join(f"  {c}\n" for c in MODEL_COMMANDS)
        )
        return 0
    sub, rest = argv[0], argv[1:]
    if sub not in MODEL_COMMANDS or sub in state.get("missing_commands", ()):
        raise Exit(1, f'unknown command "{sub}" for "docker model"\n')
    if state["daemon"] != "up":
        raise Exit(1, f"{state.get('daemon_down_prefix') or ''}{DAEMON_DOWN}\n")
    if sub in AUTO_INSTALL_COMMANDS and "-h" not in rest and "--help" not in rest:
        auto_install(state, out)
    if sub in ("list", "ls"):
        return cmd_list(state, rest, out, sub)
    return {
        "run": cmd_run,
        "status": cmd_status,
        "pull": cmd_pull,
        "inspect": cmd_inspect,
        "rm": cmd_rm,
        "version": cmd_version,
        "ps": cmd_ps,
        "df": cmd_df,
        "unload": cmd_unload,
        "stop": cmd_unload,  # unload.go:18
        "configure": cmd_configure,
        "config": cmd_configure,  # configure.go:15
    }[sub](state, rest, out)


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``argv`` without the program name; returns the exit code."""
    import signal

    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # die on a closed pipe, as a Go program does
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    args = sys.argv[1:] if argv is None else argv
    state = load_state()
    out = Out(state)
    try:
        if args and args[0] in ("--version", "-v"):
            out.text("Docker version 27.5.1, build 9f9e405\n")
            return 0
        if not args or args[0] != "model":
            cmd = args[0] if args else ""
            if not args:
                out.text("Usage:  docker [OPTIONS] COMMAND\n")
                return 0
            raise Exit(1, unknown_docker_command(state, cmd))
        if not state["plugin_installed"]:
            raise Exit(1, unknown_docker_command(state, "model"))
        return model_main(state, args[1:], out)
    except Exit as e:
        if e.stderr:
            err(e.stderr)
        return e.code


def unknown_docker_command(state: dict[str, Any], cmd: str) -> str:
    if state.get("docker_cli") == "new":
        return f"docker: unknown command: docker {cmd}\n\nRun 'docker --help' for more information\n"
    return f"docker: '{cmd}' is not a docker command.\nSee 'docker --help'\n"


if __name__ == "__main__":
    sys.exit(main())
