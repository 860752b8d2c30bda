"""Every test the threat model names as a proof exists: ``path.py::test_name`` (or ``::test_name``,
in the file named before it on the same line) is a ``def`` in that file, so a renamed or deleted
test cannot leave a defence unproved on paper."""

from __future__ import annotations

import re

from tests.docs.docs_support import ROOT

PAGE = ROOT / "docs" / "threat-model.md"
REFERENCE = re.compile(r"`((?:[\w./-]+\.py)?)(?:::(\w+))?`")


def proofs() -> list[tuple[str, str]]:
    """``(file, test)`` pairs named in the page, ``::name`` resolved against the file before it on
    its line (a ``::name`` with no file before it on its line is kept with an empty file: missing)."""
    found: list[tuple[str, str]] = []
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        last_file = ""
        for path, name in REFERENCE.findall(line):
            last_file = path or last_file
            if name:
                found.append((last_file, name))
    return found


def test_the_page_names_proofs() -> None:
    assert len(proofs()) >= 15


def test_every_named_proof_is_a_test_that_exists() -> None:
    missing = [
        f"{path}::{name}"
        for path, name in proofs()
        if not path
        or not (ROOT / path).is_file()
        or not re.search(rf"^\s*(?:async )?def {name}\(", (ROOT / path).read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert missing == []
