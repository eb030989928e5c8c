"""Check your own backprop against autodiff, and let compare_gradients say what is wrong.

A learner writes backprop for a 784-30-10 sigmoid network by hand, in the row-batch
convention (X: (m, 784), W1: (784, 30), b1: (30,), ...), with the quadratic cost. The first
attempt has a classic mistake: the weight gradient Δᵀ @ A_prev instead of A_prevᵀ @ Δ.

    python examples/my_backprop.py
"""

from __future__ import annotations

import numpy as np

import nn


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def my_backprop(params, X, Y, fixed=False):
    """params: [(W1, b1), (W2, b2)]; returns [(dW1, db1), (dW2, db2)]."""
    (W1, b1), (W2, b2) = params
    m = X.shape[0]
    A1 = sigmoid(X @ W1 + b1)
    A2 = sigmoid(A1 @ W2 + b2)
    delta2 = (A2 - Y) / m * A2 * (1 - A2)  # BP1, with the 1/m of the mean over the batch
    delta1 = (delta2 @ W2.T) * A1 * (1 - A1)  # BP2
    if fixed:
        dW2, dW1 = A1.T @ delta2, X.T @ delta1  # BP4: A_prevᵀ @ Δ, shape (n_in, n_out)
    else:
        dW2, dW1 = delta2.T @ A1, delta1.T @ X  # the mistake: Δᵀ @ A_prev is the transpose
    return [(dW1, delta1.sum(axis=0)), (dW2, delta2.sum(axis=0))]  # BP3: sum over the batch


def main() -> None:
    rng = np.random.default_rng(0)
    model = nn.MLP([784, 30, 10], seed=1)
    X = rng.uniform(0, 1, (10, 784))
    Y = nn.one_hot(rng.integers(0, 10, 10), 10)

    print("First attempt:\n")
    report = nn.compare_gradients("autodiff", my_backprop, model=model, X=X, Y=Y)
    print(report)

    print("\nAfter the fix (A_prevᵀ @ Δ):\n")
    report = nn.compare_gradients(
        "autodiff", lambda p, X, Y: my_backprop(p, X, Y, fixed=True), model=model, X=X, Y=Y
    )
    print(report)
    report.assert_ok()


if __name__ == "__main__":
    main()
