"""Plugin loading: isolation, allow and deny lists, strict mode, misnamed hooks, laziness, tracing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.core.plugins import BROKEN_PLUGINS, RunnerStandIns, install_distribution
from ultra_llm import BackendNotFoundError, PluginError, hookimpl
from ultra_llm.host import PluginHost


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on sys.path where tests install plugin distributions."""
    directory = tmp_path / "site"
    directory.mkdir()
    monkeypatch.syspath_prepend(str(directory))
    yield directory
    for module in BROKEN_PLUGINS:
        sys.modules.pop(module, None)


@pytest.fixture
def broken_site(site: Path) -> Path:
    for module, source in BROKEN_PLUGINS.items():
        install_distribution(site, module, source)
    return site


def test_broken_plugins_are_recorded_and_stop_nothing(broken_site: Path) -> None:
    host = PluginHost()
    backends = host.backends()
    assert "mock" in backends
    records = host.records
    assert records["mock"].status == "loaded"
    assert "boom at import" in (records["raises_at_import"].error or "")
    assert records["raises_at_import"].distribution == "ultra-llm-test-raises-at-import"
    assert "ultra_llm_register_backend" in (records["misnamed_hook"].error or "")
    assert "boom in register" in (records["raises_in_register"].error or "")
    assert {records[name].status for name in BROKEN_PLUGINS} == {"failed"}


def test_strict_mode_makes_a_broken_plugin_fatal(broken_site: Path) -> None:
    host = PluginHost(environ={"ULTRA_LLM_STRICT_PLUGINS": "1"})
    with pytest.raises(PluginError) as caught:
        host.backends()
    assert caught.value.plugin in BROKEN_PLUGINS
    assert "ULTRA_LLM_STRICT_PLUGINS" in caught.value.fix


def test_deny_list_skips_by_entry_point_or_distribution(broken_site: Path) -> None:
    host = PluginHost(environ={"ULTRA_LLM_DISABLE_PLUGINS": "raises_at_import, ultra-llm-test-misnamed-hook"})
    host.load()
    assert host.records["raises_at_import"].status == "disabled"
    assert host.records["misnamed_hook"].status == "disabled"
    assert host.records["raises_in_register"].status == "loaded"
    assert "raises_at_import" not in sys.modules


@pytest.mark.parametrize(("value", "loaded"), [("", set()), ("mock", {"mock"}), ("ultra-llm-mock", {"mock"})])
def test_allow_list(value: str, loaded: set[str]) -> None:
    host = PluginHost(environ={"ULTRA_LLM_LOAD_PLUGINS": value})
    host.load()
    assert {name for name, r in host.records.items() if r.status == "loaded" and name != "ultra_llm.core"} == loaded
    if not loaded:
        with pytest.raises(BackendNotFoundError) as caught:
            host.resolve_backend_name("mock")
        assert "registered: none" in caught.value.message


def test_loading_is_lazy_and_idempotent() -> None:
    host = PluginHost()
    assert host.records == {}
    host.load()
    first = dict(host.records)
    host.load()
    assert host.records == first
    loaded = [name for name, record in first.items() if record.status == "loaded"]
    assert sorted(host.pm.get_name(p) for p in host.pm.get_plugins()) == sorted(loaded)


def test_loading_plugins_imports_no_backend_module() -> None:
    sys.modules.pop("ultra_llm_mock.backend", None)
    host = PluginHost()
    assert "mock" in host.backends()
    assert "ultra_llm_mock.backend" not in sys.modules
    host.backend_spec("mock").load()
    assert "ultra_llm_mock.backend" in sys.modules


def test_duplicate_backend_name_is_refused_for_the_second_plugin() -> None:
    class Duplicate:
        @hookimpl
        def ultra_llm_register_backends(self, register):  # type: ignore[no-untyped-def]
            register("mock", "ultra_llm_mock.backend:MockBackend")

    host = PluginHost()
    host.register(Duplicate(), name="duplicate")
    specs = host.backends()
    assert specs["mock"].plugin == "mock"
    assert "already registered" in (host.records["duplicate"].error or "")


def test_aliases_resolve() -> None:
    host = PluginHost(environ={"ULTRA_LLM_LOAD_PLUGINS": "mock"})
    host.register(RunnerStandIns(), name="standins")
    assert host.resolve_backend_name("api-alias") == "docker-api"


def test_register_rejects_a_misnamed_hook_in_process() -> None:
    class Misnamed:
        @hookimpl
        def ultra_llm_generat(self, request):  # type: ignore[no-untyped-def]
            return None

    host = PluginHost()
    with pytest.raises(PluginError) as caught:
        host.register(Misnamed(), name="misnamed")
    assert "ultra_llm_generat" in caught.value.message
    assert not host.pm.has_plugin("misnamed")


def test_invalid_backend_target_is_a_plugin_error() -> None:
    class BadTarget:
        @hookimpl
        def ultra_llm_register_backends(self, register):  # type: ignore[no-untyped-def]
            register("bad", "no_such_module_ultra:Thing")
            register("notabackend", "json:dumps")

    host = PluginHost()
    host.register(BadTarget(), name="badtarget")
    with pytest.raises(PluginError, match="could not import"):
        host.backend_spec("bad").load()
    with pytest.raises(PluginError, match=r"not a ultra_llm\.Backend"):
        host.backend_spec("notabackend").load()


def test_tracing_reports_hook_calls() -> None:
    from ultra_llm import load_config
    from ultra_llm.selection import instantiate
    from ultra_llm.types import GenerationRequest, to_messages

    lines: list[str] = []
    host = PluginHost()
    host.enable_tracing(lines.append)
    backend = instantiate(host, "mock", load_config())
    request = GenerationRequest("mock/echo", to_messages("hi"), None, "mock")
    call = host.hooks.stream_call(request, backend)
    assert callable(call)
    assert any("ultra_llm_stream" in line for line in lines)
