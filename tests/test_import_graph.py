"""Imports go one way: no module of albert imports, directly or through others, a module that
imports it back. Read from the source (every ``import``, at module level or inside a function),
so a lazy import cannot hide a cycle; ``if TYPE_CHECKING:`` blocks are left out, as they never
run."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "albert"


def module_names() -> dict[str, Path]:
    modules = {}
    for path in (SOURCE / PACKAGE).rglob("*.py"):
        parts = list(path.relative_to(SOURCE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING" or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(tree: ast.AST):
    """Every import statement, skipping the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def source_module(node: ast.ImportFrom, name: str, path: Path) -> str:
    """The absolute name of the module a ``from ... import`` reads from."""
    if not node.level:
        return node.module or ""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    parts = package.split(".")
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def imported_by(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The albert modules ``name`` imports, with the packages each of them runs on the way
    (all but the top-level package, whose ``__init__`` is the public facade)."""
    targets: set[str] = set()
    for node in _statements(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        base = source_module(node, name, path)
        targets.add(base)
        targets.update(f"{base}.{alias.name}" for alias in node.names)
    found = set()
    for target in targets:
        while target and target != PACKAGE:
            # The packages around the importer are being imported already: not an edge.
            if target in modules and not (name == target or name.startswith(target + ".")):
                found.add(target)
            target = target.rpartition(".")[0]
    return found


def test_no_module_imports_a_module_that_imports_it_back():
    modules = module_names()
    graph = {name: imported_by(name, path, modules) for name, path in modules.items()}
    cycles = []
    for start in sorted(graph):
        # Depth-first from each module: a path back to it is a cycle.
        stack = [(start, [start])]
        seen = set()
        while stack:
            node, trail = stack.pop()
            for nxt in sorted(graph[node]):
                if nxt == start:
                    cycles.append(" -> ".join([*trail, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*trail, nxt]))
    assert not cycles, "import cycles:\n" + "\n".join(sorted(set(cycles)))


def test_no_module_inside_the_package_imports_the_package_itself():
    # ``from albert import tokenizer`` (a module) is fine; ``import albert`` or
    # ``from albert import __version__`` runs albert/__init__.py, which imports nearly everything.
    modules = module_names()
    offenders = []
    for name, path in modules.items():
        for node in _statements(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                whole = any(alias.name == PACKAGE for alias in node.names)
            else:
                from_package = source_module(node, name, path) == PACKAGE
                whole = from_package and any(f"{PACKAGE}.{alias.name}" not in modules for alias in node.names)
            if whole and name != PACKAGE:
                offenders.append(name)
    assert not offenders, f"these import the whole package (a cycle through albert/__init__.py): {offenders}"


def test_the_checker_sees_a_lazy_import_cycle(tmp_path, monkeypatch):
    # The specification can fail: two modules importing each other inside functions is a cycle.
    package = tmp_path / PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from . import b\n")
    (package / "b.py").write_text("def g():\n    from .a import f\n")
    monkeypatch.setattr(sys.modules[__name__], "SOURCE", tmp_path)
    modules = module_names()
    assert imported_by("albert.a", modules["albert.a"], modules) == {"albert.b"}
    assert imported_by("albert.b", modules["albert.b"], modules) == {"albert.a"}


def test_the_layers_under_the_model_do_not_name_it_even_for_types(monkeypatch):
    # backends.py and kernels/ are what modeling.py is built on: they read the model through the
    # EncodingModel protocol, so not even an ``if TYPE_CHECKING:`` import runs back up to it.
    monkeypatch.setattr(sys.modules[__name__], "_is_type_checking", lambda node: False)
    modules = module_names()
    below = {name: path for name, path in modules.items()
             if name == "albert.backends" or name.startswith("albert.kernels")}  # fmt: skip
    assert below
    upward = {name: sorted(imported & {"albert.modeling", "albert.fast"} | {m for m in imported if m.startswith("albert.fast.")})
              for name, path in below.items() if (imported := imported_by(name, path, modules))}  # fmt: skip
    assert not any(upward.values()), f"imports back up to the model: {upward}"
