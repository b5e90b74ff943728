"""The package's shape: imports run one way, down the data flow, and the shells stay shells.

Read from the source (every import, also those inside functions), not from what happens to be
imported at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# From the ground up: a module may import only modules of its own room (package) or of a lower floor.
FLOORS = [
    ("pipelines.errors",),
    ("pipelines.ffmpeg", "pipelines.frames", "pipelines.tiny_text"),
    ("pipelines.limits",),
    ("pipelines.music",),
    ("pipelines.project",),
    ("pipelines.plan", "pipelines.diffusion"),  # side by side: neither imports the other
    ("pipelines.render", "pipelines.ideas"),  # side by side: the ideas' model engine needs torch
    ("pipelines.score",),
    ("pipelines.live",),
    ("pipelines.admission",),
    ("pipelines.plots",),
    ("pipelines.cli",),
    ("pipelines.__main__",),
]


def modules(package: str) -> dict[str, Path]:
    root = REPO / package
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def room(module: str) -> str:
    """The room of a module: its floor entry (``pipelines.music`` for ``pipelines.music.beats``)."""
    for floor in FLOORS:
        for name in floor:
            if module == name or module.startswith(name + "."):
                return name
    raise AssertionError(f"{module} stands on no floor: add it to FLOORS")


def floor_of(module: str) -> int:
    return next(i for i, floor in enumerate(FLOORS) if room(module) in floor)


PIPELINES = modules("pipelines")


@pytest.mark.parametrize("module", sorted(m for m in PIPELINES if m != "pipelines"))
def test_imports_run_down_the_data_flow(module):
    own = room(module)
    for name in imports(PIPELINES[module]):
        if name not in PIPELINES:  # a name imported from a module, or outside the package
            continue
        if name == "pipelines" or room(name) == own:
            continue
        assert floor_of(name) < floor_of(module), f"{module} imports {name}, which stands on the same or a higher floor"


@pytest.mark.parametrize("package", ["pipelines", "synth"])
def test_the_library_knows_no_shell(package):
    """No Gradio, no Space, no tests or benchmarks in the library; synth needs nothing of Beatwalk's."""
    forbidden = ("gradio", "spaces", "space", "tests", "benchmarks", "scripts", "app")
    if package == "synth":
        forbidden += ("pipelines",)
    for module, path in modules(package).items():
        for name in imports(path):
            assert name.split(".")[0] not in forbidden, f"{module} imports {name}"


def test_nothing_outside_the_tests_imports_them():
    for package in ("pipelines", "space", "synth", "benchmarks", "scripts"):
        for module, path in modules(package).items():
            assert not any(name.split(".")[0] == "tests" for name in imports(path)), f"{module} imports tests"


def test_the_plan_is_pure():
    """The frame plan is numpy only: no torch, no model, no files."""
    for module, path in PIPELINES.items():
        if module.startswith("pipelines.plan"):
            assert not {n.split(".")[0] for n in imports(path)} & {"torch", "diffusers", "subprocess"}, module


def test_no_import_cycles():
    graph = {m: {n for n in imports(p) if n in PIPELINES and n != m} for m, p in PIPELINES.items()}
    done, path = set(), []

    def visit(module):
        assert module not in path, f"import cycle: {' -> '.join([*path[path.index(module):], module])}"
        if module in done:
            return
        path.append(module)
        for name in graph[module]:
            if name != "pipelines":
                visit(name)
        path.pop()
        done.add(module)

    for module in graph:
        visit(module)
