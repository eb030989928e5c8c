"""ag.backward_code: a recorded graph's forward and backward pass printed as one numpy
function. Exec'd on its own, the code gives the engine's loss and gradients, to the bit (the
same numpy calls run), for every op of the table, both dtypes, and random graphs of them;
it passes ruff; names never become code."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_ops import CASES, make_inputs

import autograd_mini as ag
import nn
from autograd_mini.code import program

ROOT = Path(__file__).resolve().parents[1]
DTYPES = (np.float64, np.float32)


def run(built, values=None):
    """Exec the printed function alone (numpy only) and call it with `values`, one per
    argument (default: what each argument is bound to in the graph)."""
    namespace: dict = {}
    exec(compile(built.source, "<printed>", "exec"), namespace)
    if values is None:
        values = [bound(a) for a in built.arguments]
    with np.errstate(**built.errstate):
        return namespace[built.name](*values)


def bound(argument):
    value = argument.value
    return value.data if isinstance(value, ag.Tensor) else value


def same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def output_gradient(out):
    """∂L/∂out: 1 for one element (the function computes it), else fixed random numbers."""
    if out.size == 1:
        return None
    return np.random.default_rng(1).standard_normal(out.shape).astype(out.dtype)


def engine_result(case, inputs):
    out = case.fn(*inputs)
    seed = output_gradient(out)
    built = program(out)
    out.backward(seed)
    return out, seed, built


# ---------------------------------------------------------------------------------------
# Every op of the table: the printed code is the engine, to the bit
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_printed_code_gives_the_engines_loss_and_gradients_on_fresh_inputs(case, dtype):
    """The code is made for the graph's shapes and dtypes, not its numbers: printed from a
    graph on one draw of the inputs, it gives the engine's results on another draw."""
    first = make_inputs(case, dtype, seed=0)
    _, _, built = engine_result(case, first)
    fresh = make_inputs(case, dtype, seed=1)
    out, seed, again = engine_result(case, fresh)
    assert again.source == built.source, "the code depends on shapes and dtypes only"
    by_leaf = {id(x): y for x, y in zip(first, fresh, strict=True)}
    values = [
        by_leaf[id(a.value)].data if id(a.value) in by_leaf else bound(b)
        for a, b in zip(built.arguments, again.arguments, strict=True)
    ]
    if seed is not None:
        values[-1] = seed  # the last argument: dloss, ∂L/∂loss
    loss, grads = run(built, values)
    assert same(loss, out.data)
    expected = {a.key: by_leaf[id(a.value)].grad for a in built.arguments if a.parameter}
    assert grads.keys() == expected.keys()
    for key, g in expected.items():
        assert same(grads[key], g), key
    if built.errstate:  # the code with the formulas' errstate blocks: the same numbers
        faithful = run(replace(built, source=built.faithful), values)
        assert same(faithful[0], loss) and all(same(faithful[1][k], grads[k]) for k in grads)
    else:
        assert built.faithful == built.source


def test_printed_code_passes_ruff_with_the_projects_rules(tmp_path):
    """Every op's printed code, and a 64-layer network's (long signatures wrapped), lint
    clean: the code a learner copies is code the project itself would accept."""
    if shutil.which("ruff") is None and not _has_ruff_module():
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    sources = set()
    for case in CASES:
        for dtype in DTYPES:
            sources.add(engine_result(case, make_inputs(case, dtype))[2].source)
    model = nn.MLP([8] * 65, seed=0, output_activation=None)
    X, y = np.ones((4, 8)), np.arange(4)
    sources.add(ag.backward_code(ag.cross_entropy(model(X), y)))
    for k, source in enumerate(sorted(sources)):
        (tmp_path / f"printed_{k}.py").write_text(source, encoding="utf-8")
    config = ROOT / "pyproject.toml"
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--config", config, tmp_path],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:]


def _has_ruff_module() -> bool:
    return subprocess.run([sys.executable, "-m", "ruff", "--version"]).returncode == 0


# ---------------------------------------------------------------------------------------
# Random graphs: fan-out, broadcasting, reductions and reshapes mixed
# ---------------------------------------------------------------------------------------

UNARY = {
    "tanh": lambda a: a.tanh(),
    "sigmoid": lambda a: a.sigmoid(),
    "exp": lambda a: (a * 0.1).exp(),
    "relu": lambda a: a.relu(),
    "square": lambda a: a**2,
    "neg": lambda a: -a,
    "softplus": lambda a: a.softplus(),
    "sum0": lambda a: a.sum(axis=0, keepdims=True) if a.ndim else a,
    "mean_last": lambda a: a.mean(axis=-1, keepdims=True) if a.ndim else a,
    "transpose": lambda a: a.T,
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "maximum": lambda a, b: ag.maximum(a, b),
}
SHAPES = [(), (1,), (3,), (1, 3), (2, 1), (2, 3)]


@st.composite
def random_graph(draw):
    """A list of steps: ("leaf", shape) | ("unary", name, k) | ("binary", name, j, k)."""
    steps = [("leaf", draw(st.sampled_from(SHAPES))) for _ in range(draw(st.integers(1, 3)))]
    for _ in range(draw(st.integers(1, 8))):
        n = len(steps)
        if draw(st.booleans()):
            name = draw(st.sampled_from(sorted(UNARY)))
            steps.append(("unary", name, draw(st.integers(0, n - 1))))
        else:
            j, k = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
            steps.append(("binary", draw(st.sampled_from(sorted(BINARY))), j, k))
    return steps


def build(steps, dtype, seed):
    rng = np.random.default_rng(seed)
    values, leaves = [], []
    for step in steps:
        if step[0] == "leaf":
            leaf = ag.Tensor(rng.standard_normal(step[1]).astype(dtype), requires_grad=True)
            leaves.append(leaf)
            values.append(leaf)
        elif step[0] == "unary":
            values.append(UNARY[step[1]](values[step[2]]))
        else:
            a, b = values[step[2]], values[step[3]]
            try:
                values.append(BINARY[step[1]](a, b))
            except ag.ShapeError:  # shapes that do not broadcast: skip the step
                values.append(a)
    loss = sum((v * v).sum() for v in values[len(leaves) :] if v.requires_grad)
    return loss, leaves


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graph(), st.sampled_from(DTYPES))
def test_random_graphs_print_code_that_is_the_engine(steps, dtype):
    loss, leaves = build(steps, dtype, seed=0)
    if not isinstance(loss, ag.Tensor) or loss.node is None:
        return  # no recorded op reached the loss
    built = program(loss)
    loss.backward()
    value, grads = run(built)
    assert same(value, loss.data)
    for argument in built.arguments:
        if argument.parameter:
            assert same(grads[argument.key], argument.value.grad)
    for leaf in leaves:  # a leaf the loss does not depend on is no argument
        if leaf.grad is None:
            assert all(a.value is not leaf for a in built.arguments)


# ---------------------------------------------------------------------------------------
# What a learner reads
# ---------------------------------------------------------------------------------------


def network_code():
    model = nn.MLP([784, 30, 10], seed=0)
    X = np.random.default_rng(0).random((10, 784))
    Y = nn.one_hot(np.arange(10), 10)
    return model, X, Y, ag.quadratic_cost(model(X), Y)


def test_a_networks_code_reads_like_the_hand_written_step():
    _, _, _, loss = network_code()
    code = ag.backward_code(loss)
    lines = [line.strip() for line in code.splitlines()]
    assert "def forward_backward(X, Y, W1, b1, W2, b2):" in lines
    assert "# matmul: (10, 784), (784, 30) → (10, 30)" in lines
    assert "matmul1 = X @ W1" in lines and "add1 = matmul1 + b1" in lines
    assert "sigmoid1 = 1 / (1 + np.exp(-add1))" in lines
    assert "# matmul: dW = X.T @ dZ; X (10, 784), dZ (10, 30) → dW (784, 30)" in lines
    assert "dW1 = X.T @ dadd1" in lines
    assert "# layers.1.bias (10,) was broadcast to (10, 10): sum over axis 0" in lines
    assert "db2 = np.sum(dadd2, axis=0)" in lines
    assert not any(line.startswith("dX =") for line in lines), "no gradient of the input X"
    assert not any(line.startswith("dY =") for line in lines), "no gradient of the target"
    backward = lines[lines.index("# backward pass") :]
    assert backward.index("dsigmoid1 = dadd2 @ W2.T") < backward.index("dW1 = X.T @ dadd1")


def test_fan_out_is_an_explicit_sum_of_the_branches():
    x = ag.Tensor(np.array([1.0, 2.0]), requires_grad=True, name="x")
    h = x.tanh()
    loss = (h * h + h.exp()).sum()
    code = ag.backward_code(loss)
    assert "dtanh1 = dtanh1_1 + dtanh1_2 + dtanh1_3" in code
    _, grads = run(program(loss))
    loss.backward()
    assert same(grads["x"], x.grad)


def test_the_printed_code_used_as_the_manual_pass_passes_check_backward():
    """A learner's backward pass that is the printed code: check_backward agrees, row by
    row; and a slip in one line (the bias gradient not summed over the batch) is found."""
    model, X, Y, loss = network_code()
    built = program(loss)
    _, grads = run(built)
    report = ag.check_backward(loss, grads)
    assert report.ok, str(report)
    wrong_source = built.source.replace("db2 = np.sum(dadd2, axis=0)", "db2 = dadd2[0]")
    assert wrong_source != built.source
    namespace: dict = {}
    exec(compile(wrong_source, "<printed>", "exec"), namespace)
    _, wrong = namespace[built.name](*[bound(a) for a in built.arguments])
    report = ag.check_backward(ag.quadratic_cost(model(X), Y), wrong)
    assert not report.ok and report.first_wrong.name == "layers.1.bias"


def test_a_loss_of_any_shape_takes_its_gradient_as_the_last_argument():
    x = ag.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, name="x")
    out = x.tanh() * 2.0
    built = program(out)
    assert built.arguments[-1].name == "dloss" and built.arguments[-1].value is None
    seed = np.full((2, 3), 0.5)
    _, grads = run(built, [x.data, seed])
    out.backward(seed)
    assert same(grads["x"], x.grad)


def test_backward_code_refuses_what_has_no_backward_pass():
    with pytest.raises(TypeError, match="backward_code: expected a Tensor"):
        ag.backward_code(np.ones(3))
    leaf = ag.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match="not computed by a recorded op"):
        ag.backward_code(leaf)
    with ag.no_grad():
        untracked = leaf * 2
    with pytest.raises(ValueError, match="not computed by a recorded op"):
        ag.backward_code(untracked)


def test_two_parameters_with_one_name_get_keys_of_their_own():
    a = ag.Tensor(np.array([1.0, 2.0]), requires_grad=True, name="w")
    b = ag.Tensor(np.array([3.0, 4.0]), requires_grad=True, name="w")
    loss = (a * b).sum()
    built = program(loss)
    _, grads = run(built)
    loss.backward()
    keys = [arg.key for arg in built.arguments if arg.parameter]
    assert len(set(keys)) == 2
    assert same(grads[keys[0]], a.grad) and same(grads[keys[1]], b.grad)


# ---------------------------------------------------------------------------------------
# Hostile names never become code
# ---------------------------------------------------------------------------------------

LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def only_math(source: str, function: str) -> None:
    """The module holds imports of numpy and math and one function; the function assigns,
    computes and returns, and its only strings are its docstring and the dict's keys."""
    tree = ast.parse(source)
    *imports, definition = tree.body
    assert all(isinstance(s, ast.Import) for s in imports)
    assert {a.name for s in imports for a in s.names} <= {"numpy", "math"}
    assert isinstance(definition, ast.FunctionDef) and definition.name == function
    body = definition.body
    assert isinstance(body[0].value, ast.Constant)  # the docstring
    returned = body[-1]
    assert isinstance(returned, ast.Return)
    for statement in body[1:-1]:
        assert isinstance(statement, ast.Assign), ast.dump(statement)[:200]
        for node in ast.walk(statement):
            assert not isinstance(node, (ast.Lambda, ast.NamedExpr, ast.Await))
            if isinstance(node, ast.Constant):
                assert not isinstance(node.value, (str, bytes)), ast.unparse(statement)
            if isinstance(node, ast.Call):
                called = node.func
                while isinstance(called, ast.Attribute):
                    called = called.value
                assert isinstance(called, ast.Name)
                assert called.id in {"np", "math"} or isinstance(node.func, ast.Attribute)
    for line in source.split("\n"):
        assert not any(c in line for c in LINE_BREAKS), repr(line)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=60), st.text(max_size=60), st.text(max_size=60), st.text(max_size=30))
@example("y", "", "", "")  # the bias's gradient once took the name of the weight's
@example("dX", "matmul1", "np", "import os")
@example("a\nimport os\nos.system('x')", "\u2028b", "\x1bc", "def")
def test_any_name_prints_code_that_runs_only_the_math(weight, bias, hidden, function):
    W = ag.Tensor(np.array([[0.5, -1.0], [2.0, 0.25]]), requires_grad=True, name=weight or None)
    b = ag.Tensor(np.array([0.1, -0.2]), requires_grad=True, name=bias or None)
    X = np.array([[1.0, 2.0], [3.0, -1.0], [0.0, 0.5]])
    h = (ag.as_tensor(X) @ W + b).tanh()
    h.name = hidden or None
    loss = (h * h).mean()
    built = program(loss, function)
    only_math(built.source, built.name)
    _, grads = run(built)
    loss.backward()
    keys = {arg.key: arg.value for arg in built.arguments if arg.parameter}
    assert len(keys) == 2
    for key, tensor in keys.items():
        assert same(grads[key], tensor.grad)
    if weight and bias and weight != bias:
        assert set(keys) == {weight, bias}, "the dict's keys are the names themselves"


def test_the_docs_show_the_code_backward_code_prints():
    """docs/backward-as-code.md shows a network's whole printed code: it is what
    backward_code prints for the network the page's first block builds."""
    page = (ROOT / "docs" / "backward-as-code.md").read_text(encoding="utf-8")
    first = page.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(first, "docs/backward-as-code.md", "exec"), namespace)
    shown = page.split("`print(code)` shows all of it:\n\n```text\n", 1)[1].split("```", 1)[0]
    assert shown == ag.backward_code(namespace["loss"])
