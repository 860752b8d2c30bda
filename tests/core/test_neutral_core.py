"""The core knows no backend: a third-party backend's defaults, errors and doctor checks are its own,
the public API is narrow, and no Docker, model-runner or mock name is written anywhere in the core but
the one shim table (``ultra_llm._MOVED``) that keeps Ultra's 0.3 imports for a release."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner

import ultra_llm
import ultra_llm.plugin
from ultra_llm import create_adapter
from ultra_llm._cli.app import build_cli
from ultra_llm._host import PluginHost
from ultra_llm.errors import ModelNotFoundError
from ultra_llm.plugin import (
    Availability,
    Backend,
    BackendRegistrar,
    Check,
    Chunk,
    GenerationRequest,
    ModelInfo,
    hookimpl,
)

CORE = Path(ultra_llm.__file__).parent
PULL_FIX = "Run `llamafile-get {model}` on the model host."


class PantryBackend(Backend):
    """A third-party backend with its own naming, default model, missing-model fix and doctor check."""

    name: ClassVar[str] = "pantry"
    default_model: ClassVar[str] = "pantry:small"

    async def check_availability(self) -> Availability:
        return Availability(True, "always")

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("pantry:small", self.name)]

    def canonical_model(self, name: str) -> str:
        return name.lower()

    def model_missing(self, model: str, detail: str | None = None) -> ModelNotFoundError:
        return ModelNotFoundError(model, backend=self.name, detail=detail, fix=PULL_FIX.format(model=model))

    async def doctor_checks(self, model: str) -> list[Check]:
        return [*await super().doctor_checks(model), Check("pantry shelf", True, "stocked", required=False)]

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        if request.model != "pantry:small":
            raise self.model_missing(request.model)
        yield Chunk(f"{request.model} says {request.prompt}", finish_reason="stop")


class PantryPlugin:
    @hookimpl
    def ultra_llm_register_backends(self, register: BackendRegistrar) -> None:
        register("pantry", PantryBackend, summary="a third-party backend", aliases=["shelf"])

    @hookimpl
    def ultra_llm_select_backend(self, config: object) -> tuple[str, str] | None:
        import os

        return ("shelf", "USE_PANTRY=true") if os.environ.get("USE_PANTRY") == "true" else None


@pytest.fixture
def pantry(ultra_llm_host: PluginHost) -> PluginHost:
    ultra_llm_host.register(PantryPlugin(), name="pantry")
    return ultra_llm_host


def test_the_backends_default_model_and_names_are_used(pantry: PluginHost, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USE_PANTRY", "true")  # the plugin's own selection hook names an alias

    async def run() -> tuple[str, str, str]:
        async with await create_adapter(host=pantry) as adapter:
            return adapter.name, adapter.model, await adapter.generate("hi")

    assert asyncio.run(run()) == ("pantry", "pantry:small", "pantry:small says hi")


def test_the_backends_error_carries_its_own_fix(pantry: PluginHost) -> None:
    async def run() -> None:
        async with await create_adapter("Pantry:Large", backend="pantry", host=pantry) as adapter:
            await adapter.generate("hi")

    with pytest.raises(ModelNotFoundError) as caught:
        asyncio.run(run())
    assert caught.value.fix == PULL_FIX.format(model="pantry:large") and "docker" not in str(caught.value)


def test_doctor_renders_the_backends_own_checks_and_fixes(pantry: PluginHost, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFAULT_MODEL", "pantry:huge")
    monkeypatch.setattr("ultra_llm._host._default_host", pantry, raising=False)
    result = CliRunner().invoke(build_cli(), ["doctor", "--backend", "pantry"])
    out = result.stdout
    assert result.exit_code == 0, out  # a missing default model is a warning, not a failure
    assert "[ok  ] pantry shelf: stocked" in out
    assert "default model 'pantry:huge'" in out and f"fix: {PULL_FIX.format(model='pantry:huge')}" in out
    assert "docker" not in out.split("backend 'pantry' available", 1)[1].lower(), "no other backend's fix"


def test_the_top_level_api_is_narrow_and_every_name_resolves() -> None:
    # the application's calls and the types they return (Fallback: issue 32; FanOutEvent: issue 33)
    assert 15 <= len(ultra_llm.__all__) <= 26
    for name in ultra_llm.__all__:
        assert getattr(ultra_llm, name) is not None
    for name in ultra_llm.plugin.__all__:
        assert getattr(ultra_llm.plugin, name) is not None
    with pytest.raises(AttributeError):
        _ = ultra_llm.Backend  # type: ignore[attr-defined]  # authors' names live in ultra_llm.plugin


NEUTRAL = re.compile(r"docker|model[\s_-]?runner|\bmock\b", re.I)
"""What the kernel never says: no backend family, no stand-in by name (issue 25)."""


def _shim_table_lines() -> set[int]:
    """The line numbers of ``ultra_llm/__init__.py``'s ``_MOVED = {...}``: the one exception."""
    lines = (CORE / "__init__.py").read_text(encoding="utf-8").splitlines()
    start = lines.index("_MOVED = {")
    end = lines.index("}", start)
    return set(range(start + 2, end + 1))  # the entries, 1-based, between the braces


def test_no_backend_is_named_in_the_core() -> None:
    """Every file under ``ultra_llm/`` (code, the web console's scripts, pages and styles), no
    allow-list: only the shim's table entries may name the family they point to."""
    shim = _shim_table_lines()
    assert len(shim) == 6
    scanned = [path for path in sorted(CORE.rglob("*")) if path.suffix in {".py", ".js", ".html", ".css"}]
    assert {".py", ".js", ".html", ".css"} <= {path.suffix for path in scanned}
    found = [
        f"{path.relative_to(CORE)}:{number}: {line.strip()}"
        for path in scanned
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if NEUTRAL.search(line) and not (path == CORE / "__init__.py" and number in shim)
    ]
    assert found == []


def test_doctor_compares_the_default_model_by_its_canonical_name(
    pantry: PluginHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEFAULT_MODEL", "PANTRY:Small")  # the backend's canonical form is lower case
    monkeypatch.setattr("ultra_llm._host._default_host", pantry, raising=False)
    out = CliRunner().invoke(build_cli(), ["doctor", "--backend", "pantry"]).stdout
    assert "default model 'pantry:small'" not in out and "not found" not in out, out
    assert "All checks passed" in out
