"""The engine against the row-convention backprop equations, written out by hand.

Two sigmoid layers, quadratic cost C = 1/(2m) Σ_x ‖a_x − y_x‖², X: (m, n):
    Z1 = X @ W1 + b1,  A1 = σ(Z1),  Z2 = A1 @ W2 + b2,  A2 = σ(Z2)
    Δ2 = (A2 − Y)/m ⊙ σ′(Z2)               (the 1/m of the cost sits in ∇_A C)
    Δ1 = (Δ2 @ W2ᵀ) ⊙ σ′(Z1)
    ∂C/∂W2 = A1ᵀ @ Δ2,  ∂C/∂b2 = Δ2.sum(0),  ∂C/∂W1 = Xᵀ @ Δ1,  ∂C/∂b1 = Δ1.sum(0)
"""

from __future__ import annotations

import numpy as np
import pytest

import autograd_mini as ag
from autograd_mini import Tensor


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.mark.parametrize("m", [1, 7, 64])
@pytest.mark.parametrize("layered", [False, True], ids=["matmul+add", "linear"])
def test_two_layer_sigmoid_quadratic_cost(m, layered):
    rng = np.random.default_rng(m)
    n, h, k = 6, 5, 3
    X, Y = rng.standard_normal((m, n)), rng.uniform(size=(m, k))
    params = {
        "W1": rng.standard_normal((n, h)),
        "b1": rng.standard_normal(h),
        "W2": rng.standard_normal((h, k)),
        "b2": rng.standard_normal(k),
    }
    T = {name: Tensor(value, requires_grad=True, name=name) for name, value in params.items()}

    layer = ag.linear if layered else (lambda x, w, b: x @ w + b)
    A1 = layer(Tensor(X), T["W1"], T["b1"]).sigmoid()
    A2 = layer(A1, T["W2"], T["b2"]).sigmoid()
    ag.quadratic_cost(A2, Y).backward()

    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    Z1 = X @ W1 + b1
    a1 = sigmoid(Z1)
    Z2 = a1 @ W2 + b2
    a2 = sigmoid(Z2)
    delta2 = (a2 - Y) / m * sigmoid(Z2) * (1 - sigmoid(Z2))
    delta1 = (delta2 @ W2.T) * sigmoid(Z1) * (1 - sigmoid(Z1))
    expected = {"W2": a1.T @ delta2, "b2": delta2.sum(0), "W1": X.T @ delta1, "b1": delta1.sum(0)}

    for name, grad in expected.items():
        assert T[name].grad.shape == params[name].shape
        np.testing.assert_allclose(T[name].grad, grad, rtol=1e-12, atol=1e-15, err_msg=name)


def test_column_bias_gets_the_sum_over_the_columns():
    """A (k, 1) bias added to a (k, m) matrix (Nielsen's columns) sums over the examples."""
    Z = Tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    b = Tensor(np.zeros((3, 1)), requires_grad=True)
    (Z + b).backward(np.arange(6.0).reshape(3, 2))
    assert b.grad.shape == (3, 1)
    assert np.allclose(b.grad, [[1.0], [5.0], [9.0]])


@pytest.mark.parametrize(
    ("grad_shape", "shape", "axes"),
    [
        ((4, 3), (3,), 0),
        ((4, 3), (1, 3), 0),
        ((4, 3), (4, 1), 1),
        ((4, 3), (), None),
        ((2, 4, 3), (4, 1), (0, 2)),
        ((2, 4, 3), (4, 3), 0),
        ((4, 3), (4, 3), ()),
    ],
)
def test_unbroadcast(grad_shape, shape, axes):
    g = np.random.default_rng(0).standard_normal(grad_shape)
    out = ag.unbroadcast(g, shape)
    assert out.shape == shape
    assert np.allclose(out, np.sum(g, axis=axes).reshape(shape) if axes != () else g)
