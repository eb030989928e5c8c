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
    target_range: tuple[float, float] | None = None  # the targets it is defined for

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
    target_range=(0.0, 1.0),
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


# ----------------------------------------------------------------------------------------
# A batch checked against the network and the cost, before any work is done on it
# ----------------------------------------------------------------------------------------

OUTPUT_RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}
"""What an output layer with this activation can produce: a target outside is never reached."""


def _numbers(value: Any, who: str, name: str) -> np.ndarray:
    array = value.data if isinstance(value, Tensor) else np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"{who}: {name} must hold numbers, got an array of dtype {array.dtype} "
            f"(shape {array.shape})."
        )
    return array


def _first_non_finite(array: np.ndarray, who: str, name: str, advice: str) -> None:
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        row = int(np.flatnonzero(~np.isfinite(array.reshape(len(array), -1)).all(axis=1))[0])
        raise ValueError(
            f"{who}: {name} holds NaN or infinite values (the first in row {row}); {advice}."
        )


def check_labels(labels: np.ndarray, n_classes: int, who: str, name: str = "Y") -> None:
    """Refuse class labels that are not whole numbers in 0..n_classes − 1 (one network output
    tells two classes, 0 and 1)."""
    classes = max(n_classes, 2)
    whole = np.equal(np.mod(labels, 1), 0) if labels.dtype.kind == "f" else np.ones(1, bool)
    if not np.all(whole):
        row = int(np.flatnonzero(~whole)[0])
        raise ValueError(
            f"{who}: row {row} of {name} holds {labels[row].item()}, not a whole number, where "
            f"a class label 0..{classes - 1} belongs."
        )
    outside = (labels < 0) | (labels >= classes)
    if np.any(outside):
        row = int(np.flatnonzero(outside)[0])
        if n_classes == 1:
            reason = "a network with one output tells two classes (0 and 1) only"
        else:
            reason = f"the network has {n_classes} outputs, one per class"
        raise ValueError(
            f"{who}: label {labels[row].item()} in row {row} of {name} is outside "
            f"0..{classes - 1}: {reason}."
        )


def check_inputs(
    X: Any,
    who: str,
    *,
    n_inputs: int | None = None,
    name: str = "X",
    data: str = "the batch",
    finite: bool = True,
) -> np.ndarray:
    """X as an array, after refusing (ValueError naming `who` and the value) anything but a
    2-D array of numbers with at least one row and `n_inputs` columns; with `finite`, also
    NaN and infinite values."""
    X = _numbers(X, who, name)
    if X.ndim != 2:
        raise ValueError(
            f"{who}: {name} must be a 2-D array, one example a row, got shape {X.shape}."
        )
    if len(X) == 0:
        raise ValueError(f"{who}: {data} has 0 rows; give at least one example.")
    if n_inputs is not None and X.shape[1] != n_inputs:
        raise ValueError(
            f"{who}: {name} has {X.shape[1]} columns, but the network takes {n_inputs} inputs."
        )
    if finite:
        _first_non_finite(X, who, name, "clean the data")
    return X


def check_targets(
    cost: Cost,
    Y: Any,
    n_rows: int,
    n_outputs: int,
    who: str,
    *,
    output_activation: str | None = None,
) -> np.ndarray:
    """Y as an array, after refusing (ValueError naming `who` and the bad value) targets that a
    network of `n_outputs` outputs cannot be given with this cost for `n_rows` examples:

    - another number of rows, NaN or infinite values, or another width than the network's;
    - labels (m,) that are not whole numbers 0..n_outputs − 1, for a cost that takes labels
      or a network of several outputs (one output: 0 and 1, or float targets);
    - targets the cost is not defined for (cross-entropy: [0, 1]) or that the output layer's
      `output_activation` can never produce (sigmoid: [0, 1], tanh: [−1, 1]).
    """
    cost.check_outputs(n_outputs)
    Y = _numbers(Y, who, "Y")
    if Y.ndim == 0 or len(Y) != n_rows:
        rows = "a scalar" if Y.ndim == 0 else f"{len(Y)} rows"
        raise ValueError(f"{who}: X has {n_rows} rows but Y has {rows}; they must match.")
    _first_non_finite(Y, who, "Y", "clean the targets")
    m, k = n_rows, n_outputs
    if Y.ndim == 1 and (cost.takes_labels or k > 1):
        check_labels(Y, k, who)
        return Y
    if Y.ndim == 1 and Y.dtype.kind in "iub" and np.any((Y != 0) & (Y != 1)):
        raise ValueError(
            f"{who}: Y holds the integer labels {Y.min()}..{Y.max()}, but a network with one "
            f"output tells two classes (0 and 1) only; give it one output per class, or give "
            f"float targets of shape ({m}, 1) for regression."
        )
    if Y.ndim > 2 or (Y.ndim == 2 and Y.shape[1] != k):
        labels = f" or labels of shape ({m},)" if cost.takes_labels or k > 1 else ""
        raise ValueError(
            f"{who}: Y has shape {Y.shape}, but the network has {k} output"
            f"{'s' if k > 1 else ''}: give targets of shape ({m}, {k}){labels}."
        )
    ranges = [(cost.target_range, f"the {cost.name} cost is defined for targets in")]
    if output_activation in OUTPUT_RANGES:
        ranges.append(
            (OUTPUT_RANGES[output_activation], f"the network's {output_activation} outputs lie in")
        )
    low, high = float(Y.min()), float(Y.max())
    for limits, why in ranges:
        if limits is not None and (low < limits[0] or high > limits[1]):
            raise ValueError(
                f"{who}: Y holds targets from {low:g} to {high:g}, but {why} "
                f"[{limits[0]:g}, {limits[1]:g}]; scale the targets into that range."
            )
    return Y
