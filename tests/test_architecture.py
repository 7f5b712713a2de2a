"""The import rules of ARCHITECTURE.md, read from the code itself (every import, lazy ones too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bertedu"

#: part -> the only other parts it may import (a part is a module or a package of bertedu).
ONLY: dict[str, set[str]] = {
    "constants": set(),  # leaves: everyone may import them, they import nothing of bertedu
    "nn_utils": set(),
    "device": set(),
    "book": set(),
    "tables": set(),
    "arguments": set(),
    "glued": set(),
    "model": {"constants", "nn_utils"},
}
#: part -> the parts it must never import.
FORBIDDEN: dict[str, set[str]] = {
    "train": {"model", "data", "pretraining", "qa", "viz", "weights", "hf", "tokenization", "cli"},
    "data": {"model", "train", "pretraining", "qa", "viz", "weights", "hf", "cli"},
    "tokenization": {"model", "data", "train", "pretraining", "qa", "viz", "weights", "hf", "cli"},
    "pretraining": {"qa", "viz", "cli"},
    "qa": {"pretraining", "viz", "cli"},
    "viz": {"train", "pretraining", "cli"},  # qa: the cross-attention view of its decoder
}
#: Only the entry point runs the command line.
ONLY_IMPORTED_BY = {"cli": {"__main__"}}


def part_of(module: str) -> str:
    """``bertedu.train.loop`` -> ``train``; ``bertedu.constants`` -> ``constants``."""
    return module.split(".")[1] if module.count(".") else "__init__"


def imports_of(path: Path) -> set[str]:
    """Every bertedu module ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{path}: use absolute imports (from bertedu.x import y)")
            names = [node.module or ""]
            # `from bertedu import weights` imports the module bertedu.weights.
            names += [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {name for name in names if name.startswith("bertedu.")}
    return found


def package_imports() -> dict[str, set[str]]:
    """``{module: bertedu modules it imports}`` for every Python file of the package."""
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(relative.parts).removesuffix(".__init__")
        graph[module] = imports_of(path)
    return graph


def known_parts() -> set[str]:
    return {part_of(module) for module in package_imports()}


def test_the_reader_sees_lazy_and_aliased_imports(tmp_path):
    source = tmp_path / "example.py"
    source.write_text(
        "import bertedu.model\n"
        "from bertedu import weights\n"
        "def f():\n"
        "    from bertedu.train.loop import train\n"
        "import torch\n"
    )
    assert imports_of(source) >= {
        "bertedu.model",
        "bertedu.weights",
        "bertedu.train.loop",
        "bertedu.train.loop.train",
    }
    assert not any(name.startswith("torch") for name in imports_of(source))


def test_every_rule_names_parts_that_exist():
    parts = known_parts()
    for part, named in {**ONLY, **FORBIDDEN}.items():
        assert part in parts and named <= parts, (part, named - parts)


def imported_parts(part: str) -> dict[str, list[str]]:
    """``{other part: ["module imports name", ...]}`` for everything ``part`` imports."""
    found: dict[str, list[str]] = {}
    for module, imported in package_imports().items():
        if part_of(module) == part:
            for name in sorted(imported):
                if part_of(name) != part:
                    found.setdefault(part_of(name), []).append(f"{module} imports {name}")
    return found


@pytest.mark.parametrize("part", sorted(ONLY))
def test_parts_that_import_only_the_leaves(part):
    extra = {t: where for t, where in imported_parts(part).items() if t not in ONLY[part]}
    assert not extra, f"{part} may import only {sorted(ONLY[part])}: {extra}"


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_parts_that_never_import_others(part):
    broken = {t: where for t, where in imported_parts(part).items() if t in FORBIDDEN[part]}
    assert not broken, f"{part} may not import {sorted(FORBIDDEN[part])}: {broken}"


def test_only_the_entry_point_imports_the_command_line():
    for target, allowed in ONLY_IMPORTED_BY.items():
        importers = {
            part_of(module)
            for module, imported in package_imports().items()
            if any(part_of(name) == target for name in imported) and part_of(module) != target
        }
        assert importers <= allowed, (target, importers - allowed)


def import_cycles(part: str) -> list[list[str]]:
    """The import cycles among the modules of ``part`` (a package), each as its modules.

    A submodule's import of its own package (``from bertedu.train import distributed``
    runs ``bertedu/train/__init__.py`` first) is how Python imports any submodule, not a
    dependency of the module on its package, so it is not an edge here.
    """
    graph = package_imports()
    package = f"bertedu.{part}"
    modules = {m for m in graph if m.startswith(package + ".")}
    edges = {m: {name for name in graph[m] if name in modules and name != m} for m in modules}
    cycles, seen = [], set()
    for start in sorted(modules):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for target in sorted(edges[node]):
                if target == start:
                    cycle = frozenset(path)
                    if cycle not in seen:
                        seen.add(cycle)
                        cycles.append(path)
                elif target not in path and target > start:
                    stack.append((target, [*path, target]))
    return cycles


@pytest.mark.parametrize("part", ["data", "train", "viz"])
def test_no_import_cycle_inside_the_part(part):
    cycles = import_cycles(part)
    assert not cycles, f"import cycles in bertedu.{part}: {cycles}"
