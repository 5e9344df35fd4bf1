"""The layout shows the architecture: a module imports only from its own layer or lower ones.

records < core < rl < report < experiments < runner. Every import statement counts, those
inside functions too (a lazy import is still a dependency).
"""

import ast

import pytest
from conftest import ROOT

LAYERS = ["records", "core", "rl", "report", "experiments", "runner"]
PACKAGE = ROOT / "distill_lib"


def _imported_layers(path):
    """The distill_lib layers a module imports, with the line of each import."""
    module_parts = path.relative_to(PACKAGE).with_suffix("").parts
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(module_parts[: len(module_parts) - node.level])
                target = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module and node.module.startswith("distill_lib"):
                target = node.module.split(".")[1:]
            else:
                continue
            yield (target[0] if target else None), node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("distill_lib."):
                    yield alias.name.split(".")[1], node.lineno


MODULES = sorted(p for layer in LAYERS for p in (PACKAGE / layer).glob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_from_a_higher_layer(path):
    own = LAYERS.index(path.parent.name)
    for layer, line in _imported_layers(path):
        if layer in LAYERS:
            assert LAYERS.index(layer) <= own, f"{path.relative_to(ROOT)}:{line} imports from {layer}"


def test_no_module_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


def test_every_module_is_in_a_layer():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert loose == []
