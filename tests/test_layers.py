"""The layering of ``models/``: imports point down, never up or sideways, and never in a cycle.

Read from the source text (every ``import`` statement, including those inside functions), so a
hidden upward import fails here before it can become a cycle at run time.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

KIT = Path(__file__).resolve().parents[1]
PACKAGE = KIT / "models"
ENTRY_SCRIPTS = {"train_model", "run_model", "evaluate_model", "team_code", "helper_code"}
# Layer of each sub-package, lowest first; a module may import its own package or a lower layer.
LAYERS = {
    "core": 0,
    "formats": 1,
    "scoring": 2,
    "synthetic": 2,
    "pcg": 3,
    "ecg": 3,
    "tasks": 4,
    "report": 5,
}
TOOLS = 6  # the command-line tools at the top of models/ (demo, crossval, distill, ...)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(KIT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every module name an import statement of ``path`` names (relative imports resolved)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return imported_by(path.read_text(encoding="utf-8"), package)


def imported_by(source: str, package: str) -> set[str]:
    """The module names the imports of ``source``, a module of ``package``, name."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer(name: str) -> tuple[str, int]:
    """(package, layer) of a module: ``models`` itself is the bottom, loose modules the top."""
    parts = name.split(".")
    if len(parts) == 1:
        return "models", -1
    if parts[1] in LAYERS:
        return parts[1], LAYERS[parts[1]]
    return "tools", TOOLS


def edges() -> dict[str, set[str]]:
    known = modules()
    return {
        name: {t for t in imported(path) if t in known and t != name}
        for name, path in known.items()
    }


def test_no_module_imports_an_entry_script() -> None:
    offending = [
        f"{name} imports {target}"
        for name, path in modules().items()
        for target in imported(path)
        if target.split(".")[0] in ENTRY_SCRIPTS
    ]
    assert offending == []


def test_imports_point_down_the_layers() -> None:
    upward = []
    for name, targets in edges().items():
        package, level = layer(name)
        for target in targets:
            target_package, target_level = layer(target)
            if target_package != package and target_level >= level:
                upward.append(f"{name} ({package}) imports {target} ({target_package})")
    assert upward == []


def test_no_import_cycle() -> None:
    # A package's __init__ importing nothing keeps `from models.x import y` free of cycles.
    graphlib.TopologicalSorter(edges()).prepare()


def test_every_sub_package_has_a_layer() -> None:
    packages = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert packages == set(LAYERS)


@pytest.mark.parametrize(
    ("source", "upward"),
    [
        ("from models.tasks import murmur\n", True),
        ("def f():\n    from ..ecg import cache\n", True),
        ("from models.core import storage\n", False),
        ("from . import circor\n", False),
    ],
)
def test_the_check_sees_an_upward_import(source: str, upward: bool) -> None:
    # The rule applied to a source text placed, for the test, in models/formats.
    names = {target for target in imported_by(source, "models.formats") if target in modules()}
    assert (
        any(
            layer(target)[1] >= LAYERS["formats"] and layer(target)[0] != "formats"
            for target in names
        )
        is upward
    )
