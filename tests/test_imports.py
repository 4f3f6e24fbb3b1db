"""Import structure of shotcrop_core, read with `ast` (nothing is imported): no import cycles
inside the package, and the command line (`shotcrop_core.cli`) is a leaf only `__main__` uses.

Every import statement counts, also the ones inside functions (they run on first call and can
still loop); only `if TYPE_CHECKING:` blocks are left out of the cycle check, since they never
run. `shotcrop_core/train/cli.py` (the `train` sub-command's parser) is another module than
`shotcrop_core.cli` and is not covered by the cli rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = "shotcrop_core"
ROOT = Path(__file__).resolve().parent.parent
CLI = f"{PKG}.cli"
CLI_ALLOWED = {f"{PKG}.__main__"}


# -- reading the package --------------------------------------------------------------------
def module_name(path: Path, root: Path) -> tuple[str, bool]:
    """(dotted name, is a package __init__) of a .py file under root."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_pkg = parts[-1] == "__init__"
    if is_pkg:
        parts = parts[:-1]
    return ".".join(parts), is_pkg


def read_package(root: Path, package: str = PKG) -> dict[str, tuple[str, ast.Module, bool]]:
    """{dotted name: (path relative to root, syntax tree, is a package __init__)}."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        name, is_pkg = module_name(path, root)
        out[name] = (path.relative_to(root).as_posix(),
                     ast.parse(path.read_text(encoding="utf-8"), str(path)), is_pkg)
    return out


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of import nodes inside `if TYPE_CHECKING:` / `if typing.TYPE_CHECKING:` bodies."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            t = node.test
            if (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
                    isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"):
                for stmt in node.body:
                    for sub in ast.walk(stmt):
                        skip.add(id(sub))
    return skip


def resolve(importer: str, is_pkg: bool, node: ast.AST, known: set[str]) -> list[str]:
    """Modules of `known` that one import statement of `importer` loads by name.

    `from X import a` goes to X.a when that is a module, else to X itself; relative imports
    count from the importer's package (a package's __init__ is its own package)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in known or a.name.startswith(PKG + ".")]
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = importer.split(".") if is_pkg else importer.split(".")[:-1]
        if node.level > 1:
            base = base[:-(node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target != PKG and not target.startswith(PKG + "."):
        return []
    out = []
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        out.append(sub if sub in known else target)
    return out


def import_edges(modules, skip_type_checking: bool
                 ) -> dict[str, list[tuple[str, int]]]:
    """{module: [(imported module, line), ...]} for imports within the package."""
    known = set(modules)
    edges: dict[str, list[tuple[str, int]]] = {m: [] for m in modules}
    for name, (_, tree, is_pkg) in modules.items():
        skip = _type_checking_only(tree) if skip_type_checking else set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skip:
                for target in resolve(name, is_pkg, node, known):
                    edges[name].append((target, node.lineno))
        edges[name].sort(key=lambda e: (e[1], e[0]))
    return edges


# -- cycles -----------------------------------------------------------------------------------
def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One closed path (first node repeated at the end) per strongly connected component that
    loops, self-imports included; Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    comps: list[list[str]] = []
    counter = 0
    nodes = sorted(set(graph) | {t for ts in graph.values() for t in ts})
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or v in graph.get(v, ()):
                    comps.append(sorted(comp))
    return [_cycle_in(graph, set(c)) for c in sorted(comps)]


def _cycle_in(graph: dict[str, set[str]], comp: set[str]) -> list[str]:
    """A shortest closed path through the component's first node (breadth-first)."""
    start = min(comp)
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph.get(v, ())):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return [start] + path[::-1][1:] + [start] if v != start else [start, start]
                if w in comp and w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start} in {sorted(comp)}")


def describe(cycle: list[str], edges) -> str:
    """'a (line 3) -> b (line 9) -> a': each hop with the line of the import that makes it."""
    hops = []
    for a, b in zip(cycle, cycle[1:]):
        lines = sorted({ln for t, ln in edges[a] if t == b})
        hops.append(f"{a} (line {', '.join(map(str, lines))})")
    return " -> ".join(hops + [cycle[-1]])


# -- the checker checked ----------------------------------------------------------------------
def test_cycle_finder_on_hand_built_graphs():
    acyclic = {"a": {"b", "c"}, "b": {"c"}, "c": set(), "d": {"a"}}
    assert find_cycles(acyclic) == []
    looped = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"},
              "x": {"y"}, "y": {"x"}}
    assert find_cycles(looped) == [["a", "b", "c", "a"], ["e", "e"], ["x", "y", "x"]]
    # the shortest loop through the first node of a component, not just any walk
    assert find_cycles({"a": {"b", "c"}, "b": {"c"}, "c": {"a"}}) == [["a", "c", "a"]]
    edges = {"a": [("b", 3)], "b": [("a", 7), ("a", 9)]}
    assert describe(["a", "b", "a"], edges) == "a (line 3) -> b (line 7, 9) -> a"


def test_resolver_on_hand_written_sources(tmp_path):
    """Relative levels, `from . import x` to the submodule, functions' imports, train.cli vs
    cli, and TYPE_CHECKING blocks kept out of the cycle graph only."""
    files = {
        "__init__.py": "from .shots import Box\nfrom . import cli\n",
        "__main__.py": "from .cli import main\n",
        "cli.py": "import shotcrop_core.shots\n",
        "shots.py": "",
        "train/__init__.py": "from . import cli as tcli\n",
        "train/cli.py": ("def f():\n    from ..cli import main\n    from .. import shots\n"
                         "from shotcrop_core.train import sft\n"),
        "train/sft.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                         "    from .cli import f\nfrom .. import grammar\n"),
    }
    mods = write_package(tmp_path, files)
    edges = import_edges(mods, skip_type_checking=False)
    targets = {m: sorted({t for t, _ in e}) for m, e in edges.items()}
    assert targets == {
        PKG: [CLI, f"{PKG}.shots"],                         # `from . import cli`: the module
        f"{PKG}.__main__": [CLI],
        CLI: [f"{PKG}.shots"],
        f"{PKG}.shots": [],
        f"{PKG}.train": [f"{PKG}.train.cli"],               # the train package's own cli
        f"{PKG}.train.cli": [CLI, f"{PKG}.shots", f"{PKG}.train.sft"],
        f"{PKG}.train.sft": [PKG, f"{PKG}.train.cli"],  # `..grammar` is no module: the package
    }
    assert edges[f"{PKG}.train.cli"][0] == (CLI, 2)         # inside a function, line 2
    assert cli_imports(mods) == [f"{PKG}/__init__.py:2", f"{PKG}/train/cli.py:2"]
    # train.cli <-> train.sft loops only through the TYPE_CHECKING import, which never runs
    assert find_cycles(graph_of(edges)) == [[f"{PKG}.train.cli", f"{PKG}.train.sft",
                                        f"{PKG}.train.cli"]]
    runtime = import_edges(mods, skip_type_checking=True)
    assert runtime[f"{PKG}.train.sft"] == [(PKG, 4)]
    assert find_cycles(graph_of(runtime)) == []


def test_checker_reports_a_cycle_made_of_function_level_imports(tmp_path):
    """The shape the package once had: cli imports bench.validity inside a function, and
    bench.validity imports cli inside another; both rules must fail, saying where."""
    files = {
        "__init__.py": "",
        "__main__.py": "from .cli import main\n",
        "cli.py": "import sys\n\ndef cmd_bench(args):\n    from .bench.validity import run\n",
        "bench/__init__.py": '"""Benchmarks."""\n',
        "bench/validity.py": ("from .. import errors\n\n\ndef run(args):\n"
                              "    from ..cli import _people, _compose_one\n"),
        "errors.py": "",
    }
    mods = write_package(tmp_path, files)
    edges = import_edges(mods, skip_type_checking=True)
    cycles = find_cycles(graph_of(edges))
    assert cycles == [[f"{PKG}.bench.validity", CLI, f"{PKG}.bench.validity"]]
    assert describe(cycles[0], edges) == (f"{PKG}.bench.validity (line 5) -> {CLI} (line 4) "
                                          f"-> {PKG}.bench.validity")
    assert cli_imports(mods) == [f"{PKG}/bench/validity.py:5"]


def write_package(root, files: dict[str, str]):
    """A hand-written package (relative path -> source) under root/PKG, read back."""
    for rel, text in files.items():
        p = root / PKG / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return read_package(root)


def graph_of(edges) -> dict[str, set[str]]:
    """module -> the modules it imports, from import_edges' (target, line) lists."""
    return {m: {t for t, _ in e} for m, e in edges.items()}


def cli_imports(modules) -> list[str]:
    """'path:line' of every import of shotcrop_core.cli outside __main__ (TYPE_CHECKING too)."""
    edges = import_edges(modules, skip_type_checking=False)
    bad = []
    for name, hits in edges.items():
        if name in CLI_ALLOWED:
            continue
        bad += [f"{modules[name][0]}:{line}" for target, line in hits if target == CLI]
    return sorted(set(bad))  # `from ..cli import a, b` is one import, not two


# -- the package ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def package():
    mods = read_package(ROOT)
    assert CLI in mods and f"{PKG}.train.cli" in mods and f"{PKG}.__main__" in mods
    return mods


def test_no_import_cycles(package):
    edges = import_edges(package, skip_type_checking=True)
    cycles = find_cycles(graph_of(edges))
    assert not cycles, "import cycle(s) in shotcrop_core:\n" + "\n".join(
        "  " + describe(c, edges) for c in cycles)


def test_only_main_imports_the_cli(package):
    bad = cli_imports(package)
    assert not bad, ("shotcrop_core.cli is the command line; library modules must not import "
                     "it (only shotcrop_core/__main__.py may):\n" + "\n".join(
                         f"  {b}" for b in bad))
