"""docs/hooks.md documents every hookspec under its exact signature (datasette's check).

Each hook's section must be headed ``## `SIGNATURE` `` with the signature as written in
``ultra_llm/hookspecs.py``, must hold the hookspec's docstring (the block ``<!-- ultra-llm: hook NAME -->``),
and must say ``firstresult`` when the spec is one. No section may document a hook that does not exist.
"""

from __future__ import annotations

import re

import pytest

from tests.docs.docs_support import docs_hooks, page
from ultra_llm import _hookspecs as hookspecs

HEADING = re.compile(r"^## `(?P<signature>(?P<name>ultra_llm_\w+)\(.*\).*)`$", re.MULTILINE)
SPECS = docs_hooks().hookspecs()


def sections() -> dict[str, tuple[str, str]]:
    """Documented hook name -> (heading signature, section text)."""
    text = page("hooks.md")
    matches = list(HEADING.finditer(text))
    found: dict[str, tuple[str, str]] = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        assert match["name"] not in found, f"{match['name']} is documented twice"
        found[match["name"]] = (match["signature"], text[match.end() : end])
    return found


def test_the_hookspecs_are_found() -> None:
    declared = {name for name in dir(hookspecs) if name.startswith("ultra_llm_")}
    assert SPECS and set(SPECS) == declared


def test_every_hookspec_is_documented_and_nothing_else() -> None:
    assert set(sections()) == set(SPECS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_documented_signature_matches_the_spec(name: str) -> None:
    spec = SPECS[name]
    documented = sections().get(name)
    assert documented is not None, f"{name} is not documented in docs/hooks.md"
    signature, body = documented
    assert signature == docs_hooks().hookspec_signature(spec)
    assert f"<!-- ultra-llm: hook {name} -->\n" in body, f"{name}'s section does not hold its docstring"
    firstresult = getattr(spec, f"{hookspecs.PROJECT_NAME}_spec")["firstresult"]
    assert ("firstresult" in body) == firstresult, f"{name}: the calling convention is not stated right"
    assert spec.__doc__ and len(spec.__doc__.split()) > 10, f"{name} has no real docstring"


def test_a_drifted_signature_is_caught() -> None:
    """The check compares against the code: a changed annotation gives a different signature."""

    def ultra_llm_middleware(backend: str) -> None: ...

    assert docs_hooks().hookspec_signature(ultra_llm_middleware) != sections()["ultra_llm_middleware"][0]
