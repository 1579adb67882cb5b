"""The package's layering: every import of an attnviz module, read from the source (top-level
and inside functions), goes down the layers below; there is no cycle and no hidden import.

The layers are listed here, bottom first; a module may import only modules of a lower layer.
A new module must be given a layer here, so that the layering stays a decision.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import attnviz

PACKAGE = Path(attnviz.__file__).resolve().parent

LAYERS = [
    ["attnviz.errors", "attnviz.labels"],  # plain types and errors
    ["attnviz.tree", "attnviz.words", "attnviz.loaded", "attnviz.memory"],
    ["attnviz.run"],
    ["attnviz.local", "attnviz.local.model", "attnviz.local.tokenizer"],  # the from-scratch model
    ["attnviz.local.checkpoint"],
    ["attnviz.sites", "attnviz.projections"],  # how to read each family of attention modules, and the check
    ["attnviz.hooks"],  # hooks
    ["attnviz.capture"],  # capture
    ["attnviz.models"],  # model registry / loading
    ["attnviz.stats", "attnviz.alignment", "attnviz.conllu_io", "attnviz.parsing", "attnviz.walkthrough",
     "attnviz.measures", "attnviz.ablation", "attnviz.head_scores"],  # analyses
    ["attnviz.scoring", "attnviz.erasure", "attnviz.sentence_scores", "attnviz.evidence"],  # erasure runs its forward passes through attnviz.ablation
    ["attnviz.figures.style", "attnviz.figures.safe_text"],  # figures
    ["attnviz.figures.heatmaps", "attnviz.figures.heatmap_svg", "attnviz.figures.arcs", "attnviz.figures.matrix_csv",
     "attnviz.figures.export"],
    ["attnviz.figures.cross"],  # cross-attention between two rows (uses arcs' drawing type)
    ["attnviz.figures"],
    ["attnviz.toygrammar", "attnviz.toygrammar.grammar"],  # the toy grammar, above everything it uses
    ["attnviz.toygrammar.evaluate"],
    ["attnviz.toygrammar.train"],
    ["attnviz.cli"],  # command line
    ["attnviz"],  # the public API re-exports everything
]
RANK = {module: rank for rank, modules in enumerate(LAYERS) for module in modules}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path) -> list[tuple[str, str | None, int, bool]]:
    """(imported module, imported name or None, line, inside a function) for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                out.extend((alias.name, None, child.lineno, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                out.extend((child.module, alias.name, child.lineno, in_function) for alias in child.names)
            visit(child, nested)

    visit(tree, False)
    return out


def edges() -> dict[str, set[str]]:
    """attnviz module -> the attnviz modules it imports (``from pkg import submodule`` counts as the submodule)."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for imported, name, _, _ in imports_of(path):
            if not (imported == "attnviz" or imported.startswith("attnviz.")):
                continue
            target = f"{imported}.{name}" if name and f"{imported}.{name}" in MODULES else imported
            if target != module:
                graph[module].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := dfs(nxt)):
                return cycle
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := dfs(node)):
            return cycle
    return None


def test_every_module_has_a_layer():
    assert sorted(set(MODULES) - set(RANK)) == [], "give each new module a layer in LAYERS"
    assert sorted(set(RANK) - set(MODULES)) == [], "LAYERS names modules that do not exist"


def test_the_import_graph_has_no_cycle():
    assert find_cycle(edges()) is None


def test_each_module_imports_only_from_the_layers_below():
    wrong = [f"{m} (layer {RANK[m]}) imports {t} (layer {RANK.get(t)})"
             for m, targets in edges().items() for t in sorted(targets) if RANK.get(t, 10**6) >= RANK[m]]
    assert wrong == []


def test_no_function_level_import_of_an_attnviz_module():
    hidden = [f"{module}:{line} imports {imported}" for module, path in MODULES.items()
              for imported, _, line, in_function in imports_of(path)
              if in_function and (imported == "attnviz" or imported.startswith("attnviz."))]
    assert hidden == []


def test_no_private_name_is_imported_from_another_module():
    private = [f"{module} imports {name} from {imported}" for module, path in MODULES.items()
               for imported, name, _, _ in imports_of(path)
               if imported.startswith("attnviz") and name and name.startswith("_") and name != "__version__"]
    assert private == []


def test_the_loading_path_never_reaches_training_code():
    graph = edges()
    seen, todo = set(), ["attnviz.models", "attnviz.capture"]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(graph.get(m, ()))
    assert sorted(m for m in seen if m.startswith("attnviz.toygrammar")) == []


def test_the_library_never_imports_streamlit():
    users = [module for module, path in MODULES.items()
             for imported, _, _, _ in imports_of(path) if imported.split(".")[0] == "streamlit"]
    assert users == []


def test_the_cycle_finder_finds_a_cycle():
    """The checks above would pass vacuously if the graph walker were broken: show it catches one."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert "attnviz.capture" in edges()["attnviz.models"] or "attnviz.hooks" in edges()["attnviz.capture"]


@pytest.mark.parametrize("source", [
    "def f():\n    from attnviz.capture import capture\n",
    "def f():\n    import attnviz.models\n",
])
def test_a_function_level_import_is_seen(tmp_path, source):
    path = tmp_path / "m.py"
    path.write_text(source)
    assert [(imp, inside) for imp, _, _, inside in imports_of(path)][0][1] is True
