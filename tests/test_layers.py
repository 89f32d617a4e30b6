"""The library's layers, read from its source with ``ast`` (nothing is imported).

Every ``import`` and ``from … import`` of ``lib/conservation_laws`` counts, module-level or inside a
function, relative or absolute. The test fails on a cycle between modules, on an edge that goes up a
layer, and on any import of the book's package ``companion``. The book's package itself must be free
of cycles too. The checks are plain functions on a graph, tested first on small synthetic graphs so
that they can be seen to fail.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[1] / "lib"

#: Lowest first. A module may import its own layer (without a cycle) or a lower one, never a higher
#: one. The top-level package (``conservation_laws/__init__``, the public API) sits above everything.
LAYERS = (
    ("base", ("conservation_laws.errors", "conservation_laws._lazy", "conservation_laws._version")),
    ("algebra", ("conservation_laws.algebra",)),
    ("closed forms", ("conservation_laws.closed_forms",)),  # formulas; they import algebra only
    ("models", ("conservation_laws.models",)),
    ("flows", ("conservation_laws.flows",)),
    ("engine", ("conservation_laws.engine",)),
    ("simulation", ("conservation_laws.simulation",)),
    ("interfaces", ("conservation_laws.interfaces",)),
    ("public API", ("conservation_laws", "conservation_laws.api")),
)
BOOK_PACKAGE = "companion"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """{module: modules it imports}, for every module of ``package`` under ``root`` (imports of other
    packages are kept when they name ``BOOK_PACKAGE`` or ``package``; the standard library and third
    parties are dropped). ``from X import y`` is an edge to ``X.y`` when that is a module, else to X."""
    files = sorted((root / package).rglob("*.py"))
    modules = {module_name(f, root): f for f in files}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        here = name if is_package else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base_parts = here.split(".")
                    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                    base = ".".join(base_parts + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            for t in targets:
                top = t.split(".")[0]
                if top == package or top == BOOK_PACKAGE:
                    edges.add(t)
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt in graph and state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


def layer_of(module: str, layers=LAYERS) -> int | None:
    """Index of the layer holding ``module`` (the longest matching prefix wins), None if none does.

    The root package (a prefix without a dot) holds only itself: a new top-level module belongs to no
    layer until one names it."""
    best, best_len = None, -1
    for rank, (_label, prefixes) in enumerate(layers):
        for prefix in prefixes:
            inside = module == prefix or ("." in prefix and module.startswith(prefix + "."))
            if inside and len(prefix) > best_len:
                best, best_len = rank, len(prefix)
    return best


def violations(graph: dict[str, set[str]], layers=LAYERS) -> list[str]:
    """Every upward edge, every import of the book package and every module without a layer."""
    out = []
    for module, edges in sorted(graph.items()):
        rank = layer_of(module, layers)
        if rank is None:
            out.append(f"{module}: in no layer (add it to LAYERS)")
            continue
        for target in sorted(edges):
            if target.split(".")[0] == BOOK_PACKAGE:
                out.append(f"{module} imports the book's package ({target})")
                continue
            t_rank = layer_of(target, layers)
            if t_rank is None:
                out.append(f"{module} imports {target}, which is in no layer")
            elif t_rank > rank:
                out.append(f"{module} ({layers[rank][0]}) imports {target} ({layers[t_rank][0]}): upward")
    return out


# --- the checks, on synthetic graphs --------------------------------------------------------------

SYNTHETIC_LAYERS = (("low", ("p.low",)), ("high", ("p.high",)), ("top", ("p",)))


def test_find_cycle_on_synthetic_graphs():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"a2"}, "a2": {"b"}, "b": {"a2"}}) == ["a2", "b", "a2"]


def test_violations_on_synthetic_graphs():
    good = {"p.low.x": {"p.low.y"}, "p.low.y": set(), "p.high.z": {"p.low.x"}, "p": {"p.high.z"}}
    assert violations(good, SYNTHETIC_LAYERS) == []
    upward = {"p.low.x": {"p.high.z"}, "p.high.z": set()}
    assert violations(upward, SYNTHETIC_LAYERS) == ["p.low.x (low) imports p.high.z (high): upward"]
    book = {"p.high.z": {"companion.claims"}}
    assert violations(book, SYNTHETIC_LAYERS) == ["p.high.z imports the book's package (companion.claims)"]
    stray = {"p.stray": set()}
    assert violations(stray, SYNTHETIC_LAYERS) == ["p.stray: in no layer (add it to LAYERS)"]


def test_import_graph_reads_function_local_and_relative_imports(tmp_path):
    pkg = tmp_path / "p"
    (pkg / "low").mkdir(parents=True)
    (pkg / "high").mkdir()
    for d in (pkg, pkg / "low", pkg / "high"):
        (d / "__init__.py").write_text("")
    (pkg / "low" / "x.py").write_text("def f():\n    from ..high import z\n    import companion.book\n")
    (pkg / "high" / "z.py").write_text("from p.low import x\nfrom .. import low\n")
    graph = import_graph(tmp_path, "p")
    assert graph["p.low.x"] == {"p.high.z", "companion.book"}
    assert graph["p.high.z"] == {"p.low.x", "p.low"}
    assert find_cycle(graph) == ["p.high.z", "p.low.x", "p.high.z"]
    assert len(violations(graph, SYNTHETIC_LAYERS)) == 2


# --- the library and the book's package --------------------------------------------------------

@pytest.fixture(scope="module")
def library_graph():
    return import_graph(LIB, "conservation_laws")


def test_library_graph_is_read(library_graph):
    # the graph is not empty by accident: the engine imports the flows and the models
    assert "conservation_laws.engine.lie" in library_graph
    assert any(t.startswith("conservation_laws.flows") for t in library_graph["conservation_laws.engine.lie"])


def test_library_has_no_import_cycle(library_graph):
    assert find_cycle(library_graph) is None


def test_library_imports_go_down_the_layers_and_never_to_the_book(library_graph):
    assert violations(library_graph) == []


def test_book_package_has_no_import_cycle():
    graph = import_graph(LIB, BOOK_PACKAGE)
    assert "companion.book" in graph
    assert find_cycle(graph) is None
