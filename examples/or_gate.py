"""The OR gate, by hand and by autodiff: one step of backprop printed layer by layer.

Network: 2 inputs → 2 sigmoid units → 1 sigmoid output, quadratic cost C = 1/(2m) Σ (a − y)²
over the m = 4 rows of the OR truth table, row-batch convention (one example per row).
Starting weights (W[i][j] connects unit i of one layer to unit j of the next):

    W1 = [[0.5, -0.4], [0.3, 0.8]]   b1 = [0.1, -0.2]
    W2 = [[0.7], [-0.6]]             b2 = [0.05]

    python examples/or_gate.py
"""

from __future__ import annotations

import numpy as np

import autograd_mini as ag
import nn
from nn.gates import INPUTS, OR_START, TARGETS, train

LABEL = 26
"""The label column's width: the longest label below, and two spaces."""


def show(name: str, array: np.ndarray) -> None:
    """One line `label  shape  numbers`, the rows of a matrix under each other."""
    head = f"  {name:<{LABEL}}{array.shape!s:<10}"
    body = np.array2string(array, precision=4, suppress_small=True, prefix=" " * len(head))
    print(head + body)


def main() -> None:
    X, Y = INPUTS, TARGETS["OR"]
    m = len(X)
    W1, b1 = OR_START["layers.0.weight"], OR_START["layers.0.bias"]
    W2, b2 = OR_START["layers.1.weight"], OR_START["layers.1.bias"]

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    print("Forward pass (X is (m, n) = (4, 2): one example per row)")
    Z1 = X @ W1 + b1
    A1 = sigmoid(Z1)
    Z2 = A1 @ W2 + b2
    A2 = sigmoid(Z2)
    for name, value in [
        ("Z1 = X @ W1 + b1", Z1),
        ("A1 = σ(Z1)", A1),
        ("Z2 = A1 @ W2 + b2", Z2),
        ("A2 = σ(Z2)", A2),
    ]:
        show(name, value)
    print(f"  cost C = 1/(2m) Σ (a − y)² = {0.5 * np.sum((A2 - Y) ** 2) / m:.6f}\n")

    print("Backward pass, layer by layer")
    delta2 = (A2 - Y) / m * A2 * (1 - A2)
    show("Δ2 = (A2−Y)/m ⊙ σ′(Z2)", delta2)
    print("      BP1: the 1/m of the mean over the batch sits in ∇_A C = (A2 − Y)/m")
    dW2, db2 = A1.T @ delta2, delta2.sum(axis=0)
    show("dW2 = A1ᵀ @ Δ2", dW2)
    print("      BP4: (2, 4) @ (4, 1) → (2, 1), the shape of W2: that is why A1 is transposed")
    show("db2 = Δ2.sum(axis=0)", db2)
    print("      BP3: b2 was broadcast over the 4 rows, so its gradient sums over them")
    delta1 = (delta2 @ W2.T) * A1 * (1 - A1)
    show("Δ1 = (Δ2 @ W2ᵀ) ⊙ σ′(Z1)", delta1)
    print("      BP2: (4, 1) @ (1, 2) → (4, 2), back through W2, times σ′ of layer 1")
    dW1, db1 = X.T @ delta1, delta1.sum(axis=0)
    show("dW1 = Xᵀ @ Δ1", dW1)
    show("db1 = Δ1.sum(axis=0)", db1)

    model = nn.MLP([2, 2, 1])
    model.load_state_dict(OR_START)
    by_hand = {
        "layers.0.weight": dW1,
        "layers.0.bias": db1,
        "layers.1.weight": dW2,
        "layers.1.bias": db2,
    }
    print("\nThe same gradients by autodiff (loss.backward()):")
    report = nn.compare_gradients("autodiff", by_hand, model=model, X=X, Y=Y, rtol=1e-12)
    print(report)
    report.assert_ok()

    print("\nWhat backward() ran, in order:")
    loss = ag.quadratic_cost(model(X), Y)
    print(ag.explain(loss))

    print("\nTraining: full-batch gradient descent, η = 3.0, 2000 steps")
    costs = train(model, Y)
    print("  cost every 500 steps: " + "  ".join(f"{c:.5f}" for c in costs))
    with ag.no_grad():
        out = model(X).data
    for x, y, a in zip(X, Y[:, 0], out[:, 0], strict=True):
        print(f"  OR{tuple(int(v) for v in x)} = {int(y)}: network says {a:.4f}")
    print(f"  accuracy {nn.accuracy(out, Y):.0%}")


if __name__ == "__main__":
    main()
