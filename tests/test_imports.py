"""The import contract of ``sklxai/``: no import circles, and data flowing one way.

Every ``import`` statement of every module is read from its source, including the imports
inside functions (a circle through a deferred import is still a circle: it only fails later, at
the first call). Two rules are checked:

- no circle: the graph of module imports has no cycle;
- layers: a module imports only from its own layer or the layers below it, in the order of the
  data flow, model -> game -> explainer -> explanation consumers (:data:`LAYERS`, top first).

The package root ``sklxai`` (its ``__init__``) resolves public names lazily, by strings, and
imports nothing itself: importing it (for ``__version__``) is allowed anywhere.
"""

import ast
import pathlib

import pytest

import sklxai

ROOT = pathlib.Path(sklxai.__file__).parent

#: top first; a module may import from its own layer and the ones after it (a name ending in
#: "*" stands for every module whose name starts with what precedes it)
LAYERS = [
    ("sklxai.cli", "sklxai.demo", "sklxai.report"),
    ("sklxai.metrics", "sklxai.plotting", "sklxai.selection", "sklxai.registry",
     "sklxai.datasets"),
    ("sklxai.explainers",),
    ("sklxai.base", "sklxai._sklearn_protocol", "sklxai._explain_results"),
    ("sklxai.explanation", "sklxai._explanation*"),
    ("sklxai.games",),
    ("sklxai.models",),
    ("sklxai.utils", "sklxai.exceptions"),
]


def _modules(root=ROOT):
    """Dotted module name -> source path, for every module under ``root``."""
    out = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(name, modules):
    """The module an imported name lives in (``a.b.C`` -> ``a.b`` when ``a.b`` is a module)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(modules):
    """Module -> set of the sklxai modules it imports (anywhere in its source)."""
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
                # `from pkg import sub` imports the submodule pkg.sub
                found = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                         for a in node.names]
            else:
                continue
            for target in found:
                resolved = _resolve(target, modules) if target.startswith("sklxai") else None
                if resolved is not None and resolved != name:
                    targets.add(resolved)
        graph[name] = targets
    return graph


def find_cycle(graph):
    """One import circle as a list of modules (first == last), or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def layer_of(module):
    """The index of the layer a module belongs to (None for the package root)."""
    for index, layer in enumerate(LAYERS):
        if any(module.startswith(top[:-1]) if top.endswith("*")
               else module == top or module.startswith(top + ".") for top in layer):
            return index
    return None


def layer_violations(graph):
    """(importer, imported) pairs where a lower layer imports a higher one."""
    bad = []
    for module, targets in graph.items():
        mine = layer_of(module)
        for target in targets:
            theirs = layer_of(target)
            if mine is not None and theirs is not None and theirs < mine:
                bad.append((module, target))
    return sorted(bad)


def test_every_module_has_a_layer():
    unplaced = [m for m in _modules() if m != "sklxai" and layer_of(m) is None]
    assert not unplaced, f"modules outside every layer of LAYERS: {unplaced}"


def test_no_import_circle():
    cycle = find_cycle(import_graph(_modules()))
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_layers_are_respected():
    bad = layer_violations(import_graph(_modules()))
    assert not bad, "imports against the data flow (lower layer -> higher): " + ", ".join(
        f"{a} -> {b}" for a, b in bad)


@pytest.fixture
def toy_package(tmp_path):
    """A package whose modules import each other in a circle, one import inside a function."""
    pkg = tmp_path / "sklxai"
    (pkg / "games").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "games" / "__init__.py").write_text("")
    (pkg / "games" / "a.py").write_text("from sklxai.games.b import f\n")
    (pkg / "games" / "b.py").write_text("def f():\n    from sklxai.explainers import c\n")
    (pkg / "explainers").mkdir()
    (pkg / "explainers" / "__init__.py").write_text("")
    (pkg / "explainers" / "c.py").write_text("from . import d\n")
    (pkg / "explainers" / "d.py").write_text("import sklxai.games.a\n")
    return pkg


def test_the_checks_catch_a_circle_and_an_upward_import(toy_package):
    graph = import_graph(_modules(toy_package))
    assert graph["sklxai.explainers.c"] == {"sklxai.explainers.d"}  # relative import
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1] and "sklxai.games.b" in cycle
    assert ("sklxai.games.b", "sklxai.explainers.c") in layer_violations(graph)
