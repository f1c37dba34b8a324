"""The package's layering, checked from the source with ``ast``: mcod's modules import one
another without circles (a circle makes the import order matter and hides which layer a
module belongs to), and argparse stays in the command-line layers, so that the library
below them works on plain values a caller can build without a parser."""

from __future__ import annotations

import ast
from pathlib import Path

import mcod

PACKAGE = Path(mcod.__file__).parent
# the one layer that parses command lines: mcod's own, the benchmark's `mcod bench` included
ARGPARSE_HOMES = ("mcod.cli",)
# mcod's layers, bottom first: a module imports only from its own layer or those below
LAYERS: tuple[tuple[str, ...], ...] = (
    ("mcod", "mcod.io", "mcod.config"),  # mcod/__init__ imports its exports lazily
    ("mcod.data",),
    ("mcod.nn",),
    ("mcod.detector", "mcod.model_file", "mcod.persistence", "mcod.export", "mcod.cuts"),
    ("mcod.report",),
    ("mcod.bench",),
    ("mcod.cli", "mcod.__main__", "mcod.bench.__main__"),  # the entry points start the CLI
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import a module runs, at its top or inside a function; those only for the type
    checker (``if TYPE_CHECKING:``) are left out, as they never run."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def import_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(module -> the mcod modules it imports, module -> the top-level packages it imports).
    ``from mcod.x import y`` counts as importing ``mcod.x.y`` where that is a module."""
    files = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    external: dict[str, set[str]] = {}
    for name, path in files.items():
        graph[name], external[name] = set(), set()
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            for target in targets:
                if target in files:
                    graph[name].add(target)
                elif not target.startswith("mcod"):
                    external[name].add(target.split(".")[0])
            graph[name].discard(name)
    return graph, external


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as [a, b, ..., a], or None: a depth-first search for a back edge."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_modules_import_one_another_without_circles():
    graph, _ = import_graph()
    assert len(graph) > 30  # the walk found the package
    assert find_cycle(graph) is None


def test_the_cycle_finder_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_argparse_is_used_only_by_the_command_lines():
    _, external = import_graph()
    users = {name for name, packages in external.items() if "argparse" in packages}
    assert users, "argparse not found at all: the checker is broken"
    assert all(name == home or name.startswith(home + ".") for name in users
               for home in ARGPARSE_HOMES), sorted(users)


def _layer(module: str) -> int:
    """The index in LAYERS of the longest home that holds ``module``."""
    homes = [(len(home), rank) for rank, layer in enumerate(LAYERS) for home in layer
             if module == home or module.startswith(home + ".")]
    assert homes, f"{module} is in no layer: add its package to LAYERS"
    return max(homes)[1]


def test_imports_point_down_the_layers():
    graph, _ = import_graph()
    upward = sorted(f"{module} -> {target}" for module, targets in graph.items()
                    for target in targets if _layer(target) > _layer(module))
    assert upward == []
