"""Plugin loading: isolation, allow and deny lists, strict mode, misnamed hooks, laziness, tracing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.core.plugins import BROKEN_PLUGINS, ServerStandIns, install_distribution
from ultra_llm._host import PluginHost
from ultra_llm.errors import BackendNotFoundError, PluginError
from ultra_llm.plugin import hookimpl


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
    host.register(ServerStandIns(), name="standins")
    assert host.resolve_backend_name("on-alias") == "online"


def test_register_rejects_a_misnamed_hook_in_process() -> None:
    class Misnamed:
        @hookimpl
        def ultra_llm_generat(self, request):  # type: ignore[no-untyped-def]
            return None

    host = PluginHost()
    with pytest.raises(PluginError) as caught:
        host.register(Misnamed(), name="misnamed")
    assert "unknown hook ultra_llm_generat" in caught.value.message
    assert not host.pm.has_plugin("misnamed")


def test_a_misspelt_hook_suggests_the_right_name() -> None:
    class Misspelt:
        @hookimpl
        def ultra_llm_register_backend(self, register):  # type: ignore[no-untyped-def]
            register("never", "json:dumps")

    host = PluginHost()
    with pytest.raises(PluginError, match="did you mean ultra_llm_register_backends"):
        host.register(Misspelt(), name="misspelt")


def test_an_optional_hook_of_a_later_release_loads_and_its_known_hooks_work() -> None:
    """pluggy's ``optionalhook``: a plugin may implement the next release's hook and still load here."""

    class Forward:
        @hookimpl(optionalhook=True)
        def ultra_llm_hook_of_a_later_release(self) -> None:
            raise AssertionError("a hook this release has no spec for is never called")

        @hookimpl
        def ultra_llm_register_backends(self, register):  # type: ignore[no-untyped-def]
            register("forward-echo", "json:dumps")

    host = PluginHost()
    host.register(Forward(), name="forward")
    assert host.pm.has_plugin("forward") and host.records["forward"].status == "loaded"
    assert "forward-echo" in host.backends()


def test_an_optional_hook_does_not_hide_a_misspelt_one() -> None:
    class Both:
        @hookimpl(optionalhook=True)
        def ultra_llm_hook_of_a_later_release(self) -> None: ...

        @hookimpl
        def ultra_llm_register_backend(self, register):  # type: ignore[no-untyped-def]
            register("never", "json:dumps")

    host = PluginHost()
    with pytest.raises(PluginError, match="did you mean ultra_llm_register_backends") as caught:
        host.register(Both(), name="both")
    assert "ultra_llm_hook_of_a_later_release" not in caught.value.message


def test_a_0_1_call_hook_fails_the_plugin_with_the_migration() -> None:
    class OldWrapper:
        @hookimpl(wrapper=True)
        def ultra_llm_stream(self, request):  # type: ignore[no-untyped-def]
            return (yield)

        @hookimpl
        def ultra_llm_register_backends(self, register):  # type: ignore[no-untyped-def]
            register("old-backend", "json:dumps")

    host = PluginHost()
    with pytest.raises(PluginError) as caught:
        host.register(OldWrapper(), name="old")
    message = caught.value.message
    assert "ultra_llm_stream, removed in ultra-llm 0.2" in message
    assert "stream(request, call_next) from ultra_llm_middleware" in message and "Migrating from 0.1" in message
    assert "old-backend" not in host.backends()


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


def test_tracing_reports_every_hook_called_one_plugin_at_a_time() -> None:
    class Models:
        @hookimpl
        def ultra_llm_register_models(self, register):  # type: ignore[no-untyped-def]
            register("mock/extra")

    class NoLayer:  # the middleware hook implemented (no layer), whatever else is installed
        @hookimpl
        def ultra_llm_middleware(self, backend):  # type: ignore[no-untyped-def]
            return None

    lines: list[str] = []
    host = PluginHost()
    host.register(Models(), name="models")
    host.register(NoLayer(), name="no-layer")
    host.enable_tracing(lines.append)
    host.backends()
    assert [m.name for m in host.hooks.register_models("mock")] == ["mock/extra"]
    from ultra_llm import load_config
    from ultra_llm._selection import instantiate

    host.hooks.chain(instantiate(host, "mock", load_config()))
    traced = "".join(lines)
    for hook in ("ultra_llm_register_backends", "ultra_llm_register_models", "ultra_llm_middleware"):
        assert hook in traced, f"{hook} not traced in {traced!r}"
