"""The layering contract: every import of an attnviz module, read from the source (top-level
and inside functions), goes down the layers; there is no cycle and no hidden import. The app's
``components/`` never import ``pages/`` and have no hub.

The layers are written once, in the ``attnviz/__init__.py`` docstring (bottom first, one rank a line);
this file reads them from there (``contract``), and ``docs/library.md``'s layer table is made from
them (``layer_table``; ``python tests/test_layers.py`` writes it), so the three cannot disagree.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import attnviz

PACKAGE = Path(attnviz.__file__).resolve().parent
ROOT = PACKAGE.parent
COMPONENTS = ROOT / "components"
DOCS = ROOT / "docs" / "library.md"
TABLE_START = "<!-- the layer table: made by tests/test_layers.py from the attnviz/__init__.py docstring; do not edit -->"
TABLE_END = "<!-- end of the layer table -->"
#: A components module that imports this many other components modules is a hub (it draws widgets,
#: reads the session, loads models): no other components module imports it for one name only.
HUB_IMPORTS = 3


def contract(doc: str | None = None) -> list[tuple[str, list[str]]]:
    """(layer name, modules) per rank, bottom first, from the indented list after "Layers, bottom first"
    in the package docstring: ``    name:   a, b`` starts a layer, ``            c`` adds a rank to it."""
    lines = (attnviz.__doc__ if doc is None else doc).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Layers, bottom first"))
    block = lines[start + 1:]
    while block and not block[0].startswith("    "):  # the rest of the paragraph, the blank line
        block.pop(0)
    ranks, name = [], ""
    for line in block:
        if not line.startswith("    ") or not line.strip():
            break
        match = re.match(r"^    (?:(\w+):)?\s+(\S.*)$", line)
        assert match, f"not a layer line: {line!r}"
        name = match[1] or name
        ranks.append((name, [m if m == "attnviz" else f"attnviz.{m}" for m in re.split(r",\s*", match[2].strip())]))
    return ranks


LAYERS = [modules for _, modules in contract()]
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
    assert sorted(set(MODULES) - set(RANK)) == [], "give each new module a place in the layer list of the attnviz/__init__.py docstring"
    assert sorted(set(RANK) - set(MODULES)) == [], "the attnviz/__init__.py docstring's layer list names modules that do not exist"


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
    seen, todo = set(), ["attnviz.models", "attnviz.capturing", "attnviz.generation"]
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
    assert "attnviz.capturing" in edges()["attnviz.models"] and "attnviz.hooks" in edges()["attnviz.capturing"]


@pytest.mark.parametrize("source", [
    "def f():\n    from attnviz.capturing import capture\n",
    "def f():\n    import attnviz.models\n",
])
def test_a_function_level_import_is_seen(tmp_path, source):
    path = tmp_path / "m.py"
    path.write_text(source)
    assert [(imp, inside) for imp, _, _, inside in imports_of(path)][0][1] is True


def test_the_contract_names_each_module_once_and_is_read_from_the_docstring():
    named = [m for modules in LAYERS for m in modules]
    assert len(named) == len(set(named)), "a module is on two lines of the attnviz docstring"
    assert [name for name, _ in contract()][:1] == ["types"] and LAYERS[-1] == ["attnviz"]
    sample = "x\n\nLayers, bottom first. Words\nmore words.\n\n    low:   a, b\n           c\n    top:   attnviz\n\nafter\n"
    assert contract(sample) == [("low", ["attnviz.a", "attnviz.b"]), ("low", ["attnviz.c"]), ("top", ["attnviz"])]


# ---------------------------------------------------------------- the docs' layer table


def summary(path: Path) -> str:
    """The first paragraph of a module's docstring, on one line (``|`` escaped for a Markdown table)."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return " ".join(doc.split("\n\n")[0].split()).replace("|", "\\|")


def layer_table() -> str:
    """The Markdown table of ``contract()``: one row per module, bottom first, with its rank and what it is."""
    rows = ["| layer | rank | module | what it is |", "|---|---|---|---|"]
    seen = set()
    for rank, (name, modules) in enumerate(contract(), start=1):
        for module in modules:
            path = MODULES[module].relative_to(PACKAGE).as_posix()
            rows.append(f"| {'' if name in seen else name} | {rank} | `{path}` | {summary(MODULES[module])} |")
            seen.add(name)
    return "\n".join(rows)


def write_layer_table(text: str) -> str:
    """``text`` (docs/library.md) with the block between TABLE_START and TABLE_END made anew."""
    before, rest = text.split(TABLE_START, 1)
    after = rest.split(TABLE_END, 1)[1]
    return f"{before}{TABLE_START}\n{layer_table()}\n{TABLE_END}{after}"


def test_the_docs_layer_table_is_made_from_the_contract():
    text = DOCS.read_text(encoding="utf-8")
    assert TABLE_START in text and TABLE_END in text, f"docs/library.md has no layer table: add {TABLE_START!r} and {TABLE_END!r}"
    assert write_layer_table(text) == text, "docs/library.md's layer table is out of date: run python tests/test_layers.py"


# ---------------------------------------------------------------- components/


def component_imports(path: Path) -> dict[str, set[str]]:
    """components module -> the names ``path`` uses from it (``from components.x import a`` gives {a};
    ``from components import x`` gives the attributes read as ``x.attr``); also ``pages`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: dict[str, set[str]] = {}
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            top, _, sub = node.module.partition(".")
            if top == "components" and sub:
                out.setdefault(sub, set()).update(a.name for a in node.names)
            elif top == "components":
                aliases.update({a.asname or a.name: a.name for a in node.names})
            elif top == "pages":
                out.setdefault("pages", set()).update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ("components", "pages"):
                    out.setdefault(alias.name.removeprefix("components."), set()).add("*")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            out.setdefault(aliases[node.value.id], set()).add(node.attr)
    return out


COMPONENT_GRAPH = {p.stem: component_imports(p) for p in sorted(COMPONENTS.glob("*.py")) if p.stem != "__init__"}


def hub_imports(graph: dict[str, dict[str, set[str]]]) -> list[str]:
    """Imports of a hub (a module importing HUB_IMPORTS or more others) by another module for one name."""
    hubs = {m for m, deps in graph.items() if len(deps) >= HUB_IMPORTS}
    return [f"components.{m} imports the hub components.{dep} only for {sorted(names)}"
            for m, deps in graph.items() for dep, names in deps.items() if dep in hubs and len(names) < 2]


def test_components_never_import_pages():
    assert [m for m, deps in COMPONENT_GRAPH.items() if any(d.split(".")[0] == "pages" for d in deps)] == []


def test_components_have_no_hub_and_no_cycle():
    """A helper (``literal``, ``settings``) lives in a small module of its own, not in one that draws the
    sidebar: importing it never pulls in the widgets, the session and the model loading."""
    assert hub_imports(COMPONENT_GRAPH) == []
    assert find_cycle({m: set(deps) for m, deps in COMPONENT_GRAPH.items()}) is None


def test_the_hub_rule_sees_a_hub():
    graph = {"heavy": {"controls": {"literal"}}, "controls": {"data": {"x"}, "state": {"y"}, "hosting": {"z"}},
             "kinds": {"controls": {"View", "literal"}}, "data": {}, "state": {}, "hosting": {}}
    assert hub_imports(graph) == ["components.heavy imports the hub components.controls only for ['literal']"]
    assert set(COMPONENT_GRAPH["kinds"]["controls"]) >= {"View", "literal"}  # module imports are read attribute by attribute


if __name__ == "__main__":  # python tests/test_layers.py: write docs/library.md's layer table
    DOCS.write_text(write_layer_table(DOCS.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote the layer table of {DOCS.relative_to(ROOT)}")
