"""The ops as functions, `ag.exp(t)` beside `t.exp()`; arrays and numbers are accepted.

Each function of one input converts its argument to a Tensor (a constant when it is not
one) and calls the method of the same name, so the two spellings can never disagree. The
ops of several inputs (`maximum`, `minimum`, `where`, `concatenate`, `stack`) are functions
only; they pass numbers through as they are, so float32 tensors stay float32.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import ops
from .errors import InputError, ShapeError
from .tensor import Tensor, TensorLike, apply


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


def abs(x: TensorLike) -> Tensor:
    """|x|, elementwise; the gradient is 0 at x = 0."""
    return as_tensor(x).abs()


def clip(x: TensorLike, lo: float | None = None, hi: float | None = None) -> Tensor:
    """x limited to [lo, hi]; the gradient is dz inside (bounds included), 0 outside."""
    return as_tensor(x).clip(lo, hi)


def log1p(x: TensorLike) -> Tensor:
    """ln(1 + x), elementwise, accurate for tiny x."""
    return as_tensor(x).log1p()


def expm1(x: TensorLike) -> Tensor:
    """e^x − 1, elementwise, accurate for tiny x."""
    return as_tensor(x).expm1()


def leaky_relu(x: TensorLike, slope: float = 0.01) -> Tensor:
    """x where x > 0, else slope·x, elementwise."""
    return as_tensor(x).leaky_relu(slope)


def softplus(x: TensorLike) -> Tensor:
    """ln(1 + e^x), elementwise, stable for any x."""
    return as_tensor(x).softplus()


def maximum(a: TensorLike, b: TensorLike) -> Tensor:
    """The larger of a and b, elementwise, with broadcasting (numpy's maximum).

    da = dz where a > b, db = dz where b > a; where they tie the gradient is split evenly
    (dz/2 each), as `max` splits it among ties.
    """
    return apply(ops.maximum, a, b)


def minimum(a: TensorLike, b: TensorLike) -> Tensor:
    """The smaller of a and b, elementwise, with broadcasting; ties split the gradient."""
    return apply(ops.minimum, a, b)


def where(condition: TensorLike, a: TensorLike, b: TensorLike) -> Tensor:
    """a where `condition` is True, b elsewhere, with broadcasting (numpy's where).

    condition: a boolean array or Tensor (e.g. `x.data > 0`), not differentiated; any other
    dtype is refused. da = dz where the condition holds, db = dz where it does not.
    """
    if isinstance(condition, (list, tuple)):
        condition = np.asarray(condition)  # keeps [True, False] boolean
    return apply(ops.where, condition, a, b)


def _joined(op: ops.Op, tensors: Sequence[TensorLike], axis: int) -> Tensor:
    """The tensors joined by `op`, through the Op `for_call` makes for their shapes."""
    if isinstance(tensors, (Tensor, np.ndarray)) or not isinstance(tensors, Sequence):
        raise InputError(
            f"{op.name}: expected a list or tuple of tensors, got {type(tensors).__name__}; "
            f"write ag.{op.name}([a, b], axis=...)."
        )
    shapes = [x.shape if isinstance(x, Tensor) else np.shape(x) for x in tensors]
    return apply(op.for_call(shapes, axis=axis), *tensors, axis=axis)


def concatenate(tensors: Sequence[TensorLike], axis: int = 0) -> Tensor:
    """The tensors joined along an existing `axis`, as numpy's concatenate (torch's cat):
    `(10, 30)` and `(10, 20)` along axis 1 give `(10, 50)`.

    Each input's gradient is its slice of dz: dx₁ = dz[:, 0:30], dx₂ = dz[:, 30:50]
    (`explain()` and the drawings show each input's slice). All the inputs must have the
    same number of axes and agree on every axis but `axis`.
    """
    return _joined(ops.concatenate, tensors, axis)


def stack(tensors: Sequence[TensorLike], axis: int = 0) -> Tensor:
    """The tensors, all of one shape, joined along a new `axis`, as numpy's stack: three
    `(10, 30)` along axis 1 give `(10, 3, 30)`. Input i's gradient is dz[:, i]
    (for axis 1), the slice it went to."""
    return _joined(ops.stack, tensors, axis)


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


def min(x: TensorLike, axis=None, keepdims: bool = False) -> Tensor:
    """Minimum over `axis`; the gradient is split evenly among ties."""
    return as_tensor(x).min(axis=axis, keepdims=keepdims)


def var(x: TensorLike, axis=None, *, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """Variance Σ (x − mean)² / (n − ddof) over `axis`; batch norm uses ddof=0 in training."""
    return as_tensor(x).var(axis=axis, keepdims=keepdims, ddof=ddof)


def std(x: TensorLike, axis=None, *, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """Standard deviation √var over `axis`; the gradient is 0 where it is 0."""
    return as_tensor(x).std(axis=axis, keepdims=keepdims, ddof=ddof)


def logsumexp(x: TensorLike, axis=None, keepdims: bool = False) -> Tensor:
    """ln Σ e^x over `axis` (all axes when None), stable for any x."""
    return as_tensor(x).logsumexp(axis=axis, keepdims=keepdims)


def flatten(x: TensorLike) -> Tensor:
    """The values as one axis."""
    return as_tensor(x).flatten()


def squeeze(x: TensorLike, axis=None) -> Tensor:
    """Drop axes of size 1 (all of them when `axis` is None)."""
    return as_tensor(x).squeeze(axis)


def expand_dims(x: TensorLike, axis) -> Tensor:
    """Insert axes of size 1 at `axis`."""
    return as_tensor(x).expand_dims(axis)


def swapaxes(x: TensorLike, axis1: int, axis2: int) -> Tensor:
    """Exchange two axes (torch's transpose(axis1, axis2))."""
    return as_tensor(x).swapaxes(axis1, axis2)


def reshape(x: TensorLike, *shape) -> Tensor:
    """The same values in a new shape."""
    return as_tensor(x).reshape(*shape)


def transpose(x: TensorLike, *axes) -> Tensor:
    """Permute the axes (reverse them when none are given); a full permutation, as numpy's
    (to swap two axes as torch's transpose(0, 1) does, use swapaxes)."""
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
