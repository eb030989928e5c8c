"""The ops as functions, `ag.exp(t)` beside `t.exp()`; arrays and numbers are accepted.

Each function converts its argument to a Tensor (a constant when it is not one) and calls
the method of the same name, so the two spellings can never disagree.
"""

from __future__ import annotations

import numpy as np

from .errors import ShapeError
from .tensor import Tensor, TensorLike


def as_tensor(x: TensorLike) -> Tensor:
    """`x` itself when it is a Tensor, else a constant Tensor wrapping it."""
    return x if isinstance(x, Tensor) else Tensor(x)


def exp(x: TensorLike) -> Tensor:
    """e^x, elementwise."""
    return as_tensor(x).exp()


def log(x: TensorLike) -> Tensor:
    """Natural logarithm, elementwise."""
    return as_tensor(x).log()


def sigmoid(x: TensorLike) -> Tensor:
    """σ(x) = 1/(1 + e^(−x)), elementwise, stable for any x."""
    return as_tensor(x).sigmoid()


def tanh(x: TensorLike) -> Tensor:
    """tanh(x), elementwise."""
    return as_tensor(x).tanh()


def relu(x: TensorLike) -> Tensor:
    """max(x, 0), elementwise."""
    return as_tensor(x).relu()


def sqrt(x: TensorLike) -> Tensor:
    """√x, elementwise."""
    return as_tensor(x).sqrt()


def sum(x: TensorLike, axis=None, keepdims: bool = False) -> Tensor:
    """Sum over `axis` (all axes when None)."""
    return as_tensor(x).sum(axis=axis, keepdims=keepdims)


def mean(x: TensorLike, axis=None, keepdims: bool = False) -> Tensor:
    """Mean over `axis` (all axes when None)."""
    return as_tensor(x).mean(axis=axis, keepdims=keepdims)


def max(x: TensorLike, axis=None, keepdims: bool = False) -> Tensor:
    """Maximum over `axis`; the gradient is split evenly among ties."""
    return as_tensor(x).max(axis=axis, keepdims=keepdims)


def reshape(x: TensorLike, *shape) -> Tensor:
    """The same values in a new shape."""
    return as_tensor(x).reshape(*shape)


def transpose(x: TensorLike, *axes) -> Tensor:
    """Permute the axes (reverse them when none are given)."""
    return as_tensor(x).transpose(*axes)


def matmul(a: TensorLike, b: TensorLike) -> Tensor:
    """`a @ b`: 1-D, 2-D and batched N-D, as numpy's matmul."""
    return as_tensor(a) @ b


ACTIVATIONS = {"sigmoid": Tensor.sigmoid, "tanh": Tensor.tanh, "relu": Tensor.relu}
"""The activations `linear` applies, by name."""


def linear(
    x: TensorLike,
    weight: TensorLike,
    bias: TensorLike | None = None,
    activation: str | None = None,
) -> Tensor:
    """A layer in the row-batch convention: `Z = x @ weight + bias`, then `A = f(Z)`.

    x: (m, n_in) or (n_in,); weight: (n_in, n_out); bias: (n_out,) or None; activation:
    "sigmoid", "tanh", "relu" or None. Recorded as the book writes it: `matmul`, `add`
    (the bias broadcast over the m rows, so its gradient is the sum over the batch), then
    the activation. `autograd_mini.fused.linear` records the same numbers as one node.
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


def softmax(x: TensorLike, axis: int = -1) -> Tensor:
    """e^x / Σ e^x along `axis`, stable."""
    return as_tensor(x).softmax(axis=axis)


def log_softmax(x: TensorLike, axis: int = -1) -> Tensor:
    """x − ln Σ e^x along `axis`, stable."""
    return as_tensor(x).log_softmax(axis=axis)
