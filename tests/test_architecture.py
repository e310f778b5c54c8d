"""The architecture of docs/architecture.md, checked on the sources (issue 17).

Read with ``ast`` (nothing is imported), every import counts, also one inside a function:
a lazy import still ties two modules together. What is checked:

- the layers: an import goes to the same layer or one below (hwmodels -> search_spaces ->
  dse core -> dse.study -> applications -> commands -> cli); the study never imports a method;
- no import cycle among the modules of dse, search_spaces and hwmodels;
- no private name (``_x``) imported from another module;
- no module over 500 lines (``LONG_MODULES`` would list an exception with its reason; none today);
- hwmodels imports neither torch nor optuna, search_spaces no torch (the run-time check of
  ``import hwmodels`` is tests/hwmodels/test_import_light.py);
- a number format's kind string (``"sp2"``) stands in at most 3 files of dse + search_spaces.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("dse", "search_spaces", "hwmodels")
MAX_LINES = 500

#: layer of each top-level part; an import may only go to the same layer or a lower one
LAYERS = {
    "hwmodels": 0,
    "search_spaces": 1,
    # dse core: what one trial needs, below any study
    "dse": 2, "dse.__version__": 2, "dse.compat": 2, "dse.errors": 2, "dse.exiting": 2, "dse.lazy": 2, "dse.metrics": 2,
    "dse.config": 2, "dse.record": 2, "dse.quant": 2, "dse.workloads": 2, "dse.training": 2, "dse.evaluate": 2,
    "dse.study": 3, "dse.peek": 3,
    # applications over a study: paper methods, hand-offs, the report, RTL validation
    "dse.methods": 4, "dse.export": 4, "dse.report": 4, "dse.validation": 4,
    "dse.commands": 5,
    "dse.cli": 6, "dse.__main__": 6,
}

#: modules allowed over MAX_LINES, each with why; none today (hwmodels.rtl.array, array_core and arith
#: were split for issue 17). An entry that no longer applies fails test_modules_are_at_most_500_lines.
LONG_MODULES: dict[str, str] = {}

KINDS = ("fixed", "pow2", "sp2", "term", "msq")
MAX_KIND_FILES = 3


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


@lru_cache(maxsize=None)
def _sources() -> dict[str, tuple[Path, str]]:
    return {_module_name(p): (p, p.read_text(encoding="utf-8"))
            for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


@lru_cache(maxsize=None)
def _imports(module: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import in ``module``."""
    path, text = _sources()[module]
    return _parse_imports(text, module if path.name == "__init__.py" else module.rpartition(".")[0])


def _parse_imports(text: str, package: str) -> list[tuple[str, list[str], int]]:
    out = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((target, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            out.extend((a.name, [], node.lineno) for a in node.names)
    return out


@lru_cache(maxsize=None)
def _edges() -> dict[str, set[str]]:
    """module -> the modules of the three packages it imports (``from p import m`` names module p.m)."""
    mods = _sources()
    edges: dict[str, set[str]] = defaultdict(set)
    for m in mods:
        for target, names, _ in _imports(m):
            if target.split(".")[0] not in PACKAGES:
                continue
            for name in names:
                if f"{target}.{name}" in mods:
                    edges[m].add(f"{target}.{name}")
                elif target in mods:
                    edges[m].add(target)
            if not names and target in mods:
                edges[m].add(target)
    return edges


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[0] if parts[0] != "dse" or len(parts) == 1 else f"dse.{parts[1]}"


def _cycles(edges: dict[str, set[str]], nodes=None) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(nodes if nodes is not None else _sources()):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on_stack.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_every_part_has_a_layer():
    unplaced = sorted({_part(m) for m in _sources()} - set(LAYERS))
    assert not unplaced, (f"{unplaced}: new parts of the package; give each a layer in LAYERS "
                          "(tests/test_architecture.py) and in docs/architecture.md")


def test_imports_go_down_the_layers():
    up = []
    for m in _sources():
        for target, _, line in _imports(m):
            if target.split(".")[0] not in PACKAGES:
                continue
            src, dst = _part(m), _part(target)
            if src in LAYERS and dst in LAYERS and LAYERS[dst] > LAYERS[src]:
                up.append(f"{m}:{line} imports {target} (layer {LAYERS[src]} -> {LAYERS[dst]})")
    assert not up, "imports that go up a layer:\n" + "\n".join(up)


def test_the_study_never_imports_a_method():
    bad = [f"{m}:{line} imports {target}" for m in _sources() if _part(m) == "dse.study"
           for target, _, line in _imports(m) if target == "dse.methods" or target.startswith("dse.methods.")]
    assert not bad, "dse.study must not import dse.methods (a method registers a fidelity instead):\n" + "\n".join(bad)


def test_no_import_cycles():
    cycles = _cycles(_edges())
    assert not cycles, "import cycles (lazy imports count):\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_private_name_is_imported_from_another_module():
    bad = [f"{m}:{line} imports {target}.{name}" for m in _sources() for target, names, line in _imports(m)
           if target.split(".")[0] in PACKAGES and target != m
           for name in names if name.startswith("_") and not name.startswith("__")]
    assert not bad, "private names imported across modules (make them public where others need them):\n" + \
        "\n".join(bad)


def test_modules_are_at_most_500_lines():
    sizes = {m: text.count("\n") for m, (_, text) in _sources().items()}
    long = {m: n for m, n in sizes.items() if n > MAX_LINES and m not in LONG_MODULES}
    assert not long, f"modules over {MAX_LINES} lines (split them by what they hold): {long}"
    stale = sorted(m for m in LONG_MODULES if sizes.get(m, 0) <= MAX_LINES)
    assert not stale, f"{stale}: no longer over {MAX_LINES} lines (or gone); remove them from LONG_MODULES"


@pytest.mark.parametrize("package, banned", [("hwmodels", ("torch", "optuna")), ("search_spaces", ("torch",))])
def test_lower_layers_import_no_torch(package, banned):
    bad = [f"{m}:{line} imports {target}" for m in _sources() if m.split(".")[0] == package
           for target, _, line in _imports(m) if target.split(".")[0] in banned]
    assert not bad, f"{package} must stay free of {', '.join(banned)}:\n" + "\n".join(bad)


def _kind_files() -> dict[str, list[str]]:
    out = {}
    for kind in KINDS:
        literal = re.compile(rf"[\"']{kind}[\"']")
        out[kind] = sorted(str(p.relative_to(ROOT)) for m, (p, text) in _sources().items()
                           if m.split(".")[0] in ("dse", "search_spaces") and literal.search(text))
    return out


def test_a_kind_is_spelled_out_in_at_most_three_files():
    over = {k: files for k, files in _kind_files().items() if len(files) > MAX_KIND_FILES}
    assert not over, (f"a number format's kind string in more than {MAX_KIND_FILES} files of dse/ + "
                      f"search_spaces/ (ask hwmodels.formats.get_format / formats() instead): {over}")


def test_the_checks_can_fail():
    """The helpers see what they look for: cycles, relative imports, parts and layers."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, nodes="abcd") == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}, nodes="ab") == []
    got = _parse_imports("from ..study import _private\ndef f():\n    import torch\n", "dse.commands")
    assert got == [("dse.study", ["_private"], 1), ("torch", [], 3)]
    assert _parse_imports("from . import run\n", "dse.study") == [("dse.study", ["run"], 1)]
    assert _part("dse.study.run") == "dse.study" and _part("hwmodels.rtl.sim") == "hwmodels" and _part("dse") == "dse"
    assert LAYERS[_part("dse.commands.search")] > LAYERS[_part("dse.study.run")] > LAYERS[_part("dse.quant.fake")]
