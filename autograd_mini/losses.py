"""Loss functions, each one primitive: forward and VJPs in one table entry.

Where the 1/m goes is the most common source of a factor-m bug, so each docstring says
what its "mean" divides by. With predictions `A: (m, k)` and targets `Y: (m, k)`:

| function                          | "mean" is                      | ∂L/∂A          |
|-----------------------------------|--------------------------------|----------------|
| `mse_loss(A, Y)`                  | Σ (a − y)² / (m·k)             | 2(A − Y)/(m·k) |
| `quadratic_cost(A, Y)` (Nielsen)  | Σ_x ½‖a_x − y_x‖² / m          | (A − Y)/m      |
| `binary_cross_entropy(A, Y)`      | Σ −[y ln a + (1−y) ln(1−a)] / (m·k) |           |
| `cross_entropy(logits, labels)`   | Σ_x −ln softmax(z_x)[y_x] / m  | (softmax(Z) − onehot(Y))/m |

Every function takes `reduction="mean" | "sum" | "none"` ("none" returns the per-element
losses, or per-example ones for the two costs that sum over a row). In the rules, C is the
loss and `dC` the gradient arriving from above (1 when the loss is the root).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import ops
from .errors import InputError, LabelError, ShapeError
from .ops import HALF, Op, as_float, divide_by_count
from .tensor import Tensor, TensorLike, apply

REDUCTIONS = ("mean", "sum", "none")


# ----------------------------------------------------------------------------------------
# Shared pieces: reducing per-item losses, spreading the gradient back, the checks.
# ----------------------------------------------------------------------------------------


def _reduce(losses: np.ndarray, reduction: str, count: int) -> Any:
    """Σ losses, divided by `count` for "mean"; "none" keeps them. float16 sums in float32
    (a float16 sum overflows at 65504 long before the mean does) and rounds back."""
    if reduction == "none":
        return losses
    total = losses.sum(dtype=np.float32) if losses.dtype == HALF else losses.sum()
    if reduction == "mean":
        total = total / count
    return total.astype(HALF) if losses.dtype == HALF else total


def _per_item(g: Any, reduction: str, count: int, ndim: int) -> Any:
    """∂L/∂loss_item, shaped to broadcast over an input of `ndim` dimensions."""
    if reduction == "mean":
        return divide_by_count(g, count)
    if reduction == "none":
        return g.reshape(g.shape + (1,) * (ndim - g.ndim))
    return g


def _refuse(name: str, pred: np.ndarray, target: np.ndarray, reduction: str) -> None:
    """Raise the error for a reduction or a target shape that a loss cannot take."""
    if reduction not in REDUCTIONS:
        allowed = ", ".join(map(repr, REDUCTIONS))
        raise InputError(f"{name}: reduction must be one of {allowed}, got {reduction!r}")
    try:
        stretched = f" would give {np.broadcast_shapes(pred.shape, target.shape)} and"
    except ValueError:
        stretched = ""
    hint = ""
    if target.ndim == pred.ndim - 1 and target.shape == pred.shape[:-1]:
        hint = (
            " The target looks like class labels: one-hot encode them (nn.one_hot) "
            "or use cross_entropy."
        )
    raise ShapeError(
        f"{name}: prediction shape {pred.shape} and target shape {target.shape} differ. "
        f"Broadcasting them{stretched} a silently wrong loss, so it is refused; reshape one "
        f"so that they match.{hint}"
    )


# ----------------------------------------------------------------------------------------
# Mean squared error and Nielsen's quadratic cost
# ----------------------------------------------------------------------------------------


def _difference(name: str, pred: np.ndarray, target: Any, reduction: str) -> tuple:
    """pred − target, as the float the loss is computed in, and the loss's dtype. float16
    is computed in float32 (its sums overflow at 65504), integers in float64."""
    target = np.asarray(target)
    if pred.shape != target.shape or reduction not in REDUCTIONS:
        _refuse(name, pred, target, reduction)
    d = pred - target
    dtype = d.dtype if d.dtype.kind == "f" else np.dtype(np.float64)
    return (d.astype(np.float32) if dtype == HALF else d), dtype


def _mse(pred, target, reduction="mean"):
    d, dtype = _difference("mse_loss", pred, target, reduction)
    if reduction == "none":
        return (d * d).astype(dtype, copy=False), (d, reduction, dtype)
    flat = d.reshape(-1)
    total = flat @ flat  # Σ d², one dot product
    if reduction == "mean":
        total = total / d.size
    return (total if dtype is d.dtype else total.astype(dtype)), (d, reduction, dtype)


def _mse_vjp(g, d, reduction, dtype):
    return (_per_item(g, reduction, d.size, d.ndim) * (2 * d)).astype(dtype, copy=False)


mse = Op(
    "mse_loss",
    forward=_mse,
    vjps=(_mse_vjp, lambda g, d, reduction, dtype: -_mse_vjp(g, d, reduction, dtype)),
    rules=("dpred = dC ⊙ 2(pred − target) / N", "dtarget = −dpred"),
)


def _quadratic(a, y, reduction="mean"):
    d, dtype = _difference("quadratic_cost", a, y, reduction)
    m = d.shape[0] if d.ndim >= 2 else 1
    if reduction == "none":
        c = 0.5 * (d * d).sum(axis=tuple(range(1, d.ndim)) if d.ndim >= 2 else None)
    else:
        flat = d.reshape(-1)
        c = 0.5 * (flat @ flat)  # ½ Σ d², one dot product
        if reduction == "mean":
            c = c / m
    return (c if dtype is d.dtype else c.astype(dtype)), (d, reduction, m, dtype)


def _quadratic_vjp(g, d, reduction, m, dtype):
    if reduction == "mean":
        da = g * d / m  # (a − y)/m, to the bit as by hand when dC = 1
    elif reduction == "none":
        da = g.reshape(g.shape + (1,) * (d.ndim - g.ndim)) * d
    else:
        da = g * d
    return da if dtype is da.dtype else da.astype(dtype)


quadratic = Op(
    "quadratic_cost",
    forward=_quadratic,
    vjps=(
        _quadratic_vjp,
        lambda g, d, reduction, m, dtype: -_quadratic_vjp(g, d, reduction, m, dtype),
    ),
    rules=("da = dC ⊙ (a − y) / m", "dy = −da"),
)


# ----------------------------------------------------------------------------------------
# Binary cross-entropy: on probabilities (clamped, as PyTorch does) and on logits (exact)
# ----------------------------------------------------------------------------------------

LOG_FLOOR = -100.0  # PyTorch's clamp on each log in binary_cross_entropy
DENOMINATOR_FLOOR = 1e-12  # and on p(1 − p) in its gradient


def _bce(p, y, reduction="mean"):
    y = np.asarray(y)
    if p.shape != y.shape or reduction not in REDUCTIONS:
        _refuse("binary_cross_entropy", p, y, reduction)
    if p.size and not (p.min() >= 0 and p.max() <= 1):
        raise InputError(
            f"binary_cross_entropy: prob must hold probabilities in [0, 1], got values from "
            f"{p.min():.4g} to {p.max():.4g}. Apply sigmoid first, or pass raw scores to "
            "binary_cross_entropy_with_logits."
        )
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(p), LOG_FLOOR)
        log_q = np.maximum(np.log1p(-p), LOG_FLOOR)
    losses = -(y * log_p + (1 - y) * log_q)
    return _reduce(losses, reduction, losses.size), (p, y, log_p, log_q, reduction)


binary_cross_entropy_op = Op(
    "binary_cross_entropy",
    forward=_bce,
    vjps=(
        lambda g, p, y, log_p, log_q, reduction: (
            _per_item(g, reduction, p.size, p.ndim)
            * ((p - y) / np.maximum(p * (1 - p), DENOMINATOR_FLOOR))
        ),
        lambda g, p, y, log_p, log_q, reduction: (
            _per_item(g, reduction, p.size, p.ndim) * (log_q - log_p)
        ),
    ),
    rules=("dp = dC ⊙ (p − y) / (p(1 − p)) / N", "dy = dC ⊙ (ln(1 − p) − ln p) / N"),
)


def _bce_logits(x, y, reduction="mean"):
    y = np.asarray(y)
    if x.shape != y.shape or reduction not in REDUCTIONS:
        _refuse("binary_cross_entropy_with_logits", x, y, reduction)
    x = as_float(x)
    losses = np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))
    return _reduce(losses, reduction, losses.size), (x, y, reduction)


binary_cross_entropy_with_logits_op = Op(
    "binary_cross_entropy_with_logits",
    forward=_bce_logits,
    vjps=(
        lambda g, x, y, reduction: (
            _per_item(g, reduction, x.size, x.ndim) * (ops.sigmoid.forward(x)[0] - y)
        ),
        lambda g, x, y, reduction: _per_item(g, reduction, x.size, x.ndim) * -x,
    ),
    rules=("dx = dC ⊙ (σ(x) − y) / N", "dy = −dC ⊙ x / N"),
)


# ----------------------------------------------------------------------------------------
# Softmax cross-entropy, fused: the gradient is simply softmax − target
# ----------------------------------------------------------------------------------------


def _class_labels(target: np.ndarray, logits_shape: tuple[int, ...]) -> np.ndarray:
    """Validate integer class labels against `k = logits_shape[-1]` classes."""
    k = logits_shape[-1]
    if target.dtype.kind == "f":
        fractional = target != np.round(target)
        if fractional.any():
            where = tuple(int(i) for i in np.argwhere(fractional)[0])
            raise LabelError(
                f"cross_entropy: class labels must be whole numbers, got {target[where]} at "
                f"position {where}. For soft targets pass probabilities of shape {logits_shape}."
            )
    elif target.dtype.kind not in "iu":
        raise LabelError(f"cross_entropy: class labels must be integers, got dtype {target.dtype}.")
    labels = target.astype(np.intp)
    outside = (labels < 0) | (labels >= k)
    if outside.any():
        where = tuple(int(i) for i in np.argwhere(outside)[0])
        raise LabelError(
            f"cross_entropy: class label {labels[where]} at position {where} is out of range "
            f"for {k} classes (logits shape {logits_shape}); labels must be integers in "
            f"[0, {k - 1}]."
        )
    return labels


def _cross_entropy(logits, target, reduction="mean"):
    target = np.asarray(target)
    if reduction not in REDUCTIONS:
        _refuse("cross_entropy", logits, target, reduction)
    if logits.ndim not in (1, 2):
        raise ShapeError(
            f"cross_entropy: logits must have shape (m, k) or (k,), got {logits.shape}."
        )
    p, log_p = ops.softmax_parts(logits, axis=-1)
    if target.shape == logits.shape:  # probabilities or one-hot rows
        labels = None
        losses = -(target * log_p).sum(axis=-1)
    elif target.shape == logits.shape[:-1]:  # class labels
        labels = _class_labels(target, logits.shape)
        losses = -np.take_along_axis(log_p, labels[..., np.newaxis], axis=-1)[..., 0]
    else:
        raise ShapeError(
            f"cross_entropy: target shape {target.shape} fits neither class labels "
            f"{logits.shape[:-1]} nor probabilities {logits.shape} for logits of shape "
            f"{logits.shape}."
        )
    m = losses.size
    return _reduce(losses, reduction, m), (p, log_p, target, labels, reduction, m)


def _cross_entropy_vjp_logits(g, p, log_p, target, labels, reduction, m):
    if labels is None:
        d = p * target.sum(axis=-1, keepdims=True) - target
    else:
        d = p - (labels[..., np.newaxis] == np.arange(p.shape[-1]))
    return _per_item(g, reduction, m, p.ndim) * d


cross_entropy_op = Op(
    "cross_entropy",
    forward=_cross_entropy,
    vjps=(
        _cross_entropy_vjp_logits,
        lambda g, p, log_p, target, labels, reduction, m: (
            _per_item(g, reduction, m, p.ndim) * -log_p
        ),
    ),
    rules=("dz = dC ⊙ (softmax(z) − y) / m", "dy = −dC ⊙ log softmax(z) / m"),
)


# ----------------------------------------------------------------------------------------
# The public functions
# ----------------------------------------------------------------------------------------


def mse_loss(pred: TensorLike, target: TensorLike, reduction: str = "mean") -> Tensor:
    """Mean squared error, as PyTorch: `mean((pred − target)²)` over **all** N elements.

    pred, target: the same shape, e.g. `(m, k)` (no broadcasting: a shape mismatch is an
    error, because `(m, 1)` against `(m,)` would silently broadcast to `(m, m)`).
    "mean" divides by N = m·k, so `∂L/∂pred = 2(pred − target)/(m·k)`: k times smaller
    than `quadratic_cost`'s `(A − Y)/m` times 2. "sum": Σ (pred − target)². "none": per element.
    """
    return apply(mse, pred, target, reduction=reduction)


def quadratic_cost(a: TensorLike, y: TensorLike, reduction: str = "mean") -> Tensor:
    """Nielsen's quadratic cost `C = 1/(2m) Σ_x ‖a_x − y_x‖²`, m = number of rows.

    a, y: `(m, k)`, one example per row (a 1-D `(k,)` is a single example, m = 1).
    The ½ cancels the 2 of the square and the 1/m is per *example*, not per element, so
    `∂C/∂a = (a − y)/m` (`mse_loss` is `2·C/k`). "sum": `½ Σ_x ‖a_x − y_x‖²` (no 1/m);
    "none": the per-example costs `½‖a_x − y_x‖²`, shape `(m,)`.
    """
    return apply(quadratic, a, y, reduction=reduction)


def binary_cross_entropy(prob: TensorLike, target: TensorLike, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy on probabilities, as PyTorch: `−[y ln p + (1 − y) ln(1 − p)]`.

    prob, target: the same shape, prob in [0, 1] (e.g. a sigmoid output). "mean" divides by
    all N = m·k elements, like `mse_loss`; Nielsen's cross-entropy cost divides by m only
    (use `reduction="sum"` and divide by m). Numerical safety, as in PyTorch: each log is
    clamped at −100, so p = 0 or 1 gives a finite loss, and the gradient's denominator
    `p(1 − p)` is clamped at 1e-12. For raw scores use `binary_cross_entropy_with_logits`,
    which is exact everywhere.
    """
    return apply(binary_cross_entropy_op, prob, target, reduction=reduction)


def binary_cross_entropy_with_logits(
    logits: TensorLike, target: TensorLike, reduction: str = "mean"
) -> Tensor:
    """`binary_cross_entropy(sigmoid(x), y)` in the stable logit form, exact for every x.

    loss = max(x, 0) − x·y + ln(1 + e^(−|x|)), whose gradient is simply σ(x) − y
    (divided by N = m·k for "mean").
    """
    return apply(binary_cross_entropy_with_logits_op, logits, target, reduction=reduction)


def cross_entropy(logits: TensorLike, target: TensorLike, reduction: str = "mean") -> Tensor:
    """Softmax + negative log-likelihood, fused and stable: `−ln softmax(z_x)[y_x]`.

    logits: `(m, k)` raw scores (or `(k,)` for one example). target: either integer class
    labels of shape `(m,)` (a numpy int array, a list, or a Tensor), or probabilities /
    one-hot rows of shape `(m, k)` (then the loss is `−Σ_j y_j ln softmax(z)_j`).
    "mean" divides by the number of examples m (not m·k), so
    `∂L/∂logits = (softmax(logits) − onehot(labels)) / m`. Stable: computed from
    `z − max(z)`, so logits of ±1000 give exact results.
    """
    if isinstance(target, Tensor) and target.requires_grad and target.ndim < np.ndim(logits):
        raise LabelError(
            "cross_entropy: class labels cannot require grad (they are indices); "
            "pass them as a plain array or a Tensor with requires_grad=False."
        )
    return apply(cross_entropy_op, logits, target, reduction=reduction)
