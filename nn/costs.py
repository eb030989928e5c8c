"""The costs a network is trained with, each in two forms that must agree:

- `loss(output, Y)`: the cost on Tensors, a mean over the m examples of the batch, which
  autodiff differentiates;
- `delta(z, a, y, activation)`: the output error δᴸ = ∂C_x/∂zᴸ of *one* example x (BP1), with
  `z`, `a`, `y` of the output layer, classes along the last axis (a row of the batch). The
  closed-form backprop divides it by m for the batch mean.

| name                    | output layer  | C_x                                | δᴸ (BP1)        |
|-------------------------|---------------|------------------------------------|-----------------|
| `quadratic`             | any           | ½‖a − y‖²                          | (a − y) ⊙ σ′(z) |
| `cross-entropy`         | sigmoid       | −Σⱼ yⱼ ln aⱼ + (1 − yⱼ) ln(1 − aⱼ) | a − y           |
| `softmax-cross-entropy` | none (logits) | −ln softmax(z)_y                   | softmax(z) − y  |

(For cross-entropy with sigmoid outputs the σ′(z) of BP1 cancels against ∂C/∂a.)
Y: targets of the output's shape (m, k); for `softmax-cross-entropy` also integer labels (m,).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import autograd_mini as ag
from autograd_mini import Tensor

from .batches import one_hot


@dataclass(frozen=True)
class Cost:
    name: str
    loss: Callable[[Tensor, Any], Tensor]
    delta: Callable[[np.ndarray, np.ndarray, np.ndarray, Any], np.ndarray]
    output_activation: str | None  # the output activation it needs, or None for any
    takes_labels: bool = False  # its targets may be integer class labels (m,) as they are
    min_outputs: int = 1  # the fewest output units for which the cost is not a constant

    def check_outputs(self, n_outputs: int) -> None:
        """Raise ValueError when a network with `n_outputs` output units cannot be trained or
        checked with this cost (a softmax over one class is always 1: the cost is constant
        and every gradient 0, while BP1's softmax(z) − y would not be)."""
        if n_outputs < self.min_outputs:
            raise ValueError(
                f"the {self.name} cost needs at least {self.min_outputs} output units, the "
                f"network has {n_outputs}: a softmax over one class is always 1, so the cost "
                "would be constant and every gradient 0. Give the network one output per "
                "class, or use the cross-entropy cost with one sigmoid output."
            )

    def targets(self, Y: Any, n_outputs: int, dtype: Any) -> np.ndarray:
        """Y as an array of the output's shape (m, k): integer labels (m,) become one-hot rows
        (or a column (m, 1) for a single output unit)."""
        Y = Y.data if isinstance(Y, Tensor) else np.asarray(Y)
        if Y.ndim == 1 and n_outputs == 1:
            return Y.reshape(-1, 1).astype(dtype)
        if Y.ndim == 1:
            return one_hot(Y, n_outputs, dtype=dtype)
        return Y.astype(dtype, copy=False)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _batch_size(output: Tensor) -> int:
    return output.shape[0] if output.ndim >= 2 else 1


QUADRATIC = Cost(
    name="quadratic",
    loss=ag.quadratic_cost,
    delta=lambda z, a, y, activation: (a - y) * activation.derivative(z),
    output_activation=None,
)

CROSS_ENTROPY = Cost(
    name="cross-entropy",
    loss=lambda a, Y: ag.binary_cross_entropy(a, Y, reduction="sum") / _batch_size(a),
    delta=lambda z, a, y, activation: a - y,
    output_activation="sigmoid",
)

SOFTMAX_CROSS_ENTROPY = Cost(
    name="softmax-cross-entropy",
    loss=ag.cross_entropy,
    delta=lambda z, a, y, activation: _softmax(z) - y,
    output_activation="identity",
    takes_labels=True,
    min_outputs=2,
)

COSTS = {cost.name: cost for cost in (QUADRATIC, CROSS_ENTROPY, SOFTMAX_CROSS_ENTROPY)}


def get_cost(cost: str | Cost) -> Cost:
    """A cost from its name ("quadratic", "cross-entropy", "softmax-cross-entropy")."""
    if isinstance(cost, Cost):
        return cost
    key = str(cost).lower().replace("_", "-")
    if key not in COSTS:
        raise ValueError(f"unknown cost {cost!r}; choose one of {sorted(COSTS)}.")
    return COSTS[key]
