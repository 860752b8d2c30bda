"""pytest fixtures that put the ``docker`` test double first on PATH.

Use as a plugin (``pytest_plugins = ["ultra_llm_docker.testing.double.fixtures"]`` in the root
conftest) or import the fixtures into a conftest. Nothing here starts a process at import.

* ``docker_double``: a function-scoped ``DockerDouble`` controller (run invocations and the prompts
  the double finally sends logged). Its ``bin_dir`` holds an
  executable ``docker`` (a wrapper whose shebang is the current interpreter) and is put FIRST on
  PATH; ``FAKE_DOCKER_STATE`` names its state file. Change behaviour with ``set(**state)``.
* ``no_docker``: PATH holds only an empty directory, so no ``docker`` can be found.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from . import fake_docker

__all__ = ["DockerDouble", "docker_double", "install_double", "make_model", "no_docker"]

HERE = Path(__file__).resolve().parent


def make_model(
    tag: str,
    *,
    parameters: str = "361.82 M",
    quantization: str = "IQ2_XXS/Q4_K_M",
    architecture: str = "llama",
    size: str = "256.35 MiB",
    context_size: int | None = 8192,
    created: int | None = None,
    reasoning: bool = False,
) -> dict[str, Any]:
    """A model entry as ``docker model list --json`` shows it (id derived from the tag).

    ``reasoning`` is private to the double: such a model prints ``Thinking:`` first.
    """
    config: dict[str, Any] = {
        "format": "gguf",
        "quantization": quantization,
        "parameters": parameters,
        "architecture": architecture,
        "size": size,
        "gguf": {},
    }
    if context_size is not None:
        config["context_size"] = context_size
    return {
        "id": "sha256:" + hashlib.sha256(tag.encode()).hexdigest(),
        "tags": [tag],
        "created": int(time.time()) - 14 * 24 * 3600 if created is None else created,
        "config": config,
        "reasoning": reasoning,
    }


def default_state() -> dict[str, Any]:
    """The starting state: smollm2 present; smollm2, gemma3 and a reasoning qwen3 pullable."""
    smollm2 = make_model("ai/smollm2:latest")
    gemma3 = make_model(
        "ai/gemma3:latest",
        parameters="3.88 B",
        quantization="MOSTLY_Q4_K_M",
        architecture="gemma3",
        size="2.31 GiB",
        context_size=None,
    )
    qwen3 = make_model(
        "ai/qwen3:latest",
        parameters="8.19B",
        quantization="MOSTLY_Q4_K_M",
        architecture="qwen3",
        size="4.68GiB",
        context_size=40960,
        reasoning=True,
    )
    return {"models": [smollm2], "registry": [smollm2, gemma3, qwen3]}


@dataclass
class DockerDouble:
    """Controls one installed double: its state file, logs and executable."""

    bin_dir: Path
    state_path: Path
    timestamp_log: Path
    invocation_log: Path
    prompt_log: Path

    @property
    def docker(self) -> str:
        """Absolute path of the ``docker`` executable."""
        return str(self.bin_dir / "docker")

    @property
    def state(self) -> dict[str, Any]:
        """The state file's current content (the double's defaults not merged in)."""
        return dict(json.loads(self.state_path.read_text(encoding="utf-8")))

    def set(self, **changes: Any) -> None:
        """Merge ``changes`` into the state file (keys: see ``fake_docker`` docstring)."""
        state = self.state
        state.update(changes)
        self.state_path.write_text(json.dumps(state, indent=1), encoding="utf-8")

    @property
    def models(self) -> list[dict[str, Any]]:
        """The models present locally (``pull``/``rm`` change them)."""
        return list(self.state.get("models", []))

    def add_model(self, tag: str, **kwargs: Any) -> dict[str, Any]:
        """Add a local model built by ``make_model``; returns it."""
        model = make_model(tag, **kwargs)
        self.set(models=[*self.models, model])
        return model

    def add_registry_model(self, tag: str, **kwargs: Any) -> dict[str, Any]:
        """Make ``tag`` pullable; returns the model."""
        model = make_model(tag, **kwargs)
        self.set(registry=[*self.state.get("registry", []), model])
        return model

    def timestamps(self) -> list[tuple[int, int]]:
        """``(monotonic_ns, length)`` of each stdout write since the log was enabled."""
        if not self.timestamp_log.exists():
            return []
        rows = []
        for line in self.timestamp_log.read_text().splitlines():
            ns, n = line.split()
            rows.append((int(ns), int(n)))
        return rows

    def enable_timestamps(self) -> None:
        """Start logging one ``<monotonic_ns> <len>`` line per stdout write."""
        self.set(timestamp_log=str(self.timestamp_log))

    def invocations(self) -> list[dict[str, Any]]:
        """One record (``argv``, ``stdin_bytes``, ``pid``, ``cwd``) per ``docker model run`` that read its input."""
        if not self.invocation_log.exists():
            return []
        return [json.loads(line) for line in self.invocation_log.read_text().splitlines()]

    def sent_prompts(self) -> list[dict[str, Any]]:
        """What each ``run`` finally sent to the model, after its file inclusion and image
        attachment: ``{"text", "images": [{"path", "bytes", "sha256", "type", "url"}], "message", "pid"}``
        (``message``: the user message ``run`` sends, images as ``image_url`` data URLs first)."""
        if not self.prompt_log.exists():
            return []
        return [json.loads(line) for line in self.prompt_log.read_text().splitlines()]

    def expected_output(self, prompt: str, model: str, *, reasoning: bool = False) -> str:
        """Exactly what a successful one-shot ``run`` prints for ``prompt`` under the current state."""
        state = dict(fake_docker.DEFAULT_STATE)
        state.update(self.state)
        return fake_docker.expected_output(prompt, model, state, reasoning=reasoning)

    def expected_answer(self, prompt: str, model: str) -> str:
        """The answer text alone (no reasoning, usage or final newline)."""
        state = dict(fake_docker.DEFAULT_STATE)
        state.update(self.state)
        return fake_docker.answer_for(prompt, model, state)


def install_double(directory: Path) -> DockerDouble:
    """Write the ``docker`` wrapper and a default state file under ``directory``; PATH untouched."""
    bin_dir = directory / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    state_path = directory / "docker-state.json"
    state_path.write_text(json.dumps(default_state(), indent=1), encoding="utf-8")
    wrapper = bin_dir / "docker"
    # -S: no site import (stdlib only), for a fast start; the state path is baked in as a default.
    wrapper.write_text(
        f"#!{sys.executable} -S\n"
        "import os, sys\n"
        "sys.dont_write_bytecode = False\n"
        f"os.environ.setdefault('FAKE_DOCKER_STATE', {str(state_path)!r})\n"
        f"sys.path.insert(0, {str(HERE)!r})\n"
        "from fake_docker import main\n"
        "sys.exit(main())\n",
        encoding="utf-8",
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return DockerDouble(
        bin_dir=bin_dir,
        state_path=state_path,
        timestamp_log=directory / "timestamps.log",
        invocation_log=directory / "invocations.log",
        prompt_log=directory / "prompts.log",
    )


@pytest.fixture
def docker_double(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DockerDouble]:
    """A fresh double first on PATH, with ``FAKE_DOCKER_STATE`` set and run invocations logged."""
    double = install_double(tmp_path / "docker-double")
    double.set(invocation_log=str(double.invocation_log), prompt_log=str(double.prompt_log))
    monkeypatch.setenv("PATH", str(double.bin_dir) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setenv("FAKE_DOCKER_STATE", str(double.state_path))
    yield double


@pytest.fixture
def no_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH holds only an empty directory: ``docker`` is "not installed". Returns that directory."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("FAKE_DOCKER_STATE", raising=False)
    return empty
