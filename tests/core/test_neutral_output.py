"""What the kernel prints names no backend family: ``--help``, ``plugins``, ``backends``, ``config``,
``doctor`` and the kernel's errors, with only the kernel, the stand-in and a test backend loaded.

The other half of ``test_neutral_core`` (which reads the kernel's files): this reads what reaches a
user, where a plugin's text is mixed in and a kernel hint such as "set USE_MODEL_RUNNER" would show.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import AsyncIterator, Iterator
from importlib.metadata import EntryPoint
from typing import ClassVar

import pytest
from click.testing import CliRunner

import ultra_llm.errors
from tests.core.test_neutral_core import NEUTRAL
from ultra_llm._cli.app import build_cli
from ultra_llm._config import load_config
from ultra_llm._host import PluginHost
from ultra_llm.plugin import Availability, Backend, BackendRegistrar, Chunk, GenerationRequest, ModelInfo, hookimpl

COMMANDS = (["plugins"], ["backends"], ["backends", "--json"], ["config"], ["config", "--json"], ["doctor"])


class LarderBackend(Backend):
    """A test backend that says nothing of anyone else."""

    name: ClassVar[str] = "larder"
    default_model: ClassVar[str] = "larder-small"

    async def check_availability(self) -> Availability:
        return Availability(True, "the larder is open")

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("larder-small", self.name)]

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        yield Chunk(request.prompt, finish_reason="stop")


class Larder:
    def __init__(self, *, stand_in: bool) -> None:
        self.stand_in = stand_in

    @hookimpl
    def ultra_llm_register_backends(self, register: BackendRegistrar) -> None:
        register("larder", LarderBackend, summary="a test backend", stand_in=self.stand_in)


def _host(monkeypatch: pytest.MonkeyPatch, *, stand_in_plugin: bool) -> PluginHost:
    """The process host: the kernel, the stand-in plugin's entry point (or none), and the test backend
    (the stand-in itself when there is no stand-in plugin)."""
    entry_points = [EntryPoint("mock", "ultra_llm_mock.plugin", "ultra_llm")] if stand_in_plugin else []
    host = PluginHost(entry_points=lambda: entry_points)
    host.register(Larder(stand_in=not stand_in_plugin), name="larder")
    monkeypatch.setattr("ultra_llm._host._default_host", host, raising=False)
    return host


def _everything_printed(*extra: list[str]) -> Iterator[tuple[str, str]]:
    """``(command, text)`` for every kernel command's ``--help`` and each command in ``COMMANDS``."""
    cli = build_cli()
    runner = CliRunner()
    for args in [["--help"], *([name, "--help"] for name in sorted(cli.commands)), *COMMANDS, *extra]:
        result = runner.invoke(cli, args)
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
        yield " ".join(args), result.stdout + result.stderr


def _said(texts: Iterator[tuple[str, str]]) -> list[str]:
    return [
        f"{command}: {line.strip()}" for command, text in texts for line in text.splitlines() if NEUTRAL.search(line)
    ]


def test_with_the_kernel_and_a_test_backend_nothing_printed_names_a_family(
    ultra_llm_clean_env: pytest.MonkeyPatch,
) -> None:
    _host(ultra_llm_clean_env, stand_in_plugin=False)
    printed = list(_everything_printed(["generate", "hello"], ["generate", "-b", "nothere", "hello"]))
    assert any("larder" in text for _, text in printed) and len(printed) > 20
    assert _said(iter(printed)) == []


def test_with_the_stand_in_installed_only_its_own_text_names_it(ultra_llm_clean_env: pytest.MonkeyPatch) -> None:
    """The stand-in's name, summary, models and availability reason are its own text; what the kernel
    prints around them names no family (a kernel hinting at a runner's variables would show here)."""
    host = _host(ultra_llm_clean_env, stand_in_plugin=True)
    spec = host.backends()["mock"]

    async def own_text() -> list[str]:
        backend = spec.load()(load_config())
        try:
            availability = await backend.check_availability()
            return [spec.summary, availability.reason, *(model.name for model in await backend.list_models())]
        finally:
            await backend.aclose()

    own = asyncio.run(own_text())
    printed = [(command, _without(text, own)) for command, text in _everything_printed(["generate", "hello"])]
    assert any("Serving:" in text for _, text in printed)
    assert _said(iter(printed)) == []


def _without(text: str, own: list[str]) -> str:
    """``text`` without the stand-in's own phrases, then without its name where it stands alone."""
    for phrase in sorted(filter(None, own), key=len, reverse=True):
        text = text.replace(phrase, "")
    return re.sub(r"(?<![\w-])mock(?![\w-])", "", text)


def test_without_a_stand_in_or_a_choice_the_kernels_error_names_no_family(
    ultra_llm_clean_env: pytest.MonkeyPatch,
) -> None:
    host = PluginHost(entry_points=lambda: [])
    host.register(Larder(stand_in=False), name="larder")
    ultra_llm_clean_env.setattr("ultra_llm._host._default_host", host, raising=False)
    result = CliRunner().invoke(build_cli(), ["generate", "hello"])
    assert result.exit_code == 2, result.output
    assert "No backend is selected" in result.stderr and "ULTRA_LLM_BACKEND" in result.stderr
    assert not NEUTRAL.search(result.stderr), result.stderr


def test_no_kernel_error_class_names_a_family_in_its_fix_or_doc() -> None:
    classes = [
        cls
        for _, cls in inspect.getmembers(ultra_llm.errors, inspect.isclass)
        if issubclass(cls, ultra_llm.errors.UltraLLMError)
    ]
    assert len(classes) >= 15
    said = [
        f"{cls.__name__}: {text}"
        for cls in classes
        for text in (str(getattr(cls, "default_fix", "") or ""), cls.__doc__ or "")
        if NEUTRAL.search(text)
    ]
    assert said == []
