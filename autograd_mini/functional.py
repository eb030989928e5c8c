"""The ops as functions: `ag.exp(t)` beside `t.exp()`, `ag.maximum(a, b)`, `ag.mse_loss(A, Y)`.

Every op of the table with `function=True` is a function here with the op's own signature
and docstring, made from its entry (`FUNCTIONS`); arrays, lists and numbers are accepted
wherever a Tensor is. Below them, the few spellings that are another op, or more than one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import losses  # noqa: F401 (importing the losses adds them to the op table)
from .activations import ACTIVATIONS
from .engine import Tensor, apply
from .errors import InputError, LabelError, ShapeError
from .formulas import OPS, Op
from .tensor import TensorLike


def sequence_of_tensors(name: str, tensors: Any) -> Sequence:
    """The tensors an op of any number of inputs joins, as a list or tuple, or a clear error."""
    if isinstance(tensors, (Tensor, np.ndarray)) or not isinstance(tensors, Sequence):
        raise InputError(
            f"{name}: expected a list or tuple of tensors, got {type(tensors).__name__}; "
            f"write ag.{name}([a, b], axis=...)."
        )
    return tensors


def _function(op: Op) -> Any:
    """`ag.<op>(inputs..., params...)`, with the op's signature and docstring."""
    keywords = "".join(f", {p}={p}" for p in op.params)
    if op.variadic:
        (inputs,) = op.inputs
        signature = op.signature.replace(f"*{inputs}", inputs, 1)
        call = f"*sequence_of_tensors({op.name!r}, {inputs}){keywords}"
    else:
        signature, call = op.signature, ", ".join(op.inputs) + keywords
    source = f"def {signature}:\n    return apply(OP, {call})\n"
    namespace: dict[str, Any] = {
        "OP": op,
        "apply": apply,
        "sequence_of_tensors": sequence_of_tensors,
    }
    exec(source, namespace)
    function = namespace[op.name]
    rules = "\n".join(op.rules)
    function.__doc__ = f"{op.doc}.\n\n{rules}" if op.doc else rules
    function.__module__ = "autograd_mini"
    return function


FUNCTIONS = {op.name: _function(op) for op in OPS.values() if op.function}
"""`ag.<name>` for every op that is a function, by name."""
globals().update(FUNCTIONS)


def as_tensor(x: TensorLike) -> Tensor:
    """`x` itself when it is a Tensor, else a constant Tensor wrapping it."""
    return x if isinstance(x, Tensor) else Tensor(x)


def sqrt(x: TensorLike) -> Tensor:
    """√x, elementwise: `x ** 0.5`."""
    return as_tensor(x).sqrt()


def flatten(x: TensorLike) -> Tensor:
    """The values as one axis: `reshape(x, (-1,))`."""
    return as_tensor(x).flatten()


def swapaxes(x: TensorLike, axis1: int, axis2: int) -> Tensor:
    """Exchange two axes (torch's transpose(axis1, axis2)): a `transpose`."""
    return as_tensor(x).swapaxes(axis1, axis2)


def astype(x: TensorLike, dtype: Any) -> Tensor:
    """The values cast to `dtype` (see `Tensor.astype`)."""
    return as_tensor(x).astype(dtype)


def cross_entropy(z: TensorLike, y: TensorLike, reduction: str = "mean") -> Tensor:
    """Softmax + negative log-likelihood, fused and stable: `−ln softmax(z_x)[y_x]`.

    z: `(m, k)` raw scores (or `(k,)` for one example). y: integer class labels of shape
    `(m,)`, or probabilities / one-hot rows of shape `(m, k)` (then the loss is
    `−Σ_j y_j ln softmax(z)_j`). "mean" divides by the number of examples m (not m·k), so
    `∂L/∂z = (softmax(z) − onehot(y)) / m`. Stable: computed from `z − max(z)`.
    """
    if isinstance(y, Tensor) and y.requires_grad and y.ndim < np.ndim(z):
        raise LabelError(
            "cross_entropy: class labels cannot require grad (they are indices); "
            "pass them as a plain array or a Tensor with requires_grad=False."
        )
    labels = y if isinstance(y, Tensor) else np.asarray(y)  # a label as a 0-d array, not a number
    return FUNCTIONS["cross_entropy"](z, labels, reduction)


def linear(
    x: TensorLike,
    weight: TensorLike,
    bias: TensorLike | None = None,
    activation: str | None = None,
) -> Tensor:
    """A layer in the row-batch convention: `Z = x @ weight + bias`, then `A = f(Z)`.

    x: (m, n_in) or (n_in,); weight: (n_in, n_out); bias: (n_out,) or None; activation: the
    name of one of `ag.ACTIVATIONS` ("sigmoid", "tanh", "relu", ...) or None. Recorded as
    the book writes it: `matmul`, `add` (the bias broadcast over the m rows, so its gradient
    is the sum over the batch), then the activation.
    """
    if activation is not None and activation not in ACTIVATIONS:
        raise ValueError(
            f"linear: activation must be one of {sorted(ACTIVATIONS)} or None, got {activation!r}."
        )
    z = as_tensor(x) @ weight
    if bias is not None:
        stretched = z + bias
        if stretched.shape != z.shape:
            raise ShapeError(
                f"linear: a bias of shape {np.shape(bias)} would stretch X @ W of shape "
                f"{z.shape} to {stretched.shape}; give the bias shape {z.shape[-1:]}."
            )
        z = stretched
    return z if activation is None else ACTIVATIONS[activation](z)


__all__ = [
    *FUNCTIONS,
    "as_tensor",
    "astype",
    "cross_entropy",
    "flatten",
    "linear",
    "sqrt",
    "swapaxes",
]
