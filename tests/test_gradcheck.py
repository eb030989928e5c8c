"""gradcheck itself: it passes correct gradients and reports wrong ones precisely."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_mini as ag
from autograd_mini import Tensor, gradcheck


def test_passes_and_leaves_the_inputs_untouched():
    x = Tensor(np.array([[0.3, -1.2], [2.0, 0.5]], dtype=np.float32), requires_grad=True, name="x")
    before = x.data.copy()
    assert gradcheck(lambda t: (t @ t).tanh().sum(), x)
    assert np.array_equal(x.data, before) and x.grad is None


def test_non_scalar_outputs_are_checked_through_a_random_projection():
    x = Tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)
    assert gradcheck(lambda t: t.softmax(axis=0), x)


def test_constants_pass_through():
    x = Tensor(np.ones(3), requires_grad=True)
    assert gradcheck(lambda t, c, k: (t * c).sum() * k, x, np.arange(3.0), 2.0)


def test_a_wrong_gradient_is_reported_with_input_index_values_and_errors():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True, name="W1")
    y = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)

    def cut_graph(a, b):  # a is used twice, but one use is detached: half its gradient is lost
        return (Tensor(a.data) * a * b).sum()

    with pytest.raises(ag.GradcheckError) as info:
        gradcheck(cut_graph, y, x)
    message = str(info.value)
    assert "input 0" in message and "shape (3,)" in message
    assert "worst at index (2,)" in message
    assert "engine" in message and "finite differences" in message
    assert "abs error" in message and "rel error" in message
    assert "3 of 3 entries" in message
    assert "0.5 × the numeric one" in message


def test_an_input_whose_gradient_is_lost_entirely_is_reported_as_zero():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True, name="b1")
    with pytest.raises(ag.GradcheckError, match=r"(?s)'b1'.*all zeros"):
        gradcheck(lambda t: Tensor(t.data).sum() * t.sum().detach(), x)


def test_tolerances_are_respected():
    x = Tensor(np.array([1.0]), requires_grad=True)

    def hidden_term(t):  # the detached ½·1e-4·t² changes the value but not the engine's gradient
        return t + Tensor(0.5e-4 * t.data**2)

    assert gradcheck(hidden_term, x)  # engine 1.0 vs numeric 1.0001: inside atol + rtol·|n|
    with pytest.raises(ag.GradcheckError, match="1 of 1 entries"):
        gradcheck(hidden_term, x, atol=0, rtol=1e-5)


# ----------------------------------------------------------------------------------------
# Inputs of any layout, casts, and what would otherwise pass unchecked
# ----------------------------------------------------------------------------------------


def test_inputs_of_any_layout_are_perturbed_where_the_function_reads_them():
    rng = np.random.default_rng(0)
    X = Tensor(rng.standard_normal((4, 3)), requires_grad=True, name="X")
    W = Tensor(rng.standard_normal((2, 3)), requires_grad=True, name="W")
    A = Tensor(rng.standard_normal((3, 2)), requires_grad=True, name="A")
    x = Tensor(rng.standard_normal((3, 4)), requires_grad=True, name="x")
    for loss in [(X @ W.T).tanh().sum(), (A.T * 2).sum(), (x[:, [0, 0, 2]] ** 2).sum()]:
        report = ag.gradcheck_graph(loss)
        assert report.ok, report
    F = Tensor(np.asfortranarray(rng.standard_normal((3, 2))), requires_grad=True)
    assert not F.data.flags.c_contiguous
    assert gradcheck(lambda t: (t * t).sum(), F)
    M = rng.standard_normal((3, 4))
    columns = M[:, :2]  # a view whose flat copy is not M
    numeric = ag.central_differences(lambda: float((columns**2).sum()), columns)
    np.testing.assert_allclose(numeric, 2 * columns, rtol=1e-7)


def test_a_cast_is_checked_in_float64():
    y = Tensor(np.random.default_rng(1).standard_normal(3), requires_grad=True, name="y")
    report = ag.gradcheck_graph((y.astype(np.float32) ** 2).sum())
    assert report.ok, report
    row = next(row for row in report.rows if row.op == "astype")
    assert row.max_abs_error < 1e-8, row


def test_a_nan_gradient_never_passes():
    x = Tensor(np.array([0.0, 1.0]), requires_grad=True, name="x")
    with pytest.raises(ag.GradcheckError) as info:
        gradcheck(lambda t: (t.abs() ** 0.5).sum(), x)  # d|x|^½/dx at 0: 0 · inf = NaN
    message = str(info.value)
    assert "worst at index (0,): engine nan, finite differences 0" in message
    assert "The engine's gradient holds nan at index (0,) (1 of 2 entries are NaN or inf)" in (
        message
    )


@pytest.mark.parametrize("eps", [float("nan"), 0, -1e-6, float("inf"), "1e-6"])
def test_an_eps_that_checks_nothing_is_refused(eps):
    x = Tensor(np.array([3.0, 1.0]), requires_grad=True)
    with pytest.raises(ValueError, match=r"gradcheck: eps must be a positive finite number"):
        gradcheck(lambda t: (t * 2).sum(), x, eps=eps)
    with pytest.raises(ValueError, match=r"gradcheck_graph: eps must be a positive finite"):
        ag.gradcheck_graph((x * 2).sum(), eps=eps)
    with pytest.raises(ValueError, match=r"central_differences: eps must be a positive"):
        ag.central_differences(lambda: 0.0, np.ones(2), eps=eps)


def test_tolerances_and_sample_sizes_that_check_nothing_are_refused():
    x = Tensor(np.array([3.0, 1.0]), requires_grad=True)
    with pytest.raises(ValueError, match=r"gradcheck: atol must be a number ≥ 0, got nan"):
        gradcheck(lambda t: (t * 2).sum(), x, atol=float("nan"))
    with pytest.raises(ValueError, match=r"gradcheck: rtol must be a number ≥ 0, got -1"):
        gradcheck(lambda t: (t * 2).sum(), x, rtol=-1)
    with pytest.raises(ValueError, match=r"max_entries must be at least 1 .*got 0"):
        ag.gradcheck_graph((x * 2).sum(), max_entries=0)
    with pytest.raises(TypeError, match=r"max_entries must be an int, got 2.5"):
        ag.gradcheck_graph((x * 2).sum(), max_entries=2.5)
    with pytest.raises(TypeError, match=r"central_differences: x is int64; .*float64"):
        ag.central_differences(lambda: 0.0, np.arange(3))
    with pytest.raises(TypeError, match=r"central_differences: x is float32"):
        ag.central_differences(lambda: 0.0, np.ones(3, np.float32))
    frozen = np.ones(3)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match=r"central_differences: x is read-only"):
        ag.central_differences(lambda: 0.0, frozen)


def test_gradcheck_graph_says_which_vjps_it_could_not_check():
    x = Tensor(np.array([np.nan, 1.0]), requires_grad=True, name="x")
    report = ag.gradcheck_graph((x * 2).sum())
    assert [row.verdict for row in report.rows] == ["not finite", "not finite"]
    assert not report.ok
    assert report.rows[1].diagnoses == [
        "not checked: the input holds nan at (0,), and finite differences need finite points"
    ]
    w = Tensor(np.array([-1.0, 4.0]), requires_grad=True, name="w")
    with np.errstate(invalid="ignore"):
        loss = w.sqrt().sum()
    row = ag.gradcheck_graph(loss).rows[-1]  # √ of −1: NaN on both sides, never a ✓
    assert row.verdict == "not finite" and row.op == "pow", row  # √ is a power ½
    assert row.diagnoses[1].startswith(
        "it holds nan at (0,), where the finite-difference estimate holds nan"
    )
