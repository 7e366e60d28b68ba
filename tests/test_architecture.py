"""The layout holds: no import cycle, layers depend only downwards, every module imports on its
own, and every docstring example runs (issue 9)."""

from __future__ import annotations

import ast
import doctest
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "paramsched"

# Bottom to top: a module imports (at module level or lazily) only its own layer and those below.
LAYERS = [
    ("base", ["_version", "checks", "naming", "runformat", "events", "_registry", "_progress"]),
    ("schedules", ["schedules"]),
    ("plan", ["targets", "_plan", "_apply", "_interventions"]),
    ("recording", ["recording"]),
    ("runtime", ["_torch_compat", "_feed", "scheduler", "torch_adapter", "simulate", "policies", "control"]),
    ("replay", ["replay", "branching"]),
    ("dashboard", ["dashboard"]),
    ("top", ["cli", "demo", "testing", "__main__", "__init__"]),
]
OPTIONAL_SDKS = {"wandb", "mlflow", "lightning", "pytorch_lightning", "transformers", "tensorboard", "accelerate"}


def _modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _layer(module: str) -> int:
    rest = module.split(".")[1:] or ["__init__"]
    for index, (_, members) in enumerate(LAYERS):
        if rest[0] in members:
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")


def _path(module: str) -> Path:
    relative = Path(*module.split("."))
    candidate = SRC / relative.with_suffix(".py")
    return candidate if candidate.exists() else SRC / relative / "__init__.py"


def _imports(module: str) -> list[tuple[str, bool]]:
    """``(imported paramsched module, at module level?)`` for every import of ``module``."""
    tree = ast.parse(_path(module).read_text(encoding="utf-8"))
    package = module if _path(module).name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # annotations only
            inner = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((alias.name, top) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - child.level + 1]
                    base = ".".join([*anchor, base]) if base else ".".join(anchor)
                for alias in child.names:
                    target = f"{base}.{alias.name}"
                    found.append((target if _is_module(target) else base, top))
            visit(child, inner)

    visit(tree, True)
    return found


def _is_module(name: str) -> bool:
    relative = Path(*name.split("."))
    return (SRC / relative.with_suffix(".py")).exists() or (SRC / relative / "__init__.py").exists()


MODULES = _modules()


def test_no_import_cycle_among_module_level_imports():
    graph = {m: {t for t, top in _imports(m) if top and t in MODULES and t != m} for m in MODULES}
    # A package's __init__ re-exports its modules: importing one of them is not a cycle through it.
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt.startswith(node + ".") :
                continue
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for module in MODULES:
        if module not in state:
            walk(module)


def test_every_import_points_down_the_layers():
    wrong = []
    for module in MODULES:
        own = _layer(module)
        for target, _ in _imports(module):
            if target.startswith("paramsched") and target in MODULES and target != "paramsched" and _layer(target) > own:
                wrong.append(f"{module} ({LAYERS[own][0]}) imports {target} ({LAYERS[_layer(target)][0]})")
    assert not wrong, "\n".join(wrong)


def test_the_core_never_imports_an_optional_sdk_at_module_level():
    wrong = [
        f"{module} imports {target}"
        for module in MODULES
        for target, top in _imports(module)
        if top and target.split(".")[0] in OPTIONAL_SDKS
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.slow
def test_every_module_imports_on_its_own():
    code = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}:\n"
        "    for loaded in [m for m in sys.modules if m == 'paramsched' or m.startswith('paramsched.')]:\n"
        "        del sys.modules[loaded]\n"
        "    importlib.import_module(name)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]


@pytest.mark.parametrize("module", [m for m in MODULES if m.split(".")[-1] != "__main__"])
def test_docstring_examples_run(module, tmp_path, monkeypatch):
    from paramsched.recording.registry import RECORDERS
    from paramsched.replay.sources import SOURCES

    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    registered = (RECORDERS.items(), SOURCES.items())
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0
    # an example that registers a plugin removes it: a later test sees the registries as installed
    assert (RECORDERS.items(), SOURCES.items()) == registered
