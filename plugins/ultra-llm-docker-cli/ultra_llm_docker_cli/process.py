"""The subprocess lifecycle of every ``docker`` call: start, feed stdin, read, time out, kill, reap.

Contract:
* each process starts in its own session (``start_new_session``), so a timeout or a cancelled
  stream kills its whole process group (``docker`` and the plugin binary it runs);
* the moment the process exits, its group is killed too: a helper it left behind (holding stdout
  open) can neither outlive the call nor keep the exit from being seen (``wait`` resolves only once
  the pipes close);
* ``cwd`` sets the working directory (``None``: the caller's);
* stdin gets the input and is then closed (``docker model run`` reads ALL of stdin: a pipe left
  open would hang it); with no input, stdin is ``/dev/null``;
* stderr is drained concurrently (bounded), so a chatty child never blocks on a full pipe;
* the caller sizes every wait (``read``, ``wait``, ``run``: ``TimeoutError`` past it, or no limit);
* on every exit path (normal end, error, timeout, ``aclose``, cancellation) the process is
  killed if still running, reaped, and its pipes are closed: no zombie, no leaked descriptor;
* at most ``max_concurrency`` processes run at once per runner; callers beyond wait their turn;
* the runner knows its live processes: ``aclose`` kills, reaps and closes every one still open
  (a stream its consumer never closed included), so nothing is left for loop shutdown or GC;
* ``run`` reads at most ``max_bytes`` of stdout (``OutputTooLargeError`` past it; stderr is kept
  to its first 64 KiB anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Completed", "OpenProcess", "OutputTooLargeError", "ProcessRunner", "RunningProcess"]

_STDERR_LIMIT = 64 * 1024
_REAP_TIMEOUT = 5.0


class OutputTooLargeError(Exception):
    """A process printed more than ``limit`` bytes on stdout (it has been killed)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the process printed more than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class Completed:
    """A finished process: its exit code (negative: killed by that signal) and its output."""

    returncode: int
    stdout: bytes
    stderr: bytes


class _GroupReaper(asyncio.subprocess.SubprocessStreamProtocol):
    """The stream protocol of ``create_subprocess_exec``, which also kills the process group as soon
    as the process exits (before its pipes close)."""

    def __init__(self, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=limit, loop=loop)
        self.pid: int | None = None
        self.exited = False
        self.group_killed = False
        """True once the group was killed at the exit: its number may then be reused, not killed again."""

    def process_exited(self) -> None:
        super().process_exited()
        self.exited = True
        self.kill_group_once()

    def kill_group_once(self) -> None:
        """Kill the exited process's group, if the pid is known and it was not done yet."""
        if self.pid is not None and not self.group_killed:
            _kill_group(self.pid)
            self.group_killed = True


def _kill_group(pid: int) -> bool:
    """SIGKILL the process group ``pid`` leads; False when it cannot (gone, or not ours)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


async def _start(
    argv: Sequence[str], *, piped_stdin: bool, cwd: str | None, env: Mapping[str, str] | None = None
) -> tuple[asyncio.subprocess.Process, _GroupReaper]:
    """``create_subprocess_exec`` in a new session with ``_GroupReaper`` as its protocol."""
    loop = asyncio.get_running_loop()
    protocol = _GroupReaper(limit=2**16, loop=loop)
    transport, _ = await loop.subprocess_exec(
        lambda: protocol,
        *argv,
        stdin=asyncio.subprocess.PIPE if piped_stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        cwd=cwd,
        env=env,
    )
    protocol.pid = transport.get_pid()
    if protocol.exited:  # it exited while we were starting it
        protocol.kill_group_once()
    return asyncio.subprocess.Process(transport, protocol, loop), protocol


class RunningProcess:
    """One started process; read its stdout with ``read``, end it with ``wait`` or ``close``."""

    def __init__(
        self, proc: asyncio.subprocess.Process, input: bytes | None, read_size: int, reaper: _GroupReaper | None = None
    ) -> None:
        self._proc = proc
        self._reaper = reaper
        self._read_size = read_size
        self._stderr = bytearray()
        self._closed = False
        self.loop = asyncio.get_running_loop()
        self._stdin_task = asyncio.ensure_future(self._feed(input)) if proc.stdin is not None else None
        self._stderr_task = asyncio.ensure_future(self._drain_stderr())

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    @property
    def closed(self) -> bool:
        """True once ``close`` has begun (by the caller, or by ``ProcessRunner.aclose``)."""
        return self._closed

    @property
    def stderr(self) -> bytes:
        """What the process wrote to stderr so far (the first 64 KiB)."""
        return bytes(self._stderr)

    async def _feed(self, data: bytes | None) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        try:
            if data:
                stdin.write(data)
                await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the process exited before reading everything: its exit code tells why
        finally:
            with contextlib.suppress(Exception):
                stdin.close()

    async def _drain_stderr(self) -> None:
        stream = self._proc.stderr
        assert stream is not None
        while True:
            data = await stream.read(65536)
            if not data:
                return
            room = _STDERR_LIMIT - len(self._stderr)
            if room > 0:
                self._stderr += data[:room]

    async def read(self, timeout: float | None = None) -> bytes:
        """The next bytes of stdout as soon as any arrive (``b""`` at EOF).

        Raises ``TimeoutError`` when nothing arrives within ``timeout`` seconds (``None``: no limit).
        """
        stream = self._proc.stdout
        assert stream is not None
        try:
            return await asyncio.wait_for(stream.read(self._read_size), timeout)
        except asyncio.TimeoutError:  # the builtin TimeoutError, on 3.10 too (the adapter catches that)
            raise TimeoutError from None

    async def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit (and for stderr to be drained); the exit code. ``TimeoutError`` if later
        than ``timeout`` seconds (``None``: no limit)."""
        try:
            code = await asyncio.wait_for(self._proc.wait(), timeout)
        except asyncio.TimeoutError:  # the builtin TimeoutError, on 3.10 too
            raise TimeoutError from None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._stderr_task), _REAP_TIMEOUT)
        return code

    def kill(self) -> None:
        """Kill the process group now, even once the process itself has exited (a helper it left in
        the group may hold its pipes), unless that was done at the exit; idempotent."""
        if self._reaper is not None and self._reaper.group_killed:
            return
        if not _kill_group(self._proc.pid) and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()

    async def close(self) -> None:
        """Kill if running, reap, stop the helper tasks, close every pipe. Safe to call twice.

        Shielded from cancellation: a cancelled caller still leaves nothing behind.
        """
        if self._closed:
            return
        self._closed = True
        await asyncio.shield(self._close())

    async def _close(self) -> None:
        self.kill()
        with contextlib.suppress(asyncio.TimeoutError, ProcessLookupError):
            await asyncio.wait_for(self._proc.wait(), _REAP_TIMEOUT)
        for task in (self._stdin_task, self._stderr_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        # Close the pipe transports explicitly: the child (and its group) is dead, so nothing is lost.
        transport = getattr(self._proc, "_transport", None)
        if transport is not None:
            transport.close()
        # give the event loop one turn to run the transports' connection_lost callbacks
        await asyncio.sleep(0)


class OpenProcess:
    """The context manager ``ProcessRunner.open`` returns.

    A class, not an ``asynccontextmanager``: a stream left unclosed until its event loop shuts down
    is then finalized alone, with no inner async generator that the loop may finalize first (which
    made ``aclose`` fail with "generator didn't stop after athrow()").
    """

    def __init__(self, runner: ProcessRunner, argv: Sequence[str], input: bytes | None, cwd: str | None) -> None:
        self._runner = runner
        self._argv = list(argv)
        self._input = input
        self._cwd = cwd
        self._semaphore: asyncio.Semaphore | None = None
        self._running: RunningProcess | None = None

    async def __aenter__(self) -> RunningProcess:
        semaphore = self._runner._semaphore()
        await semaphore.acquire()
        self._semaphore = semaphore
        try:
            proc, reaper = await _start(
                self._argv, piped_stdin=self._input is not None, cwd=self._cwd, env=self._runner.env
            )
        except BaseException:
            self._semaphore = None
            semaphore.release()
            raise
        running = self._running = RunningProcess(proc, self._input, self._runner.read_size, reaper)
        self._runner._live.add(running)
        return running

    async def __aexit__(self, *exc_info: object) -> None:
        running, semaphore = self._running, self._semaphore
        self._running = self._semaphore = None
        try:
            if running is not None:
                self._runner._live.discard(running)
                await running.close()
        finally:
            if semaphore is not None:
                semaphore.release()


class ProcessRunner:
    """Starts processes with a bound on how many run at once (per event loop)."""

    def __init__(
        self, max_concurrency: int = 4, read_size: int = 4096, env_overrides: Mapping[str, str] | None = None
    ) -> None:
        self.max_concurrency = max_concurrency
        self.read_size = read_size
        self.env_overrides = dict(env_overrides or {})
        """Variables set for every process started, over this process's environment at start time."""
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._live: set[RunningProcess] = set()

    @property
    def env(self) -> dict[str, str] | None:
        """The environment a process starts with: ``None`` (inherited) without overrides."""
        if not self.env_overrides:
            return None
        return {**os.environ, **self.env_overrides}

    @property
    def live_pids(self) -> list[int]:
        """The PIDs of the processes started and not yet closed."""
        return sorted(p.pid for p in self._live)

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.max_concurrency)
        return semaphore

    def open(self, argv: Sequence[str], *, input: bytes | None = None, cwd: str | None = None) -> OpenProcess:
        """``async with runner.open(argv) as proc``: start ``argv`` (a slot permitting); on leaving, it
        is killed, reaped and closed.

        ``input`` is written to stdin, which is then closed; ``None`` gives ``/dev/null`` instead.
        ``cwd``: the working directory (``None``: this process's).
        Raises ``FileNotFoundError``/``PermissionError`` when the executable cannot be started.
        """
        return OpenProcess(self, argv, input, cwd)

    async def aclose(self) -> None:
        """Kill, reap and close every process still open (their callers then read EOF).

        A process started on another event loop (one already finished) can only be killed from
        here: its loop's child watcher reaps it.
        """
        loop = asyncio.get_running_loop()
        live, self._live = list(self._live), set()
        for running in live:
            if running.loop is loop:
                await running.close()
            else:
                running.kill()

    async def run(
        self, argv: Sequence[str], *, input: bytes | None = None, timeout: float | None, max_bytes: int | None = None
    ) -> Completed:
        """Run ``argv`` to completion within ``timeout`` seconds (``TimeoutError`` otherwise; killed;
        ``None``: no limit, a cancelled caller still kills it).

        More than ``max_bytes`` of stdout is ``OutputTooLargeError`` (killed; nothing more read).
        """
        async with self.open(argv, input=input) as proc:
            loop = asyncio.get_running_loop()
            deadline = None if timeout is None else loop.time() + timeout

            def left() -> float | None:
                return None if deadline is None else max(0.0, deadline - loop.time())

            out = bytearray()
            while True:
                data = await proc.read(left())
                if not data:
                    break
                out += data
                if max_bytes is not None and len(out) > max_bytes:
                    raise OutputTooLargeError(max_bytes)
            code = await proc.wait(left())
            return Completed(code, bytes(out), proc.stderr)
