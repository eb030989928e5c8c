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
