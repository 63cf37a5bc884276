"""The house rules, checked over the source tree: imports point down and never
loop, the TUI never reaches into the CLI, and SQL lives only in storage."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pipedeck"

SQL = re.compile(
    r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT\s+(?:OR\s+\w+\s+)?INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b"
    r"|\b(?:CREATE|DROP|ALTER)\s+(?:UNIQUE\s+|VIRTUAL\s+)?(?:TABLE|INDEX|VIEW|TRIGGER)\b|\bPRAGMA\s+\w+"
    r"|\bBEGIN\s+(?:IMMEDIATE|EXCLUSIVE|DEFERRED|TRANSACTION)\b")


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    out = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for n in ast.walk(node)}
    return skip


def import_graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the pipedeck modules it imports anywhere (in functions too; not under TYPE_CHECKING)."""

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        skip = _type_checking_nodes(tree)
        targets: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                targets |= {t for a in node.names if (t := resolve(a.name))}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(parts + ([base] if base else []))
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    target = full if full in mods else resolve(base)
                    if target:
                        targets.add(target)
        targets.discard(name)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def sql_strings(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string literal in the file that reads as an SQL statement."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
            found.append((node.lineno, " ".join(node.value.split())[:80]))
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
            if SQL.search(text):
                found.append((node.lineno, " ".join(text.split())[:80]))
    return found


# -- the checks themselves are checked, so a rule cannot pass by checking nothing ----------------
def test_the_cycle_finder_finds_a_lazy_import_cycle(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def later():\n    from pkg.a import thing\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n")
    graph = import_graph(modules(pkg))
    assert cycles(graph) == [["pkg.a", "pkg.b"]]
    assert graph["pkg.c"] == set()


@pytest.mark.parametrize("code", [
    'q = "SELECT id FROM runs WHERE x = ?"',
    'q = f"UPDATE runs SET {sets} WHERE id = ?"',
    'q = "INSERT OR IGNORE INTO t (a) VALUES (?)"',
    'q = "DELETE FROM brands"',
    'q = "PRAGMA user_version"',
    'q = "CREATE INDEX i ON t (a)"',
])
def test_the_sql_finder_finds_sql(tmp_path, code):
    path = tmp_path / "m.py"
    path.write_text(code + "\n")
    assert sql_strings(path)


def test_the_sql_finder_leaves_words_alone(tmp_path):
    path = tmp_path / "m.py"
    path.write_text('a = "DELETE /__sandbox/faults clears them"\nb = "select a brand from the list"\n')
    assert sql_strings(path) == []


# -- the rules --------------------------------------------------------------------------------
def test_no_import_cycle_in_pipedeck():
    found = cycles(import_graph(modules()))
    assert found == [], "import cycles (lazy imports count): " + "; ".join(" <-> ".join(c) for c in found)


def test_the_tui_never_imports_the_cli():
    graph = import_graph(modules())
    bad = {m: sorted(t for t in targets if t == "pipedeck.cli" or t.startswith(("pipedeck.cli.", "pipedeck.cli_")))
           for m, targets in graph.items() if m.startswith("pipedeck.tui")}
    assert {m: t for m, t in bad.items() if t} == {}


def test_sql_lives_only_in_storage():
    outside = {}
    for name, path in modules().items():
        if name.startswith("pipedeck.storage"):
            continue
        found = sql_strings(path)
        if found:
            outside[name] = found
    assert outside == {}


def test_each_screen_has_its_own_module():
    """The runs list and a run's detail are two screens, each in its own room (issue 12.5)."""
    from pipedeck.tui.screens import pipeline, run_detail

    assert run_detail.RunDetailScreen.__module__ == "pipedeck.tui.screens.run_detail"
    assert not hasattr(pipeline, "RunDetailScreen")
    assert "RunDetailScreen" not in (PACKAGE / "tui" / "screens" / "pipeline.py").read_text()
