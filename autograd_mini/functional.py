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
from .einsum import einsum, tensordot
from .engine import Tensor, apply
from .errors import InputError, LabelError, ShapeError
from .formulas import OPS, Op
from .tensor import (
    UNSET,
    TensorLike,
    ValuesIndices,
    documentation,
    flag,
    renamed,
    torch_keywords,
)


def sequence_of_tensors(name: str, tensors: Any) -> Sequence:
    """The tensors an op of any number of inputs joins, as a list or tuple, or a clear error."""
    if isinstance(tensors, ValuesIndices):  # (values, indices) of max: no list of tensors
        tensors._refuse()
    if isinstance(tensors, (Tensor, np.ndarray)) or not isinstance(tensors, Sequence):
        raise InputError(
            f"{name}: expected a list or tuple of tensors, got {type(tensors).__name__}; "
            f"write ag.{name}([a, b], axis=...)."
        )
    return tensors


def _function(op: Op, name: str) -> Any:
    """`ag.<name>(inputs..., params...)`, op under its name or an alias, with the op's
    signature (and torch's keywords, see `tensor.TORCH_KEYWORDS`) and docstring."""
    keywords = "".join(f", {p}={p}" for p in op.params)
    if op.variadic:
        (inputs,) = op.inputs
        signature = op.signature.replace(f"*{inputs}", inputs, 1)
        call = f"*sequence_of_tensors({op.name!r}, {inputs}){keywords}"
    else:
        signature, call = op.signature, ", ".join(op.inputs) + keywords
    signature = signature.replace(op.name, name, 1)
    signature, renaming = torch_keywords(op, signature)
    source = f"def {signature}:\n{renaming}    return apply(OP, {call})\n"
    namespace: dict[str, Any] = {
        "OP": op,
        "apply": apply,
        "sequence_of_tensors": sequence_of_tensors,
        "UNSET": UNSET,
        "renamed": renamed,
        "flag": flag,
    }
    exec(source, namespace)
    function = namespace[name]
    function.__doc__ = documentation(op, name, op.rules)
    function.__module__ = "autograd_mini"
    return function


FUNCTIONS = {
    name: _function(op, name)
    for op in OPS.values()
    if op.function
    for name in (op.name, *op.aliases)
}
"""`ag.<name>` for every op that is a function, by name (and by its aliases)."""
globals().update(FUNCTIONS)


def as_tensor(x: TensorLike) -> Tensor:
    """`x` itself when it is a Tensor, else a constant Tensor wrapping it."""
    return x if isinstance(x, Tensor) else Tensor(x)


def sqrt(x: TensorLike) -> Tensor:
    """√x, elementwise: `x ** 0.5`."""
    return as_tensor(x).sqrt()


def flatten(x: TensorLike, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """The values as one axis, `reshape(x, (-1,))`, or those of axes start_dim..end_dim
    (torch's `flatten(x, 1)`)."""
    return as_tensor(x).flatten(start_dim, end_dim)


def swapaxes(x: TensorLike, axis1: int, axis2: int) -> Tensor:
    """Exchange two axes (torch's transpose(axis1, axis2)): a `transpose`."""
    return as_tensor(x).swapaxes(axis1, axis2)


def astype(x: TensorLike, dtype: Any) -> Tensor:
    """The values cast to `dtype` (see `Tensor.astype`)."""
    return as_tensor(x).astype(dtype)


def cross_entropy(
    z: TensorLike,
    y: TensorLike,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax + negative log-likelihood, fused and stable: `−ln softmax(z_x)[y_x]`.

    z: `(m, k)` raw scores (or `(k,)` for one example, or `(m, k, d1, ...)`: the classes
    lie along axis 1, as in PyTorch). y: integer class labels of z's shape without the class
    axis (`(m,)`), or probabilities / one-hot rows of z's shape (then the loss is
    `−Σ_j y_j ln softmax(z)_j`). "mean" divides by the number of labels m (not m·k), so
    `∂L/∂z = (softmax(z) − onehot(y)) / m`. label_smoothing ε: the target is
    `(1 − ε) onehot(y) + ε/k`, as torch's. Stable: computed from `z − max(z)`.
    """
    if isinstance(y, Tensor) and y.requires_grad and y.ndim < np.ndim(z):
        raise LabelError(
            "cross_entropy: class labels cannot require grad (they are indices); "
            "pass them as a plain array or a Tensor with requires_grad=False."
        )
    labels = y if isinstance(y, Tensor) else np.asarray(y)  # a label as a 0-d array, not a number
    return FUNCTIONS["cross_entropy"](z, labels, reduction, label_smoothing)


# ----------------------------------------------------------------------------------------
# torch's and the array API's spellings of the ops (one line each)
# ----------------------------------------------------------------------------------------


def transpose(x: TensorLike, *dims: Any, axes: Any = None) -> Tensor:
    """numpy's `transpose(x, axes)` (a full permutation; reversed when None) or torch's
    `transpose(x, dim0, dim1)` (two axes swapped): see `Tensor.transpose`."""
    if axes is not None and dims:
        raise TypeError("transpose: give the axes once, positionally or as axes=.")
    return as_tensor(x).transpose(*(dims or ((axes,) if axes is not None else ())))


def permute(x: TensorLike, dims: Any) -> Tensor:
    """The axes in the order `dims`, a full permutation (torch's permute)."""
    return as_tensor(x).permute(dims)


def permute_dims(x: TensorLike, axes: Any) -> Tensor:
    """The array API's name of `permute`."""
    return as_tensor(x).permute(axes)


def unsqueeze(x: TensorLike, dim: int) -> Tensor:
    """torch's name of `expand_dims`."""
    return as_tensor(x).expand_dims(dim)


def cat(tensors: Sequence[TensorLike], dim: int = 0, *, axis: Any = None) -> Tensor:
    """torch's name of `concatenate`."""
    return FUNCTIONS["concatenate"](tensors, dim if axis is None else axis)


def concat(tensors: Sequence[TensorLike], axis: int = 0) -> Tensor:
    """The array API's name of `concatenate`."""
    return FUNCTIONS["concatenate"](tensors, axis)


def mm(x: TensorLike, y: TensorLike) -> Tensor:
    """torch's name of `matmul` for matrices (`x @ y`)."""
    return FUNCTIONS["matmul"](x, y)


def bmm(x: TensorLike, y: TensorLike) -> Tensor:
    """torch's name of `matmul` for batches of matrices (`x @ y`)."""
    return FUNCTIONS["matmul"](x, y)


def outer(x: TensorLike, y: TensorLike) -> Tensor:
    """The outer product of two vectors, `einsum("i,j->ij", x, y)`."""
    return einsum("i,j->ij", x, y)


def pow(x: TensorLike, exponent: TensorLike) -> Tensor:
    """`x ** exponent` (torch's pow)."""
    return as_tensor(x) ** exponent


def max(x: TensorLike, *positional: Any, **keywords: Any) -> Any:
    """The maximum over `axis` (`ag.max(x, axis=1)`); as torch's, an axis given
    positionally or as `dim=` gives `(values, indices)` and a second tensor the elementwise
    maximum (see `Tensor.max`)."""
    return as_tensor(x).max(*positional, **keywords)


def min(x: TensorLike, *positional: Any, **keywords: Any) -> Any:
    """The minimum over `axis` (`ag.min(x, axis=1)`); as torch's, an axis given
    positionally or as `dim=` gives `(values, indices)` and a second tensor the elementwise
    minimum (see `Tensor.min`)."""
    return as_tensor(x).min(*positional, **keywords)


def argmax(
    x: TensorLike,
    axis: Any = None,
    keepdims: bool = False,
    *,
    dim: Any = UNSET,
    keepdim: Any = UNSET,
) -> np.ndarray:
    """Where the largest value is along `axis`: a plain integer numpy array, not recorded
    (see `Tensor.argmax`)."""
    return as_tensor(x).argmax(axis, keepdims, dim=dim, keepdim=keepdim)


def argmin(
    x: TensorLike,
    axis: Any = None,
    keepdims: bool = False,
    *,
    dim: Any = UNSET,
    keepdim: Any = UNSET,
) -> np.ndarray:
    """Where the smallest value is along `axis`: a plain integer numpy array, not recorded."""
    return as_tensor(x).argmin(axis, keepdims, dim=dim, keepdim=keepdim)


def dropout(
    x: TensorLike,
    p: float = 0.5,
    training: bool = True,
    rng: Any = None,
    *,
    generator: Any = None,
) -> Tensor:
    """Inverted dropout: each element zeroed with probability p, the others scaled by
    1/(1 − p), so that the expected value is x's (torch's `F.dropout(x, p, training)`).

    training=False gives x itself (evaluation). rng: a numpy Generator (each call draws a
    new mask from it), a seed (the same mask at every call) or None (a Generator seeded by
    the operating system, different at every run); torch's `generator=` is taken too. The
    global numpy state is never used. The mask is a constant of the op `dropout`, so the
    gradient is `dx = dz * mask / (1 − p)`. p = 1 gives zeros (recorded as `x * 0`).
    """
    p = p.item() if isinstance(p, np.generic) else p
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise InputError(f"dropout: p is the probability of zeroing, in [0, 1], got {p!r}.")
    if generator is not None:
        if rng is not None:
            raise TypeError("dropout: give rng or generator, not both.")
        rng = generator
    x = as_tensor(x)
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    mask = np.random.default_rng(rng).random(x.shape) >= p
    return apply(OPS["dropout"], x, mask=mask, p=p)


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
    "argmax",
    "argmin",
    "as_tensor",
    "astype",
    "bmm",
    "cat",
    "concat",
    "cross_entropy",
    "dropout",
    "einsum",
    "flatten",
    "linear",
    "mm",
    "outer",
    "permute",
    "permute_dims",
    "pow",
    "sqrt",
    "swapaxes",
    "tensordot",
    "unsqueeze",
]
