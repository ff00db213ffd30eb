"""Collaborators are passed in, never swapped from outside: no code or test assigns
another object's private attribute, and no test monkeypatches the project's internals
(Assistant(settings, store=..., embedder=..., llm=...) and ChunkStore(client=...) are
the seams)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(p for d in ("assistant", "ui", "tests", "bench") for p in (ROOT / d).rglob("*.py"))
PROJECT = ("assistant", "ui")


def _same_class_names(tree: ast.AST) -> dict[ast.AST, set[str]]:
    """Per method: names bound to a new instance of the method's own class (a class may
    set up its own kind's private state, e.g. a store preparing a sibling store)."""
    out: dict[ast.AST, set[str]] = {}
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        for fn in (n for n in ast.walk(cls) if isinstance(n, ast.FunctionDef)):
            out[fn] = {
                t.id
                for a in ast.walk(fn)
                if isinstance(a, ast.Assign) and _makes(a.value, cls.name)
                for t in a.targets
                if isinstance(t, ast.Name)
            }
    return out


def _makes(value: ast.AST, name: str) -> bool:
    """``Name(...)`` or ``object.__new__(Name)``: a new instance of class ``name``."""
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    if isinstance(func, ast.Name):
        return func.id == name
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "__new__"
        and bool(value.args)
        and getattr(value.args[0], "id", None) == name
    )


def private_assignments(tree: ast.AST) -> list[tuple[int, str]]:
    """``obj._name = ...`` (also ``+=`` and annotated) where ``obj`` is not self, cls or
    a fresh instance of the method's own class."""
    own = _same_class_names(tree)
    found = []

    def visit(node: ast.AST, allowed: set[str]) -> None:
        if node in own:
            allowed = {"self", "cls"} | own[node]
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            for t in ast.walk(target):
                if (
                    isinstance(t, ast.Attribute)
                    and t.attr.startswith("_")
                    and not t.attr.startswith("__")
                    and not (isinstance(t.value, ast.Name) and t.value.id in allowed)
                ):
                    found.append((t.lineno, ast.unparse(t)))
        for child in ast.iter_child_nodes(node):
            visit(child, allowed)

    visit(tree, {"self", "cls"})
    return found


def project_patches(tree: ast.AST) -> list[tuple[int, str]]:
    """``setattr`` / ``monkeypatch.setattr`` on a project module, class or object."""
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PROJECT:
            imported |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Import):
            imported |= {
                (a.asname or a.name).split(".")[0]
                for a in node.names
                if a.name.split(".")[0] in PROJECT
            }
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.args):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name not in ("setattr", "delattr"):
            continue
        first = node.args[0]
        root = first
        while isinstance(root, (ast.Attribute, ast.Call, ast.Subscript)):
            root = root.func if isinstance(root, ast.Call) else root.value
        if (isinstance(root, ast.Name) and root.id in imported) or (
            isinstance(first, ast.Constant) and str(first.value).split(".")[0] in PROJECT
        ):
            found.append((node.lineno, ast.unparse(node)[:80]))
    return found


def test_the_checks_find_what_they_look_for():
    code = (
        "from assistant.api import Assistant\nimport ui.app as app\n"
        "bot._store = None\nself._ok = 1\nx.y._embedder += 1\n"
        "monkeypatch.setattr(Assistant, 'retrieve', f)\nsetattr(app.gr, 'x', 1)\n"
        "monkeypatch.setattr('assistant.store.chunks.PAGE', 1)\nmonkeypatch.setattr(type(g), 'llm', p)\n"
        "class Store:\n    def sibling(self, other):\n        new = Store()\n"
        "        new._collection = 1\n        other._collection = 2\n"
        "    def view(self):\n        v = object.__new__(Store)\n        v._k = 1\n"
    )
    tree = ast.parse(code)
    assert [line for line, _ in private_assignments(tree)] == [3, 5, 14]
    assert [line for line, _ in project_patches(tree)] == [6, 7, 8]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_attribute_is_assigned_from_outside(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert private_assignments(tree) == []
    if path.is_relative_to(ROOT / "tests"):
        assert project_patches(tree) == []
