"""The generated references cover the code and match it: every variable, every typed error, every
CLI command, every API block.

The pages' generated blocks are written by ``docs/hooks/ultra_llm_docs.py`` and committed, so the
docs read as plain files; these tests check the committed blocks are what the code generates now,
and that nothing the code knows is missing. They need every shipped distribution installed (CI's
full run), as the blocks document them all.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

import click
import pytest

from tests.docs.docs_support import ROOT, docs_hooks, page
from ultra_llm import errors

# A variable name ends with a letter or digit, not with `_` or `_*` (prefixes like ULTRA_LLM_MOCK_*).
VARIABLE = re.compile(r"\b(?:ULTRA_LLM|MODEL_RUNNER)_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_*])|\bUSE_MODEL_RUNNER\b")
KNOWN_UNDOCUMENTED: dict[str, str] = {}
"""Known defects in the code, not the docs; each entry fails ``test_known_gaps_still_exist`` once fixed."""
SOURCES = [ROOT / "ultra_llm", *sorted((ROOT / "plugins").glob("*/ultra_llm_*"))]


def plugin_error_modules() -> list[ModuleType]:
    """The ``errors`` module of each installed plugin's top-level package that has one (a plugin
    family's own typed errors), in entry-point order, each once."""
    packages = dict.fromkeys(point.value.split(":")[0].split(".")[0] for point in entry_points(group="ultra_llm"))
    return [
        importlib.import_module(f"{package}.errors")
        for package in packages
        if package != "ultra_llm" and importlib.util.find_spec(f"{package}.errors") is not None
    ]


ERROR_MODULES = [errors, *plugin_error_modules()]
"""The kernel's typed errors, then those of the installed plugins: the troubleshooting page covers all."""


def variables_in_source() -> dict[str, str]:
    """Every environment variable named in the core's and the shipped plugins' source -> a file naming it."""
    found: dict[str, str] = {}
    for source in SOURCES:
        for path in sorted(source.rglob("*.py")):
            for name in VARIABLE.findall(path.read_text(encoding="utf-8")):
                found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def test_the_scan_finds_variables() -> None:
    found = variables_in_source()
    assert {"USE_MODEL_RUNNER", "MODEL_RUNNER_TYPE", "ULTRA_LLM_FALLBACK", "ULTRA_LLM_TRACE_HOOKS"} <= set(found)


def test_every_variable_in_the_source_is_documented() -> None:
    rendered = docs_hooks().render_markers(page("configuration.md"))
    found = variables_in_source()
    missing = {name: where for name, where in found.items() if f"`{name}`" not in rendered}
    missing = {name: where for name, where in missing.items() if name not in KNOWN_UNDOCUMENTED}
    assert not missing, f"variables named in the code but not in docs/configuration.md: {missing}"


def test_known_gaps_still_exist() -> None:
    """Remove an entry from KNOWN_UNDOCUMENTED when its defect is fixed."""
    found = variables_in_source()
    stale = {name for name, where in KNOWN_UNDOCUMENTED.items() if found.get(name) != where}
    assert not stale, f"fixed (remove from KNOWN_UNDOCUMENTED): {stale}"


def test_the_committed_blocks_match_the_code() -> None:
    stale = docs_hooks().stale_pages()
    assert not stale, f"regenerate with `python docs/hooks/ultra_llm_docs.py`: stale pages {stale}"
    assert '"Not generated"' not in page("configuration.md"), "a package documented on the page is not installed"


def test_a_stale_or_new_block_is_found_and_rewritten(tmp_path: Path) -> None:
    """The check itself: a block edited by hand is stale; a marker without its end gets a block."""
    hooks = docs_hooks()
    edited = page("cli.md").replace("| `--json` | Print JSON. |", "| `--json` | Print YAML. |", 1)
    assert edited != page("cli.md")
    (tmp_path / "cli.md").write_text(edited)
    (tmp_path / "new.md").write_text("# New\n\n<!-- ultra-llm: api ultra_llm:Usage -->\n\nAfter.\n")
    assert hooks.stale_pages(tmp_path) == ["cli.md", "new.md"]
    assert hooks.stale_pages(tmp_path, write=True) == ["cli.md", "new.md"]
    assert hooks.stale_pages(tmp_path) == []
    assert (tmp_path / "cli.md").read_text() == page("cli.md")
    new = (tmp_path / "new.md").read_text()
    assert "| `prompt_tokens` |" in new and new.endswith("<!-- /ultra-llm -->\n\nAfter.\n")


def test_every_typed_error_is_in_the_troubleshooting_page() -> None:
    source = page("troubleshooting.md")
    assert docs_hooks().ERROR_MARKER in source
    rendered = docs_hooks().render_markers(source)
    exported = [getattr(module, name) for module in ERROR_MODULES for name in module.__all__]
    classes = [cls for cls in exported if isinstance(cls, type) and issubclass(cls, errors.UltraLLMError)]
    assert classes == docs_hooks().error_classes() or set(classes) == set(docs_hooks().error_classes())
    for cls in classes:
        section = rendered.split(f"### `{cls.__name__}`\n", 1)
        assert len(section) == 2, f"{cls.__name__} has no section"
        assert "**Fix:** " in section[1].split("### ", 1)[0], f"{cls.__name__} has no fix"


@pytest.mark.parametrize("error", [getattr(m, n) for m in ERROR_MODULES for n in m.__all__ if n.endswith("Error")])
def test_every_error_carries_a_fix(error: type[Exception]) -> None:
    fix = docs_hooks().example_fix(error)
    assert fix and len(fix.split()) >= 3


def test_the_seed_table_names_real_errors() -> None:
    table = page("troubleshooting.md").split("## Every typed error", 1)[0]
    named = set(re.findall(r"`([A-Z]\w+Error)`", table))
    assert named, "the common-problems table names no error"
    known = {name for module in ERROR_MODULES for name in module.__all__}
    assert named <= known, f"unknown errors in the table: {named - known}"


def test_every_cli_command_is_in_the_generated_reference() -> None:
    """The CLI page's block is generated from the click app: every command and subcommand has its section."""
    from ultra_llm._cli.app import build_cli

    cli = build_cli()
    assert isinstance(cli, click.Group) and cli.commands
    source = page("cli.md")
    for name, command in cli.commands.items():
        assert f"### `ultra-llm {name}`\n" in source, name
        for sub in getattr(command, "commands", {}):
            assert f"#### `ultra-llm {name} {sub}`\n" in source, f"{name} {sub}"


SERVE_ADDRESS = re.compile(r"\b(?:127\.0\.0\.1|localhost|0\.0\.0\.0|host):(\d+)")


def test_the_docs_give_serve_the_port_it_listens_on() -> None:
    """Every address in a paragraph (or table row) about `ultra-llm serve` (README and docs) has the
    command's real default port, ``DEFAULT_PORT``: the README once said 8000."""
    from ultra_llm._cli.commands_serve import DEFAULT_PORT

    texts = {"README.md": (ROOT / "README.md").read_text(encoding="utf-8")}
    texts.update({path.name: path.read_text(encoding="utf-8") for path in sorted((ROOT / "docs").glob("*.md"))})
    ports = [
        (name, int(port))
        for name, text in texts.items()
        for paragraph in text.split("\n\n")
        for part in (paragraph.splitlines() if paragraph.startswith("|") else [paragraph])  # a table: by row
        if "ultra-llm serve" in part
        for port in SERVE_ADDRESS.findall(part)
    ]
    assert {"README.md", "web.md"} <= {name for name, _ in ports}
    assert [(name, port) for name, port in ports if port != DEFAULT_PORT] == []


def test_the_front_pages_name_every_shipped_plugin() -> None:
    """README and the docs' index name each distribution under ``plugins/``."""
    shipped = sorted(path.name for path in (ROOT / "plugins").iterdir() if (path / "pyproject.toml").is_file())
    assert len(shipped) == 6  # five plugins and the Docker family package
    for text in ((ROOT / "README.md").read_text(encoding="utf-8"), page("index.md")):
        assert [name for name in shipped if f"`{name}`" not in text] == []
