"""tests/README.md says honestly what is tested where: every library module has a test module of its own
name, or is listed there with the test modules that cover it (and those exist)."""

from __future__ import annotations

import re

from conftest import ROOT

PACKAGE, TESTS = ROOT / "distill_lib", ROOT / "tests"


def _listed() -> dict[str, list[str]]:
    """The map's rows: library module (relative to distill_lib/) -> the test modules named beside it."""
    text = (TESTS / "README.md").read_text()
    block = text.split("<!-- map -->")[1].split("<!-- /map -->")[0]
    out: dict[str, list[str]] = {}
    for line in block.splitlines()[2:]:  # after the header and its rule
        left, right = line.strip("|").split("|", 1)
        names = re.findall(r"`([^`]+)`", left)
        tests = [t for t in re.findall(r"`([^`]+)`", right) if t.endswith(".py")]
        folder = ""
        for name in names:  # "a/b.py", then "c.py" in the same folder
            folder = name.rsplit("/", 1)[0] + "/" if "/" in name else folder
            out[name if "/" in name else folder + name] = tests
    return out


def _own_test(module: str) -> bool:
    path = PACKAGE / module
    layer_dir = TESTS / path.parent.relative_to(PACKAGE)
    return (layer_dir / f"test_{path.stem}.py").is_file()


def test_every_library_module_is_tested_by_its_own_test_module_or_listed():
    listed = _listed()
    modules = sorted(
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if not (p.name == "__init__.py" and p.parent != PACKAGE)
    )
    untested = [m for m in modules if not _own_test(m) and m not in listed]
    assert untested == []


def test_every_listed_test_module_exists_and_every_listed_module_too():
    for module, tests in _listed().items():
        assert (PACKAGE / module).is_file(), module
        assert tests, f"{module}: no test module named"
        for test in tests:
            assert (TESTS / test).is_file(), (module, test)
