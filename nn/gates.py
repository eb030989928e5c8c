"""The OR and XOR lesson: the 2-2-1 sigmoid network, its truth tables and its training.

    >>> import nn
    >>> model = nn.gates.network("OR")            # from the stated starting weights
    >>> costs = nn.gates.train(model, nn.gates.TARGETS["OR"])

`autograd-mini demo` and `examples/or_gate.py` are built on it.
"""

from __future__ import annotations

import numpy as np

import autograd_mini as ag

from .layers import MLP
from .optim import SGD

INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
"""The four rows of a two-input truth table, one example per row: X is (4, 2)."""

TARGETS = {
    "OR": np.array([[0], [1], [1], [1]], dtype=float),
    "XOR": np.array([[0], [1], [1], [0]], dtype=float),
}
"""Each gate's outputs for INPUTS, as a column (4, 1)."""

OR_START = {
    "layers.0.weight": np.array([[0.5, -0.4], [0.3, 0.8]]),
    "layers.0.bias": np.array([0.1, -0.2]),
    "layers.1.weight": np.array([[0.7], [-0.6]]),
    "layers.1.bias": np.array([0.05]),
}
"""The OR network's stated starting weights (row convention: W[i][j] from unit i to unit j)."""


def network(gate: str) -> MLP:
    """The 2-2-1 sigmoid network: OR from its stated starting weights, XOR from seed 0."""
    if gate not in TARGETS:
        raise ValueError(f"gates.network: gate must be one of {sorted(TARGETS)}, got {gate!r}.")
    model = MLP([2, 2, 1], seed=0)
    if gate == "OR":
        model.load_state_dict(OR_START)
    return model


def train(model: MLP, Y: np.ndarray, steps: int = 2000, lr: float = 3.0) -> list[float]:
    """Full-batch gradient descent on the four rows with the quadratic cost; returns the cost
    every 500 steps (before the step)."""
    optimizer = SGD(model.parameters(), lr=lr)
    costs = []
    for step in range(steps + 1):
        optimizer.zero_grad()
        loss = ag.quadratic_cost(model(INPUTS), Y)
        if step % 500 == 0:
            costs.append(loss.item())
        if step < steps:
            loss.backward()
            optimizer.step()
    return costs
