"""The ops as functions, `ag.exp(t)` beside `t.exp()`; arrays and numbers are accepted.

Each function converts its argument to a Tensor (a constant when it is not one) and calls
the method of the same name, so the two spellings can never disagree.
"""

from __future__ import annotations

from . import ops
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


def linear(
    x: TensorLike,
    weight: TensorLike,
    bias: TensorLike | None = None,
    activation: str | None = None,
) -> Tensor:
    """`x @ weight + bias` as one fused op (row-batch convention).

    x: (m, n_in) or (n_in,); weight: (n_in, n_out); bias: (n_out,) or None.
    Its VJPs are BP3/BP4 in row form: dX = dZ @ Wᵀ, dW = Xᵀ @ dZ, db = Σ_rows dZ.
    activation ("sigmoid", "tanh" or "relu"): A = f(x @ weight + bias) as one node,
    `linear+sigmoid` etc., whose backward first forms δ = dA ⊙ f′(Z) (BP2), then the same
    VJPs on δ. Bit-identical to `linear(...)` followed by the activation, with half the
    bookkeeping; Z is then not a tensor of its own.
    """
    if activation is not None and activation not in ops.FUSED_LINEAR:
        raise ValueError(
            f"linear: activation must be one of {sorted(ops.FUSED_LINEAR)} or None, "
            f"got {activation!r}."
        )
    if bias is None:
        z = as_tensor(x) @ weight
        return z if activation is None else getattr(z, activation)()
    op = ops.linear if activation is None else ops.FUSED_LINEAR[activation]
    return apply(op, x, weight, bias)


def softmax(x: TensorLike, axis: int = -1) -> Tensor:
    """e^x / Σ e^x along `axis`, stable."""
    return as_tensor(x).softmax(axis=axis)


def log_softmax(x: TensorLike, axis: int = -1) -> Tensor:
    """x − ln Σ e^x along `axis`, stable."""
    return as_tensor(x).log_softmax(axis=axis)
