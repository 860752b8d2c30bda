"""An untyped exception reaching the command line is a bug: one line saying so and how to report it,
and its own exit status (70, ``EX_SOFTWARE``) that no typed error uses; ``--debug`` shows the
traceback instead, with the same status. Provoked in a real process by the hostile plugin's
``hostile-crash`` command (a plugin's command runs outside the plugin's error boundary)."""

from __future__ import annotations

import os
import subprocess

from ultra_llm import errors
from ultra_llm.testing.serve import SCRIPT


def crash(*flags: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *flags, "hostile-crash"], capture_output=True, text=True, env={**os.environ, **env}, timeout=60
    )


def test_an_untyped_crash_is_one_line_and_its_own_exit_status(hostile_env: dict[str, str]) -> None:
    done = crash(env=hostile_env)
    assert done.returncode == errors.InternalError.exit_code == 70, done
    assert done.stderr == (
        "Error: Internal error: an untyped RuntimeError escaped: a plugin bug \\x1b]0;pwned\\x07 here "
        f"Fix: {errors.InternalError.default_fix}\n"
    )
    assert "--debug" in done.stderr and "report it" in done.stderr


def test_with_debug_the_traceback_is_shown_with_the_same_status(hostile_env: dict[str, str]) -> None:
    done = crash("--debug", env=hostile_env)
    assert done.returncode == 70, done
    assert done.stderr.startswith("Traceback (most recent call last):")
    assert done.stderr.endswith("RuntimeError: a plugin bug \\x1b]0;pwned\\x07 here\n")
    assert "\x1b" not in done.stderr and "\x07" not in done.stderr


def test_no_typed_error_shares_the_internal_status() -> None:
    exported = [getattr(errors, name) for name in errors.__all__]
    typed = [cls for cls in exported if isinstance(cls, type) and issubclass(cls, errors.UltraLLMError)]
    assert errors.InternalError.exit_code not in {cls.exit_code for cls in typed if cls is not errors.InternalError}
