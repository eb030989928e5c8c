"""Training: OR and XOR with SGD from a fixed seed; MNIST in tests/test_mnist.py."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_mini as ag
import nn

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
TARGETS = {
    "OR": np.array([[0], [1], [1], [1]], dtype=float),
    "XOR": np.array([[0], [1], [1], [0]], dtype=float),
}


@pytest.mark.parametrize("gate", ["OR", "XOR"])
def test_mlp_learns_the_gate(gate):
    Y = TARGETS[gate]
    model = nn.MLP([2, 2, 1], seed=0)
    optimizer = nn.SGD(model.parameters(), lr=3.0)
    with ag.no_grad():
        start = ag.quadratic_cost(model(X), Y).item()
    for _ in range(2000):
        optimizer.zero_grad()
        ag.quadratic_cost(model(X), Y).backward()
        optimizer.step()
    with ag.no_grad():
        out = model(X)
    assert nn.accuracy(out, Y) == 1.0
    assert ag.quadratic_cost(out, Y).item() < min(0.01, start / 10)
