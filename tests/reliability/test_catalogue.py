"""docs/fault-catalogue.md stays true: every row's tests exist, every fault of issue 6 has a row,
and a row marked "proved" cites no test that is an expected failure."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "docs" / "fault-catalogue.md"
NODE_ID = re.compile(r"`((?:plugins/[\w-]+/)?tests/[\w/]+\.py)::([\w:]+)(?:\[[^\]`]*\])?`")

REQUIRED_FAULTS = [
    "docker missing",
    "daemon down",
    "runner disabled",
    "CLI plugin missing",
    "unknown model",
    "pull failing mid-way",
    "process killed mid-stream",
    "process hanging with no output",
    "non-UTF-8 bytes on stdout",
    "server refusing connections",
    "server closing mid-stream",
    "malformed SSE or JSON",
    "slow first byte",
    "429 and 503 storms",
    "responses far larger than expected",
    "hostile plugin: raising at import",
    "hostile plugin: raising in a hook",
    "hostile plugin: returning the wrong type",
    "hostile plugin: hanging",
    "middleware that raises",
]
BACKENDS = {"docker-cli", "docker-api", "mock", "any"}


@dataclass(frozen=True)
class Row:
    fault: str
    backend: str
    status: str
    tests: list[tuple[str, str]]


def rows() -> list[Row]:
    lines = [line for line in CATALOGUE.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == ["Fault", "Backend", "How the test makes it", "What the user sees", "What is guaranteed",
                      "Status", "Tests"]  # fmt: skip
    found = []
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert len(cells) == len(header), f"a row with {len(cells)} cells: {line[:80]}"
        found.append(Row(cells[0], cells[1], cells[5], NODE_ID.findall(cells[6])))
    return found


def definitions(path: Path) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    """Test functions of a module by node-id name (``test_x`` or ``TestClass::test_x``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    found[f"{node.name}::{item.name}"] = item
    return found


def is_xfail(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any("xfail" in ast.unparse(decorator) for decorator in function.decorator_list)


def test_the_table_parses_and_every_row_cites_tests() -> None:
    table = rows()
    assert len(table) >= len(REQUIRED_FAULTS)
    for row in table:
        assert row.backend in BACKENDS, row
        assert row.status in {"proved", "open bug (xfail)"}, row
        assert row.tests, f"row '{row.fault}' ({row.backend}) cites no test"


def test_every_fault_of_the_issue_has_a_row() -> None:
    faults = {row.fault for row in rows()}
    assert [fault for fault in REQUIRED_FAULTS if fault not in faults] == []


def test_every_cited_test_exists() -> None:
    missing = []
    for row in rows():
        for file, name in row.tests:
            path = ROOT / file
            if not path.is_file() or name not in definitions(path):
                missing.append(f"{file}::{name}")
    assert missing == []


def test_proved_rows_cite_no_expected_failure_and_open_rows_cite_one() -> None:
    for row in rows():
        flags = [is_xfail(definitions(ROOT / file)[name]) for file, name in row.tests]
        if row.status == "proved":
            assert not any(flags), f"row '{row.fault}' ({row.backend}) is marked proved but cites an xfail"
        else:
            assert any(flags), f"row '{row.fault}' ({row.backend}) is marked open but cites no xfail"


def test_the_node_id_pattern_and_lookup_work(tmp_path: Path) -> None:
    sample = tmp_path / "test_sample.py"
    sample.write_text("import pytest\n\n@pytest.mark.xfail(strict=True)\ndef test_a():\n    pass\n\n"
                      "class TestB:\n    def test_c(self):\n        pass\n")  # fmt: skip
    found = definitions(sample)
    assert (
        set(found) == {"test_a", "TestB::test_c"} and is_xfail(found["test_a"]) and not is_xfail(found["TestB::test_c"])
    )
    assert NODE_ID.findall("`tests/x/test_y.py::test_z[a-b]`") == [("tests/x/test_y.py", "test_z")]
    assert NODE_ID.findall("`plugins/ultra-llm-mock/tests/test_y.py::test_z`") == [
        ("plugins/ultra-llm-mock/tests/test_y.py", "test_z")
    ]
