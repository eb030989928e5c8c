"""The layout stays minimal: one job per file, no import cycle, no back-edge from the engine
to `nn`, the core without the optional files, and a short path through a training step."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np

import autograd_mini as ag
import nn

ROOT = Path(__file__).resolve().parents[1]
CORE = {"tensor", "ops", "losses", "broadcasting", "errors", "recording"}
"""The engine a learner reads first: recording, the op table, backward."""


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def imports(path: Path) -> set[str]:
    """The project modules `path` imports (absolute names), from its syntax tree."""
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else None
    package = package or module_name(path)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    modules = {module_name(p) for p in ROOT.glob("*/**/*.py")}
    return {name for name in found if name in modules and name != module_name(path)}


def graph() -> dict[str, set[str]]:
    files = [*ROOT.glob("autograd_mini/**/*.py"), *ROOT.glob("nn/**/*.py")]
    return {module_name(p): imports(p) for p in files}


def test_the_engine_imports_nothing_of_nn():
    for module, used in graph().items():
        if module.startswith("autograd_mini"):
            assert not {u for u in used if u.split(".")[0] == "nn"}, module


def test_the_core_imports_neither_pictures_nor_fusion_nor_checking():
    optional = ("visual", "fused", "compare", "replay", "gradcheck", "functional", "backward_check")
    for module, used in graph().items():
        if module.split(".")[-1] in CORE and module.startswith("autograd_mini"):
            wrong = {u for u in used if any(part in optional for part in u.split("."))}
            assert not wrong, f"{module} imports {wrong}"


def test_there_is_no_import_cycle():
    edges = {m: {u for u in used if not u.endswith("__init__")} for m, used in graph().items()}
    edges = {
        m: {u for u in used if u in edges and u not in ("autograd_mini", "nn")}
        for m, used in edges.items()
    }
    visiting, done = set(), set()

    def visit(module: str, path: list[str]) -> None:
        if module in done:
            return
        assert module not in visiting, "import cycle: " + " → ".join([*path, module])
        visiting.add(module)
        for used in edges[module]:
            visit(used, [*path, module])
        visiting.discard(module)
        done.add(module)

    for module in edges:
        visit(module, [])


def test_the_engine_runs_without_the_fused_file():
    code = (
        "import sys; sys.modules['autograd_mini.fused'] = None\n"
        "import numpy as np, autograd_mini as ag\n"
        "w = ag.Tensor(np.ones((3, 2)), requires_grad=True)\n"
        "a = (ag.Tensor(np.ones((4, 3))) @ w).sigmoid()\n"
        "ag.quadratic_cost(a, np.zeros((4, 2))).backward()\n"
        "assert w.grad.shape == (3, 2)\n"
        "assert 'autograd_mini.fused' not in {m for m, v in sys.modules.items() if v}\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


COMPREHENSIONS = {"<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>"}
"""Not functions a reader steps through (Python 3.12 inlines the first three, PEP 709)."""


def test_a_readme_training_step_runs_few_functions_in_few_files():
    """The README's step (zero_grad, the cost of model(X), backward, step) of the default
    MLP: every function of the project it calls, counted once, with sys.setprofile. The
    aim is 22; the textbook engine runs 27 (its recording, backward's three phases, the
    Tensor API's operators and properties, the module and optimizer calls): no more."""
    model = nn.MLP([784, 30, 10], seed=0)
    optimizer = nn.SGD(model.parameters(), lr=3.0)
    X_batch = np.random.default_rng(0).random((10, 784))
    Y_batch = nn.one_hot(np.arange(10), 10)

    def step():
        optimizer.zero_grad()
        loss = ag.quadratic_cost(model(X_batch), Y_batch)
        loss.backward()
        optimizer.step()

    step()  # first calls fill caches (a module's scope label)
    called = set()

    def profile(frame, event, arg):
        code = frame.f_code
        if event != "call" or code.co_name in COMPREHENSIONS:
            return
        if code.co_filename.startswith((str(ROOT / "autograd_mini"), str(ROOT / "nn"))):
            called.add((code.co_filename, code.co_firstlineno))

    sys.setprofile(profile)
    try:
        step()
    finally:
        sys.setprofile(None)
    files = {filename for filename, _ in called}
    assert len(called) <= 27, f"{len(called)} functions: {sorted(called)}"
    assert len(files) <= 8, sorted(files)
    assert [
        t.op for t in reversed(ag.backward_order(ag.quadratic_cost(model(X_batch), Y_batch)))
    ] == [
        "matmul",
        "add",
        "sigmoid",
        "matmul",
        "add",
        "sigmoid",
        "quadratic_cost",
    ], "the book's tape"
