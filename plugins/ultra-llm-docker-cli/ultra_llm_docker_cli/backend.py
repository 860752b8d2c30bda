"""The ``docker-cli`` backend: Docker Model Runner through the ``docker model`` CLI.

* Discovery: ``docker model list --json``, falling back to the table on CLIs without ``--json``.
* Availability: the binary found, then ``docker model status --json`` (text fallback), with the
  core's check timeout, cached ``status_cache_seconds``.
* Generation: ``docker model run MODEL`` with the prompt on stdin (closed after writing), never in
  argv; the model name validated by ``ultra_llm_docker.names`` first. Output streamed in small reads,
  decoded incrementally; the CLI's own lines (auto-pull, usage, final newline) are not answer text.
* Refused before any process starts (the one-shot ``run`` would act on them, not send them): a
  prompt naming a file ``run`` would read (``@path``, image paths; see ``prompt_guard``) unless
  ``allow_file_inclusion``; an ``nvcr.io/nim/`` model (``run`` starts a container) unless
  ``allow_containers``; a model not present while ``auto_pull`` is off (``run`` would pull it).
* Every ``docker`` call runs with ``MODEL_RUNNER_NO_AUTO_INSTALL=1`` unless ``auto_install``: without it
  ``docker model`` on Docker Engine pulls and starts the runner container, printing the install to
  stdout, before the command; with it those lines are progress, never answer text.
  ``run`` works in a private empty directory (removed by ``aclose``), so relative paths name nothing
  there; one naming a file in our own working directory is refused all the same.
* The CLI cannot pass sampling options: any option is an ``InvalidOptionsError`` pointing at the
  API backend (the core validates against ``options_model = None`` and shows ``options_hint``).
  Nor tools, a response format or reasoning control: undeclared, so the adapter refuses them with
  ``unsupported_hint``, which names the API backend.
* Images (``supports_images``): the last user message's images are written to a private directory
  and their paths put in the prompt, the one way ``run`` takes images (see ``attachments``); exempt
  from the prompt guard for exactly those paths; removed when the run ends however it ends.
* Bounded: an answer past ``max_response_bytes`` (``list``/``status``/``rm`` output past
  ``max_listing_bytes``) is a ``ResponseTooLargeError``; a pull silent for ``pull_idle_timeout``,
  a read of the runner (``list``, ``ps``, ``df``, ``inspect``) past ``list_timeout`` and a change
  (``rm``, ``configure``, ``unload``) past ``control_timeout`` are a ``GenerationTimeoutError``
  naming that setting; each kills its process. ``aclose`` kills and reaps every process still
  open, a stream its consumer never closed included.
* Deadlines: the adapter owns the call's total and first-token deadline (``ultra_llm._deadline``) and
  words their one error. The backend sizes its waits by the call's ``Deadline`` (the request's, or
  ``current_deadline()`` for calls that take none; ``None`` when called without the adapter: no
  limit), each setting above cut shorter by it; when the deadline is the nearer bound its passing is
  a bare ``TimeoutError`` for the adapter to word. While the answer has not begun it tells the
  deadline what it waits for (``waiting_for``: "`docker model run M` has printed nothing yet", the
  auto-pull's last progress line); the first answer chunk is ``answered()``. A pull has no total: it
  runs as long as progress arrives. Whatever ends a call (a limit, the adapter's cancellation, the
  consumer closing the stream) kills and reaps its process (``process``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import shutil
import tempfile
import time
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from ultra_llm_docker.errors import ModelRunnerNotEnabledError, model_not_found
from ultra_llm_docker.lifecycle import check_model_settings, configured_context
from ultra_llm_docker.names import DEFAULT_MODEL, normalize_model_name, parse_model_reference

from ultra_llm.errors import (
    BackendUnavailableError,
    EmptyPromptError,
    GenerationError,
    GenerationTimeoutError,
    ModelNotFoundError,
    ResponseTooLargeError,
    StreamInterruptedError,
    UltraLLMError,
    UnsupportedOperationError,
)
from ultra_llm.plugin import (
    Availability,
    Backend,
    Chunk,
    Deadline,
    DiskUsage,
    GenerationRequest,
    ModelInfo,
    ModelSettings,
    Progress,
    RunningModel,
    Usage,
    current_deadline,
    json_loads,
)

from .attachments import ImageFiles, images_to_send, place_paths
from .failures import API_HINT, BACKEND, container_refused, error_for, first_line, not_installed, unsafe_prompt
from .lifecycle_output import parse_df_table, parse_ps_table, parse_unloaded
from .parsers import (
    Failure,
    ListedModel,
    RunnerStatus,
    classify_failure,
    parse_list_json,
    parse_list_table,
    parse_progress_line,
    parse_status_json,
    parse_status_text,
    render_prompt,
)
from .process import Completed, OutputTooLargeError, ProcessRunner
from .prompt_guard import find_file_reference
from .run_output import Event, RunOutputParser
from .settings import DockerCLISettings

if TYPE_CHECKING:
    from ultra_llm.plugin import ProgressCallback, UltraConfig

__all__ = ["DockerCLIBackend"]

log = logging.getLogger("ultra_llm_docker_cli")

NIM_PREFIX = "nvcr.io/nim/"
"""``run`` starts a container for these models (``cmd/cli/commands/nim.go:isNIMImage``)."""

NO_AUTO_INSTALL = {"MODEL_RUNNER_NO_AUTO_INSTALL": "1"}
"""Set for every ``docker`` call unless ``auto_install``: any non-empty value stops ``docker model``
from pulling and starting the runner container on Docker Engine before a command
(``ensureStandaloneRunnerAvailable``, docker/model-runner ``cmd/cli/commands/install-runner.go:102-105``
at 642c7211; Docker Desktop never auto-installs, ``:95-100``)."""

_MAX_PULL_LINE = 64 * 1024
"""A partial ``pull`` output line longer than this is dropped (progress lines are ~40 bytes)."""

LIST_TIMEOUT = "ULTRA_LLM_DOCKER_CLI_LIST_TIMEOUT"
CONTROL_TIMEOUT = "ULTRA_LLM_DOCKER_CLI_CONTROL_TIMEOUT"
PULL_IDLE_TIMEOUT = "ULTRA_LLM_DOCKER_CLI_PULL_IDLE_TIMEOUT"
CHECK_TIMEOUT = "ULTRA_LLM_CHECK_TIMEOUT"


def _sized(limit: float | None, deadline: Deadline | None) -> tuple[float | None, bool]:
    """A wait of at most ``limit`` seconds (a setting's; ``None``: none) within the call's ``deadline``
    (``None``: none): the seconds to wait (``None``: no limit), and whether the deadline is the nearer
    bound, so that its running out is the deadline passing (a bare ``TimeoutError`` the adapter words),
    not the setting's."""
    left = math.inf if deadline is None else deadline.remaining()
    if limit is not None and limit <= left:
        return limit, False
    return (None if left == math.inf else left), True


def _limit_passed(what: str, limit: float, setting: str) -> GenerationTimeoutError:
    """The backend's own error for one of its settings' limits (never the call's total or first token)."""
    return GenerationTimeoutError(
        f"{what} did not finish within {limit:g} s ({setting}).",
        timeout=limit,
        fix=f"Check `docker model status`; if the runner is only slow to answer, raise {setting}.",
        backend=BACKEND,
    )


class DockerCLIBackend(Backend):
    """Docker Model Runner through ``docker model`` subprocesses (one per call, bounded in number)."""

    name: ClassVar[str] = BACKEND
    summary: ClassVar[str] = "Docker Model Runner through the `docker model` CLI."
    options_model: ClassVar[None] = None
    options_hint: ClassVar[str] = "The `docker model run` CLI cannot pass sampling options. " + API_HINT
    supports_images: ClassVar[bool] = True
    unsupported_hint: ClassVar[str] = (
        "The `docker model run` CLI cannot send tools, JSON schemas or reasoning control. " + API_HINT
    )
    settings_model: ClassVar[type[DockerCLISettings]] = DockerCLISettings
    default_model: ClassVar[str] = DEFAULT_MODEL
    settings: DockerCLISettings

    def __init__(
        self,
        config: UltraConfig,
        *,
        settings: DockerCLISettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(config, settings=settings)
        self.clock = clock
        """Seconds, monotonic: the age of the cached status (injectable: tests pass a fake one)."""
        self.runner = ProcessRunner(
            self.settings.max_concurrency, env_overrides=None if self.settings.auto_install else NO_AUTO_INSTALL
        )
        self._status: tuple[float, Availability] | None = None
        self._present: set[str] = set()
        self._private_dir: str | None = None
        self._image_files: set[ImageFiles] = set()
        self.progress_callback: ProgressCallback | None = None
        """Receives the auto-pull progress ``docker model run`` prints (besides the log)."""

    def canonical_model(self, name: str) -> str:
        """Docker's canonical reference: ``smollm2`` is ``ai/smollm2:latest``."""
        return normalize_model_name(name)

    def model_missing(self, model: str, detail: str | None = None) -> ModelNotFoundError:
        """Not found, with Docker's fix: ``docker model pull MODEL``."""
        return model_not_found(model, backend=self.name, detail=detail)

    # -- helpers --------------------------------------------------------------------------------

    def docker(self) -> str:
        """The docker executable's path; ``DockerNotInstalledError`` when it cannot be found."""
        configured = self.settings.docker_bin
        found = shutil.which(configured)
        if found is None:
            raise not_installed(configured)
        return found

    def _model_arg(self, model: str) -> str:
        """The validated canonical name: safe for argv (cannot start with ``-``)."""
        return parse_model_reference(model).canonical

    async def _call(
        self,
        action: str,
        *args: str,
        limit: float | None,
        setting: str | None,
        deadline: Deadline | None,
        model: str | None = None,
    ) -> Completed:
        """Run ``docker model ACTION ARGS`` to completion within ``limit`` (the seconds of ``setting``;
        ``None``: none) and the call's ``deadline``; typed errors for the limit and failures other than
        an unknown flag (returned, so callers can fall back)."""
        argv = [self.docker(), "model", action, *args]
        try:
            done = await self._run(argv, limit=limit, setting=setting, deadline=deadline)
        except TimeoutError:  # an OSError on 3.11+: the call's deadline passed, the adapter words it
            raise
        except OSError as exc:
            raise BackendUnavailableError(f"Could not start {argv[0]}: {exc}.", backend=BACKEND) from exc
        if done.returncode != 0:
            stderr = done.stderr.decode("utf-8", "replace")
            if classify_failure(stderr) is Failure.UNKNOWN_FLAG:
                return done
            raise error_for(
                action,
                returncode=done.returncode,
                stderr=stderr,
                stdout=done.stdout.decode("utf-8", "replace"),
                model=model,
            )
        return done

    async def _run(
        self, argv: list[str], *, limit: float | None, setting: str | None, deadline: Deadline | None
    ) -> Completed:
        """``runner.run`` with the listing cap, within ``limit`` (``setting``'s seconds) and the call's
        ``deadline``: the setting's limit and oversize output as typed errors, the deadline passing as
        ``TimeoutError`` (the adapter's to word)."""
        command = " ".join(["docker", *argv[1:]])  # names validated: nothing hostile to show
        wait, by_deadline = _sized(limit, deadline)
        if deadline is not None and not deadline.has_answered:
            deadline.waiting_for(f"`{command}` has not finished yet")
        try:
            return await self.runner.run(argv, timeout=wait, max_bytes=self.settings.max_listing_bytes)
        except TimeoutError:
            if by_deadline or limit is None or setting is None:
                raise  # the call's deadline passed: the adapter words it
            raise _limit_passed(f"`{command}`", limit, setting) from None
        except OutputTooLargeError as exc:
            raise ResponseTooLargeError(
                f"`docker model {argv[2]}` printed more than {exc.limit} bytes "
                "(ULTRA_LLM_DOCKER_CLI_MAX_LISTING_BYTES).",
                fix=f"Raise ULTRA_LLM_DOCKER_CLI_MAX_LISTING_BYTES above {exc.limit}.",
                backend=BACKEND,
            ) from None

    # -- availability ---------------------------------------------------------------------------

    async def check_availability(self) -> Availability:
        """Binary found, then ``docker model status --json`` (text fallback); cached briefly."""
        now = self.clock()
        if self._status is not None and now - self._status[0] < self.settings.status_cache_seconds:
            return self._status[1]
        availability = await self._check()
        self._status = (self.clock(), availability)
        return availability

    async def _check(self) -> Availability:
        try:
            status = await self.runner_status()
        except UltraLLMError as exc:
            return Availability(False, error=exc)
        if status.running:
            backends = ", ".join(f"{k}: {v}" for k, v in status.backends.items())
            where = f" at {status.endpoint}" if status.endpoint else ""  # endpointHost when printed
            return Availability(
                True, detail=f"Docker Model Runner is running{where}" + (f" ({backends})" if backends else "")
            )
        return Availability(
            False, error=ModelRunnerNotEnabledError("Docker Model Runner is not running.", backend=BACKEND)
        )

    async def runner_status(self) -> RunnerStatus:
        """What ``docker model status`` says (JSON when the CLI has it, else its text)."""
        limit, deadline = self.config.check_timeout, current_deadline()
        done = await self._call("status", "--json", limit=limit, setting=CHECK_TIMEOUT, deadline=deadline)
        if done.returncode == 0:
            try:
                return parse_status_json(done.stdout.decode("utf-8", "replace"))
            except ValueError:
                pass
        text = await self._run(
            [self.docker(), "model", "status"], limit=limit, setting=CHECK_TIMEOUT, deadline=deadline
        )
        stdout, stderr = text.stdout.decode("utf-8", "replace"), text.stderr.decode("utf-8", "replace")
        status = parse_status_text(stdout)
        if status.running is None and text.returncode != 0:
            raise error_for("status", returncode=text.returncode, stderr=stderr, stdout=stdout)
        return status

    # -- discovery ------------------------------------------------------------------------------

    async def list_models(self) -> list[ModelInfo]:
        """``docker model list --json`` (table fallback); names canonical, one entry per model."""
        return await self._list_models(current_deadline())

    async def _list_models(self, deadline: Deadline | None) -> list[ModelInfo]:
        listed = await self._listed(deadline)
        models: dict[str, ModelInfo] = {}
        for item in listed:
            try:
                name = normalize_model_name(item.name)
            except UltraLLMError:
                log.warning("docker model list printed a name that is not a model reference: %r", item.name)
                continue
            if name not in models:
                models[name] = ModelInfo(
                    name=name,
                    backend=BACKEND,
                    display_name=item.name,
                    details=item.details(),
                    context_window=item.served_context if item.served_context and item.served_context > 0 else None,
                )
        self._present = set(models) | _listed_ids(listed)
        return list(models.values())

    async def listed_models(self) -> list[ListedModel]:
        """The raw entries of ``docker model list`` (JSON, or the table on older CLIs), within
        ``list_timeout`` and the call's deadline."""
        return await self._listed(current_deadline())

    async def _listed(self, deadline: Deadline | None) -> list[ListedModel]:
        limit = self.settings.list_timeout
        done = await self._call("list", "--json", limit=limit, setting=LIST_TIMEOUT, deadline=deadline)
        if done.returncode == 0:
            try:
                return parse_list_json(done.stdout.decode("utf-8", "replace"))
            except ValueError:
                log.info("docker model list --json printed no JSON array; reading the table instead")
        table = await self._call("list", limit=limit, setting=LIST_TIMEOUT, deadline=deadline)
        return parse_list_table(table.stdout.decode("utf-8", "replace"))

    # -- generation -----------------------------------------------------------------------------

    def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        """Stream ``docker model run`` output; closing the iterator kills the process. Every wait is
        sized by ``request.deadline`` (none without it): its passing is a bare ``TimeoutError``, or the
        adapter's cancellation, either of which kills the process."""
        return self._stream(request)

    async def _stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        model = self._model_arg(request.model)
        if request.options_dict:
            from ultra_llm.errors import InvalidOptionsError

            raise InvalidOptionsError(
                f"Backend '{BACKEND}' accepts no generation options.", fix=self.options_hint, backend=BACKEND
            )
        nim = model.startswith(NIM_PREFIX)
        if nim and not self.settings.allow_containers:
            raise container_refused(model)
        deadline = request.deadline
        images = images_to_send(request.messages)
        text = render_prompt([(m.role, m.text) for m in request.messages])
        cwd = self._workdir()
        # disk writes in a thread, and only when there are images (no thread hop for a text prompt)
        files = await asyncio.to_thread(ImageFiles.write, images) if images else ImageFiles.write(())
        self._image_files.add(files)
        try:
            sent = place_paths(files.paths, text)  # the text alone when there are no images
            # in a thread: a hostile prompt of a million characters costs a second of stat calls
            await asyncio.to_thread(self._check_prompt, sent, cwd, files.paths)
            if not nim:  # a NIM image is no runner model: `docker model list` never shows it
                await self._require_present(model, deadline)
            prompt = sent.encode("utf-8")
            argv = [self.docker(), "model", "run", model]
            parser = RunOutputParser(installer=self.settings.auto_install)
            usage: Usage | None = None
            cap, received = self.settings.max_response_bytes, 0
            try:
                async with self.runner.open(argv, input=prompt, cwd=cwd) as proc:
                    if deadline is not None:
                        deadline.waiting_for(f"`docker model run {model}` has printed nothing yet")
                    while True:
                        # the deadline that applies now (the first token's until the answer began, then
                        # the total); its passing is a bare TimeoutError the adapter words
                        data = await proc.read(_sized(None, deadline)[0])
                        if not data:
                            break
                        received += len(data)
                        if received > cap:  # leaving the block kills the process
                            raise ResponseTooLargeError(
                                f"`docker model run {model}` printed more than {cap} bytes "
                                "(ULTRA_LLM_DOCKER_CLI_MAX_RESPONSE_BYTES).",
                                fix=f"Raise ULTRA_LLM_DOCKER_CLI_MAX_RESPONSE_BYTES above {cap}, or ask for a "
                                "shorter answer in the prompt: `docker model run` takes no max_tokens. "
                                "MODEL_RUNNER_TYPE=api (backend docker-api) can limit it: -o max_tokens=N.",
                                backend=BACKEND,
                            )
                        for event in parser.feed(data):
                            chunk = self._on_event(event, model, request.progress, deadline)
                            if chunk is not None:
                                yield chunk
                    if deadline is not None and not deadline.has_answered:
                        deadline.waiting_for(f"`docker model run {model}` closed its output but has not exited")
                    code = await proc.wait(_sized(None, deadline)[0])  # TimeoutError: the deadline passed
                    if proc.closed:  # the backend's aclose() ended it under us
                        raise StreamInterruptedError(
                            f"The backend was closed while `docker model run {model}` was streaming.", backend=BACKEND
                        )
                    stderr = proc.stderr.decode("utf-8", "replace")
                    if code != 0:
                        raise error_for(
                            "run", returncode=code, stderr=stderr, stdout="", model=model, partial=parser.answered
                        )
                    if stderr.strip():
                        log.info("docker model run %s wrote to stderr: %s", model, first_line(stderr))
            except TimeoutError:  # an OSError on 3.11+: the request's deadline passed, the adapter words it
                raise
            except OSError as exc:
                raise BackendUnavailableError(f"Could not start {argv[0]}: {exc}.", backend=BACKEND) from exc
            for event in parser.finish():
                if event.kind == "usage" and event.usage is not None:
                    usage = Usage(*event.usage)
                    continue
                chunk = self._on_event(event, model, request.progress, deadline)
                if chunk is not None:
                    yield chunk
            self._present.add(model)
            yield Chunk("", finish_reason="stop", usage=usage)
        finally:  # success, error, timeout, or the consumer closing the stream
            files.remove()
            self._image_files.discard(files)

    def _workdir(self) -> str | None:
        """Where ``docker model run`` runs: a private empty directory (made on first use, removed by
        ``aclose``), or the caller's own with ``allow_file_inclusion``."""
        if self.settings.allow_file_inclusion:
            return None
        if self._private_dir is None or not os.path.isdir(self._private_dir):
            self._private_dir = tempfile.mkdtemp(prefix="ultra-llm-docker-cli-")
            weakref.finalize(self, shutil.rmtree, self._private_dir, ignore_errors=True)  # never closed
        return self._private_dir

    def _check_prompt(self, text: str, cwd: str | None, placed: tuple[str, ...] = ()) -> None:
        """``EmptyPromptError`` for a blank prompt (``run`` would start its chat loop);
        ``UnsafePromptError`` for a token ``run`` would read a file for (by ``stat`` only), but for
        the image paths the backend ``placed`` itself."""
        if not text.strip():
            raise EmptyPromptError("The prompt is empty: there is nothing to answer.", backend=BACKEND)
        if cwd is not None:  # None: allow_file_inclusion
            # relative paths: against docker's private directory (where they would be read) and ours
            # (where a caller may think they point): refused in both, so never silently sent as text
            found = find_file_reference(text, [cwd, *_own_directory()], exempt=placed)
            if found is not None:
                raise unsafe_prompt(found)

    async def _require_present(self, model: str, deadline: Deadline | None) -> None:
        """Make sure ``run`` will not pull: pull first with ``auto_pull``, else ``ModelNotFoundError``
        unless ``docker model list`` shows the model (one listing, then remembered); within the
        call's ``deadline``."""
        if model in self._present:
            return
        if self.settings.auto_pull:
            await self._ensure_present(model, None, deadline)
            return
        await self._list_models(deadline)
        if model not in self._present:
            raise model_not_found(model, backend=BACKEND, detail="not in `docker model list`; auto-pull is off")

    def _on_event(
        self, event: Event, model: str, progress: ProgressCallback | None, deadline: Deadline | None
    ) -> Chunk | None:
        """Answer and reasoning become chunks (the first tells ``deadline`` the answer began); auto-pull
        and runner auto-install lines go to the log, the request's ``progress`` callback and
        ``progress_callback``, and tell ``deadline`` what the run is waiting for."""
        if event.kind in ("text", "reasoning"):
            if deadline is not None and not deadline.has_answered:
                deadline.answered()
            return Chunk(event.text, kind="reasoning" if event.kind == "reasoning" else "text")
        if event.kind in ("pull-started", "progress", "pulled", "install"):
            log.info("docker model run %s: %s", model, event.text)
            if deadline is not None and not deadline.has_answered:
                if event.kind == "install":
                    why = f'is installing the runner, last printed "{_quoted(event.text)}"'
                elif event.kind == "pulled":
                    why = "has pulled the model and printed no answer yet"
                else:
                    why = f'is pulling the model, last printed "{_quoted(event.text)}"'
                deadline.waiting_for(f"`docker model run {model}` {why}")
            report = _progress(event.text, event.completed, event.total, done=event.kind == "pulled")
            for callback in (progress, self.progress_callback):
                if callback is not None:
                    callback(report)
        return None

    # -- model management -----------------------------------------------------------------------

    async def ensure_present(self, model: str, progress: ProgressCallback | None = None) -> None:
        """Pull ``model`` unless ``docker model list`` already shows it."""
        await self._ensure_present(model, progress, current_deadline())

    async def _ensure_present(self, model: str, progress: ProgressCallback | None, deadline: Deadline | None) -> None:
        await self._list_models(deadline)
        if model not in self._present:  # a name, or a model ID the listing shows
            await self._pull(model, progress, deadline)

    async def pull(self, model: str, progress: ProgressCallback | None = None) -> None:
        """``docker model pull MODEL``, each ``Downloaded X of Y`` line reported to ``progress``.

        No total of its own: a pull that keeps printing progress takes as long as it needs (the
        adapter sets no total on a pull unless asked). One that prints nothing for
        ``pull_idle_timeout`` seconds is killed (``GenerationTimeoutError`` naming the setting).
        """
        await self._pull(model, progress, current_deadline())

    async def _pull(self, model: str, progress: ProgressCallback | None, deadline: Deadline | None) -> None:
        """``pull`` within the call's ``deadline`` (the generation's, for the pull before a run)."""
        name = self._model_arg(model)
        argv = [self.docker(), "model", "pull", name]
        report = progress or (lambda p: log.info("pull %s: %s", name, p.message))
        idle = self.settings.pull_idle_timeout
        buffer = b""
        if deadline is not None and not deadline.has_answered:
            deadline.waiting_for(f"`docker model pull {name}` has printed nothing yet")
        try:
            async with self.runner.open(argv) as proc:
                while True:
                    wait, by_deadline = _sized(idle, deadline)
                    try:
                        data = await proc.read(wait)
                    except TimeoutError:
                        if by_deadline:
                            raise  # the call's deadline passed: the adapter words it
                        raise self._pull_idle(name, idle, "printed nothing") from None
                    if not data:
                        break
                    buffer += data
                    *lines, rest = buffer.split(b"\n")
                    buffer = rest if len(rest) <= _MAX_PULL_LINE else b""  # no line grows without bound
                    for raw in lines:
                        line = raw.decode("utf-8", "replace").strip()
                        if line:
                            counts = parse_progress_line(line)
                            done = line == "Model pulled successfully"
                            if deadline is not None and not deadline.has_answered:
                                deadline.waiting_for(
                                    f'`docker model pull {name}` is pulling the model, last printed "{_quoted(line)}"'
                                )
                            report(_progress(line, *(counts or (None, None)), done=done))
                wait, by_deadline = _sized(idle, deadline)  # closed its output: silent from now on
                try:
                    code = await proc.wait(wait)
                except TimeoutError:
                    if by_deadline:
                        raise
                    raise self._pull_idle(name, idle, "closed its output but did not exit") from None
                if code != 0:
                    raise error_for("pull", returncode=code, stderr=proc.stderr.decode("utf-8", "replace"), model=name)
        except TimeoutError:  # an OSError on 3.11+: the call's deadline passed, the adapter words it
            raise
        except OSError as exc:
            raise BackendUnavailableError(f"Could not start {argv[0]}: {exc}.", backend=BACKEND) from exc
        self._present.add(name)

    @staticmethod
    def _pull_idle(name: str, idle: float, what: str) -> GenerationTimeoutError:
        """A pull silent for ``pull_idle_timeout``: the backend's own limit, named."""
        return GenerationTimeoutError(
            f"`docker model pull {name}` {what} for {idle:g} s ({PULL_IDLE_TIMEOUT}) and was stopped.",
            timeout=idle,
            fix="Check the network and `docker model status`, then pull again; for a registry "
            f"that is slow to answer, raise {PULL_IDLE_TIMEOUT}.",
            backend=BACKEND,
        )

    async def remove(self, model: str, *, force: bool = False) -> None:
        """``docker model rm MODEL``; ``ModelNotFoundError`` when it is not present.

        A name removes that tag (the model goes with its last tag). An ID names the model with all its
        tags: the runner refuses that without ``force`` when there are several (409 ``must be forced``,
        docker/model-runner ``pkg/distribution/distribution/client.go:547-568`` at 642c7211), which is a
        ``BadRequestError`` saying so; ``force`` passes ``--force`` (``cmd/cli/commands/rm.go:28``, sent as
        ``?force=true``, ``desktop/desktop.go:875-879``). A name never needs it.
        """
        name = self._model_arg(model)
        args = ("--force", name) if force else (name,)
        done = await self._call(
            "rm",
            *args,
            limit=self.settings.control_timeout,
            setting=CONTROL_TIMEOUT,
            deadline=current_deadline(),
            model=name,
        )
        if done.returncode != 0:
            raise model_not_found(name, backend=BACKEND, detail=first_line(done.stderr.decode("utf-8", "replace")))
        if parse_model_reference(name).model_id is not None:
            self._present.clear()  # which tags went with the ID only a new listing tells
        self._present.discard(name)

    # -- model lifecycle (formats read back in ``lifecycle_output``) ------------------------------

    async def _output(
        self,
        action: str,
        *args: str,
        limit: float | None,
        setting: str | None,
        model: str | None = None,
    ) -> str:
        """``docker model ACTION ARGS``'s stdout, within ``limit`` (``setting``'s seconds; ``None``: only the
        call's deadline); a flag this CLI does not know is ``UnsupportedOperationError``."""
        done = await self._call(action, *args, limit=limit, setting=setting, deadline=current_deadline(), model=model)
        if done.returncode != 0:  # _call returns a failed run only for an unknown flag
            raise UnsupportedOperationError(
                f"This Docker Model Runner CLI does not take `docker model {action} {' '.join(args)}` "
                f"({first_line(done.stderr.decode('utf-8', 'replace'))}).",
                fix="Update Docker Desktop, or the docker-model-plugin package on Docker Engine.",
                backend=BACKEND,
            )
        return done.stdout.decode("utf-8", "replace")

    def _unreadable(self, action: str, exc: ValueError) -> GenerationError:
        return GenerationError(f"`docker model {action}` printed what this backend cannot read: {exc}", backend=BACKEND)

    async def running_models(self) -> list[RunningModel]:
        """``docker model ps``: its table read back (``MODEL NAME BACKEND MODE UNTIL``)."""
        text = await self._output("ps", limit=self.settings.list_timeout, setting=LIST_TIMEOUT)
        try:
            return parse_ps_table(text, backend=BACKEND, canonical=normalize_model_name)
        except ValueError as exc:
            raise self._unreadable("ps", exc) from None

    async def preload(self, model: str) -> None:
        """``docker model run -d MODEL`` (load only: ``cmd/cli/commands/run.go:842-851``, the chat request
        with ``X-Preload-Only``, ``desktop/desktop.go:426-461``). ``run`` pulls a model that is not there
        (``run.go:831-840``), so the presence rule of generation applies first (``auto_pull``). A cold load
        takes tens of seconds: bounded by the call's deadline alone (the adapter's ``preload(timeout=)``,
        by default ``ULTRA_LLM_TIMEOUT``), none without one."""
        name = self._model_arg(model)
        if name.startswith(NIM_PREFIX) and not self.settings.allow_containers:
            raise container_refused(name)
        await self._require_present(name, current_deadline())
        await self._output("run", "-d", name, limit=None, setting=None, model=name)

    async def unload(self, models: Sequence[str] = (), *, all: bool = False) -> int:
        """``docker model unload --all`` or ``docker model unload -- MODEL...``; the count it printed."""
        names = [self._model_arg(model) for model in models]
        args = ("--all",) if all else ("--", *names)
        text = await self._output("unload", *args, limit=self.settings.control_timeout, setting=CONTROL_TIMEOUT)
        try:
            return parse_unloaded(text)
        except ValueError as exc:
            raise self._unreadable("unload", exc) from None

    @classmethod
    def check_settings(cls, settings: ModelSettings) -> ModelSettings:
        """The runner's grammar for ``settings`` (a keep-alive is a Go duration, ``0`` or ``-1``):
        ``ultra_llm_docker.lifecycle.check_model_settings``. No I/O."""
        return check_model_settings(settings)

    async def configure(self, model: str, settings: ModelSettings) -> None:
        """``docker model configure --context-size=N --keep-alive=D MODEL`` (flags as ``--flag=value``, so a
        value such as ``-1`` is never read as a flag; the model cannot go after ``--``, which starts the
        runtime flags: ``cmd/cli/commands/configure.go:18-46``; it is validated instead). The runner takes
        any name (``scheduler.go:386-396``), so ``inspect`` runs first: a typo is ``ModelNotFoundError``.
        A busy model is ``ModelLoadedError`` (``runner already active``, printed from the 409 body by
        ``desktop.go:1140-1146``); nothing is unloaded here."""
        settings = self.check_settings(settings)
        name = self._model_arg(model)
        await self.inspect(name)
        flags = []
        if settings.context_size is not None:
            flags.append(f"--context-size={settings.context_size}")
        if settings.keep_alive is not None:
            flags.append(f"--keep-alive={settings.keep_alive}")
        if settings.think is not None:  # configure_flags.go:148,233-243: -1 (think) or 0 (do not)
            flags.append(f"--think={'true' if settings.think else 'false'}")
        await self._output(
            "configure", *flags, name, limit=self.settings.control_timeout, setting=CONTROL_TIMEOUT, model=name
        )

    async def inspect(self, model: str) -> ModelInfo:
        """``docker model inspect MODEL`` (JSON: ``{id, tags, created, config}``), with the context size
        ``docker model configure show MODEL`` reports configured, which wins over the packaged one."""
        name = self._model_arg(model)
        text = await self._output("inspect", name, limit=self.settings.list_timeout, setting=LIST_TIMEOUT, model=name)
        try:
            listed = parse_list_json(f"[{text}]")
        except ValueError as exc:
            raise self._unreadable("inspect", exc) from None
        item = listed[0] if listed else None
        details = item.details() if item is not None else {}
        configured = await self._configured_context(name)
        context = configured if configured is not None else (item.served_context if item is not None else None)
        return ModelInfo(
            name=name,
            backend=BACKEND,
            display_name=item.name if item is not None else name,
            details=details,
            context_window=context if context is not None and context > 0 else None,
        )

    async def _configured_context(self, name: str) -> int | None:
        """What ``docker model configure show MODEL`` says was configured (``None`` on a CLI without it)."""
        try:
            text = await self._output(
                "configure", "show", name, limit=self.settings.list_timeout, setting=LIST_TIMEOUT, model=name
            )
            return configured_context(json_loads(text), name, normalize_model_name)
        except (UltraLLMError, ValueError):  # malformed or too deep JSON (ultra_llm._json_depth) included
            return None

    async def disk_usage(self) -> DiskUsage:
        """``docker model df``: its ``TYPE SIZE`` table read back (decimal units)."""
        text = await self._output("df", limit=self.settings.list_timeout, setting=LIST_TIMEOUT)
        try:
            return parse_df_table(text, backend=BACKEND)
        except ValueError as exc:
            raise self._unreadable("df", exc) from None

    async def aclose(self) -> None:
        """Kill, reap and close every ``docker`` process still running (a stream left open included:
        its consumer then gets ``StreamInterruptedError``); forget the cached status."""
        self._status = None
        await self.runner.aclose()
        for files in list(self._image_files):  # streams never closed: their images go now
            files.remove()
        self._image_files.clear()
        if self._private_dir is not None:
            shutil.rmtree(self._private_dir, ignore_errors=True)
            self._private_dir = None


def _own_directory() -> list[str]:
    """This process's working directory, if it still exists."""
    try:
        return [os.getcwd()]
    except OSError:
        return []


def _listed_ids(listed: list[ListedModel]) -> set[str]:
    """The ID references (``sha256:<hex>`` and its 12-hex short form) of the listed models: the
    runner accepts either in place of a name (``pkg/distribution/distribution/client.go:160-166,
    235-260`` at 642c7211), so ``run ID`` needs no pull when the model is listed."""
    ids: set[str] = set()
    for item in listed:
        try:
            ref = parse_model_reference(item.id or "")
        except UltraLLMError:
            continue
        if ref.model_id is not None:
            ids.add(ref.model_id)
            ids.add(ref.model_id.removeprefix("sha256:")[:12])
    return ids


def _progress(message: str, completed: int | None, total: int | None, *, done: bool) -> Progress:
    return Progress(message=message, completed=completed, total=total, status="success" if done else "progress")


QUOTED_MAX = 120
"""The most characters of a line ``docker`` printed that an error quotes (the rest is cut, marked)."""


def _quoted(line: str) -> str:
    """A progress line ``docker`` printed, as an error quotes it: at most ``QUOTED_MAX`` characters."""
    return line if len(line) <= QUOTED_MAX else line[: QUOTED_MAX - 3] + "..."
