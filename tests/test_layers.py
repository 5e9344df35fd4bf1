"""The layout shows the architecture: a module imports only from its own layer or lower ones.

records < core < rl < report < experiments < runner. Every import statement counts, those
inside functions too (a lazy import is still a dependency), and so does ``from .. import x``,
which imports from the package a relative import climbs to. Inside ``experiments/``, no
experiment imports another (what two share lives a layer below), and nothing anywhere
imports in a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import ROOT

LAYERS = ["records", "core", "rl", "report", "experiments", "runner"]
PACKAGE = ROOT / "distill_lib"
#: the modules of ``experiments/`` that are not an experiment: the registry and the interface every one uses
EXPERIMENTS_SHARED = {"__init__", "base"}


def module_name(path: Path) -> tuple[str, ...]:
    """``distill_lib/experiments/fair/step.py`` -> ``("experiments", "fair", "step")`` (a package: its folder)."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[:-1] if parts[-1] == "__init__" else parts


def imported_modules(path: Path, source: str | None = None) -> list[tuple[tuple[str, ...], int]]:
    """Every distill_lib module ``path`` imports, as parts below the package root, with the line.

    ``from .x import y`` names ``x``; ``from . import y`` and ``from .. import y`` name each ``y`` below
    the package they climb to (a module, or a name defined in that package: both are that package's).
    """
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    package = list(parts[:-1])  # the package the module is in (for __init__, the package itself)
    out = []
    for node in ast.walk(ast.parse(source if source is not None else path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level - 1 <= len(package) else None
                if base is None:
                    continue
                if node.module:
                    out.append(((*base, *node.module.split(".")), node.lineno))
                else:
                    out += [((*base, alias.name), node.lineno) for alias in node.names]
            elif node.module and node.module.split(".")[0] == "distill_lib":
                target = tuple(node.module.split(".")[1:])
                out += [((*target, a.name), node.lineno) for a in node.names] if target else []
        elif isinstance(node, ast.Import):
            out += [
                (tuple(a.name.split(".")[1:]), node.lineno) for a in node.names if a.name.startswith("distill_lib.")
            ]
    return out


def layer_of(parts: tuple[str, ...]) -> str | None:
    """The layer of a module (its first part), or None for the package root (``distill_lib/__init__``)."""
    return parts[0] if parts and parts[0] in LAYERS else None


MODULES = sorted(p for layer in LAYERS for p in (PACKAGE / layer).rglob("*.py"))


def up_arrows(path: Path, source: str | None = None) -> list[str]:
    """The imports of ``path`` that climb to a higher layer, or to the package root (which sits above all)."""
    own = LAYERS.index(module_name(path)[0])
    bad = []
    for target, line in imported_modules(path, source):
        layer = layer_of(target)
        if layer is None:  # distill_lib itself (``from .. import __version__``): it imports every layer
            bad.append(f"{path.relative_to(ROOT)}:{line} imports from the package root")
        elif LAYERS.index(layer) > own:
            bad.append(f"{path.relative_to(ROOT)}:{line} imports from {layer}")
    return bad


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_from_a_higher_layer(path):
    assert up_arrows(path) == []


def test_an_up_arrow_through_a_bare_relative_import_is_caught():
    core = PACKAGE / "core" / "config.py"
    assert up_arrows(core, "from .. import __version__\n") == [
        f"{core.relative_to(ROOT)}:1 imports from the package root"
    ]
    assert up_arrows(core, "from ..runner import plan\n") == [f"{core.relative_to(ROOT)}:1 imports from runner"]
    assert up_arrows(core, "from .. import runner\n") == [f"{core.relative_to(ROOT)}:1 imports from runner"]
    assert up_arrows(core, "from . import schema\nfrom .schema import Params\n") == []


def experiment_of(parts: tuple[str, ...]) -> str | None:
    """The experiment a module of ``experiments/`` belongs to (its package), or None for the shared ones."""
    if len(parts) < 2 or parts[0] != "experiments" or parts[1] in EXPERIMENTS_SHARED:
        return None
    return parts[1]


def sideways(path: Path, source: str | None = None) -> list[str]:
    """The imports of ``path`` (a module of an experiment) that reach into another experiment."""
    own = experiment_of(module_name(path))  # a package's __init__ is the package itself
    if own is None:
        return []
    return [
        f"{path.relative_to(ROOT)}:{line} imports experiment {other}"
        for target, line in imported_modules(path, source)
        if (other := experiment_of(target)) not in (None, own)
    ]


@pytest.mark.parametrize(
    "path", sorted((PACKAGE / "experiments").rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_no_experiment_imports_another(path):
    assert sideways(path) == []


def test_an_experiment_importing_another_is_caught():
    fair = PACKAGE / "experiments" / "budgets" / "step.py"
    assert sideways(fair, "from ..fair.step import FairRecord\n") == [
        f"{fair.relative_to(ROOT)}:1 imports experiment fair"
    ]
    assert sideways(fair, "from .. import fair\n") == [f"{fair.relative_to(ROOT)}:1 imports experiment fair"]
    assert sideways(fair, "from ..base import Units\nfrom .params import SourcesConfig\n") == []


def _graph() -> dict[tuple[str, ...], set[tuple[str, ...]]]:
    """Module -> the modules it imports (names imported from a package count as the package)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py") if p.name != "__main__.py"}
    graph: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
    for name, path in modules.items():
        edges = set()
        for target, _ in imported_modules(path):
            while target and target not in modules:  # ``from .step import run``: the module step
                target = target[:-1]
            if target and target != name and not (name[: len(target)] == target):  # a package's own __init__
                edges.add(target)
        graph[name] = edges
    return graph


def cycles(graph: dict[tuple[str, ...], set[tuple[str, ...]]]) -> list[str]:
    """Every import cycle of ``graph``, as ``a -> b -> a`` (each found from every module on it)."""
    found = []

    def visit(node, stack, seen):
        for nxt in graph.get(node, ()):
            if nxt in stack:
                found.append(" -> ".join(".".join(n) for n in [*stack[stack.index(nxt) :], nxt]))
            elif nxt not in seen:
                seen.add(nxt)
                visit(nxt, [*stack, nxt], seen)

    for start in graph:
        visit(start, [start], {start})
    return sorted(set(found))


def test_no_import_cycle_anywhere():
    assert cycles(_graph()) == []


def test_a_cycle_is_found():
    graph = {("a",): {("b",)}, ("b",): {("c",)}, ("c",): {("a",)}, ("d",): {("a",)}}
    assert "a -> b -> c -> a" in cycles(graph) and cycles({("a",): {("b",)}, ("b",): set()}) == []


def test_every_module_is_in_a_layer():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert loose == []


def test_no_file_name_repeats_across_layers():
    """A newcomer finds where a thing lives from folder and file names alone (a package's own files aside)."""
    seen: dict[str, str] = {}
    repeats = []
    for layer in LAYERS:
        for path in (PACKAGE / layer).glob("*.py"):
            if path.name == "__init__.py":
                continue
            if path.stem in seen and seen[path.stem] != layer:
                repeats.append(f"{path.stem}: {seen[path.stem]} and {layer}")
            seen.setdefault(path.stem, layer)
        for folder in (PACKAGE / layer).iterdir():
            if folder.is_dir() and folder.name in seen and seen[folder.name] != layer:
                repeats.append(f"{folder.name}: {seen[folder.name]} and {layer}")
    assert repeats == []
