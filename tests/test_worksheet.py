"""backward_worksheet: Python to fill in, which runs as pasted and runs nothing but the math."""

from __future__ import annotations

import ast
import gc
import time
import unicodedata
from types import SimpleNamespace

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import autograd_mini as ag
from autograd_mini import Tensor


def layer(loss_name=None):
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((4, 3)), name="x")
    W = Tensor(rng.standard_normal((3, 2)), requires_grad=True, name="W")
    b = Tensor(np.zeros(2), requires_grad=True, name="b")
    z = x @ W + b
    z.name = "z"
    h = z.tanh()
    h.name = "h"
    loss = (h * h).mean()
    loss.name = loss_name
    dh = 2 * h.data / h.size
    dz = dh * (1 - h.data**2)
    return loss, {"dh": dh, "dz": dz, "dW": x.data.T @ dz, "db": dz.sum(axis=0)}


def run_filled(sheet, variable, loss, filled):
    """The worksheet as a learner runs it: each `...` line replaced by their numpy."""
    code = "\n".join(line for line in sheet.splitlines() if " = ..." not in line)
    printed = []
    exec(code, {"ag": ag, variable: loss, "print": printed.append, **filled})
    return printed[0]


def test_the_worksheet_runs_as_pasted_with_the_learners_names():
    loss, filled = layer()  # a loss without a name: the worksheet calls it `loss`
    sheet = ag.backward_worksheet(loss)
    assert "dloss = 1.0  # (): loss = (h * h).mean()" in sheet
    assert sheet.endswith("print(ag.check_backward(loss, manual))")
    assert "t1" not in sheet
    assert run_filled(sheet, "loss", loss, filled).ok
    cost, filled = layer("cost")
    sheet = ag.backward_worksheet(cost)
    assert "dcost = 1.0  # (): cost = (h * h).mean()" in sheet
    assert sheet.endswith("print(ag.check_backward(cost, manual))")
    assert run_filled(sheet, "cost", cost, filled).ok


def test_tensors_without_a_name_get_a_line_but_no_key():
    x = Tensor(np.ones(3), requires_grad=True)  # no name
    shared = x * 2.0  # used twice, no name
    loss = (shared * shared.tanh()).sum()
    sheet = ag.backward_worksheet(loss)
    assert "dt4 = ...  # (3,): t4 = param0 * 2.0" in sheet
    assert "    # dt4: t4 has no name: set t.name to check it" in sheet
    assert "    # dparam0: param0 has no name: set t.name to check it" in sheet
    calls = []
    exec(sheet, {"ag": SimpleNamespace(check_backward=lambda *a: calls.append(a)), "loss": loss})
    assert calls == [(loss, {})]


def test_a_long_chain_gets_short_lines_and_no_recursion():
    def chain(n):
        t = Tensor(np.linspace(-1, 1, 3), requires_grad=True, name="x")
        for _ in range(n):
            t = t.tanh() * 0.9
        return t.sum()

    loss = chain(3000)  # 6,001 ops, one expression if nothing had a line
    sheet = ag.backward_worksheet(loss)
    lines = sheet.splitlines()
    assert max(len(line) for line in lines) < 300
    assert len([line for line in lines if " = ..." in line]) > 6000 // 10
    ast.parse(sheet)

    def seconds(loss):  # the best of three CPU times: the machine is shared and noisy
        times = []
        for _ in range(3):
            gc.collect()
            started = time.process_time()
            ag.backward_worksheet(loss)
            times.append(time.process_time() - started)
        return min(times)

    small, large = seconds(chain(1500)), seconds(chain(6000))
    assert large / small < 10, (small, large)  # linear: 4 (n log n: 4.8); quadratic: 16


ALLOWED_CALLS = {("ag", "check_backward"), ("print",)}


def _calls(tree):
    """The functions the worksheet calls, as (module, name) or (name,)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
                found.add((f.value.id, f.attr))
            elif isinstance(f, ast.Name):
                found.add((f.id,))
            else:
                found.add(("?",))
    return found


names = st.one_of(st.none(), st.text(max_size=30), st.sampled_from(["print", "ag", "loss"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(names, min_size=5, max_size=5))
def test_no_name_becomes_code(chosen):
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True, name=chosen[0])
    c = Tensor(np.array([2.0, 3.0]), name=chosen[1])  # a constant
    h = x * c
    h.name = chosen[2]
    a = h.tanh()
    a.name = chosen[3]
    loss = (a * a).sum()
    loss.name = chosen[4]
    sheet = ag.backward_worksheet(loss)
    tree = ast.parse(sheet)  # valid Python, whatever the names
    for statement in tree.body[:-1]:  # only assignments of ..., 1.0 or the manual dict
        assert isinstance(statement, ast.Assign) and len(statement.targets) == 1
        assert isinstance(statement.targets[0], ast.Name)
        value = statement.value
        if isinstance(value, ast.Dict):
            assert all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in value.keys)
            assert all(isinstance(v, ast.Name) for v in value.values)
        else:
            assert isinstance(value, ast.Constant) and value.value in (Ellipsis, 1.0)
    assert isinstance(tree.body[-1], ast.Expr)
    assert _calls(tree) <= ALLOWED_CALLS
    variables = [s.targets[0].id for s in tree.body[:-1]]
    assert all(v.isascii() and v.isidentifier() for v in variables)
    assert len(set(variables)) == len(variables)
    assert sheet.splitlines() == sheet.split("\n"), "no other character ends a line"
    hidden = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}  # control, format, separators
    assert not [c for c in sheet.replace("\n", "") if unicodedata.category(c) in hidden]
    # run it with nothing but what the math needs: no builtins, a stand-in for ag
    calls = []
    stub = SimpleNamespace(check_backward=lambda *args, **kwargs: calls.append(args))
    loss_variable = tree.body[-1].value.args[0].args[0].id
    namespace = {"__builtins__": {}, "ag": stub, "print": id, loss_variable: loss}
    exec(compile(tree, "<worksheet>", "exec"), namespace)
    ((given_loss, manual),) = calls
    assert given_loss is loss
    named = [t.name for t in (x, h, a, loss) if isinstance(t.name, str) and t.name]
    unique = {t.name for t in (x, h, a) if t.name and named.count(t.name) == 1}
    assert set(manual) == unique, "every key is a name, exactly as given"
    if unique:
        report = ag.check_backward(loss, dict.fromkeys(unique, np.zeros(2)))
        assert {row.name for row in report.rows} == unique
