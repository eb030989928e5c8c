"""The losses, each one entry of the op table: its forward and VJPs as formulas.

Where the 1/m goes is the most common source of a factor-m bug, so each entry says what its
"mean" divides by. With predictions `A: (m, k)` and targets `Y: (m, k)`:

| function                         | "mean" is                      | ∂L/∂A                      |
|----------------------------------|--------------------------------|----------------------------|
| `mse_loss(A, Y)`                 | Σ (a − y)² / (m·k)             | 2(A − Y)/(m·k)             |
| `quadratic_cost(A, Y)` (Nielsen) | Σ_x ½‖a_x − y_x‖² / m          | (A − Y)/m                  |
| `binary_cross_entropy(A, Y)`     | Σ −[y ln a + (1−y) ln(1−a)]/mk | (A − Y)/(A(1 − A))/(m·k)   |
| `cross_entropy(Z, labels)`       | Σ_x −ln softmax(z_x)[y_x] / m  | (softmax(Z) − onehot(Y))/m |

Every loss takes `reduction="mean" | "sum" | "none"` ("none" returns the per-element losses,
or per-example ones for the two that sum over a row). In the formulas C is the loss and `dC`
the gradient arriving from above (1 when the loss is the root).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError, LabelError, ShapeError
from .formulas import Op

REDUCTIONS = ("mean", "sum", "none")


def _check_pair(name: str) -> Any:
    """The check of a loss whose prediction and target have one shape."""

    def check(pred: Any, target: Any, reduction: str = "mean") -> dict[str, Any]:
        if reduction not in REDUCTIONS:
            _check_reduction(name, reduction)
        pred, target = np.asarray(pred), np.asarray(target)
        if pred.shape != target.shape:
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
                f"{name}: prediction shape {pred.shape} and target shape {target.shape} "
                f"differ. Broadcasting them{stretched} a silently wrong loss, so it is "
                f"refused; reshape one so that they match.{hint}"
            )
        return {"reduction": reduction}

    return check


def _check_reduction(name: str, reduction: Any) -> None:
    if reduction not in REDUCTIONS:
        allowed = ", ".join(map(repr, REDUCTIONS))
        raise InputError(f"{name}: reduction must be one of {allowed}, got {reduction!r}")


Op(
    'mse_loss(pred, target, reduction="mean")',
    forward="""
        d = pred - target
        if reduction == "none":
            C = d * d
        elif reduction == "sum":
            C = np.reshape(d, (-1,)) @ np.reshape(d, (-1,))
        else:
            C = np.reshape(d, (-1,)) @ np.reshape(d, (-1,)) / d.size
    """,
    vjps=[
        'dpred = (dC / d.size if reduction == "mean" else dC) * (2 * d)',
        'dtarget = -((dC / d.size if reduction == "mean" else dC) * (2 * d))',
    ],
    check=_check_pair("mse_loss"),
    floats=True,
    doc="mean squared error over all N = m·k elements, as PyTorch's: dpred = 2(pred − target)/N",
)
Op(
    'quadratic_cost(a, y, reduction="mean")',
    forward="""
        d = a - y
        m = d.shape[0] if d.ndim >= 2 else 1
        if reduction == "none":
            C = 0.5 * np.sum(d * d, axis=tuple(range(1, d.ndim)) if d.ndim >= 2 else None)
        elif reduction == "sum":
            C = 0.5 * (np.reshape(d, (-1,)) @ np.reshape(d, (-1,)))
        else:
            C = 0.5 * (np.reshape(d, (-1,)) @ np.reshape(d, (-1,))) / m
    """,
    vjps=[
        """
        if reduction == "none":
            da = np.reshape(dC, dC.shape + (1,) * (d.ndim - dC.ndim)) * d
        elif reduction == "sum":
            da = dC * d
        else:
            da = dC * d / m
        """,
        """
        if reduction == "none":
            dy = -(np.reshape(dC, dC.shape + (1,) * (d.ndim - dC.ndim)) * d)
        elif reduction == "sum":
            dy = -(dC * d)
        else:
            dy = -(dC * d / m)
        """,
    ],
    check=_check_pair("quadratic_cost"),
    floats=True,
    doc="Nielsen's C = 1/(2m) Σ_x ‖a_x − y_x‖², m rows: da = (a − y)/m",
)


def _check_probabilities(p: Any, y: Any, reduction: str = "mean") -> dict[str, Any]:
    params = _check_pair("binary_cross_entropy")(p, y, reduction)
    p = np.asarray(p)
    if p.size and not (p.min() >= 0 and p.max() <= 1):
        raise InputError(
            f"binary_cross_entropy: prob must hold probabilities in [0, 1], got values from "
            f"{p.min():.4g} to {p.max():.4g}. Apply sigmoid first, or pass raw scores to "
            "binary_cross_entropy_with_logits."
        )
    return params


Op(
    'binary_cross_entropy(p, y, reduction="mean")',
    # each log is clamped at −100 and p(1 − p) at 1e-12, as in PyTorch: p = 0 or 1 is finite
    forward="""
        with np.errstate(divide="ignore"):
            log_p = np.maximum(np.log(p), -100.0)
            log_q = np.maximum(np.log1p(-p), -100.0)
        losses = -(y * log_p + (1 - y) * log_q)
        if reduction == "none":
            C = losses
        elif reduction == "sum":
            C = np.sum(losses)
        else:
            C = np.sum(losses) / p.size
    """,
    vjps=[
        """
        dp = (dC / p.size if reduction == "mean" else dC) * (
            (p - y) / np.maximum(p * (1 - p), 1e-12)
        )
        """,
        'dy = (dC / p.size if reduction == "mean" else dC) * (log_q - log_p)',
    ],
    check=_check_probabilities,
    floats=True,
    doc="binary cross-entropy on probabilities p in [0, 1], as PyTorch's; mean over all N",
)
Op(
    'binary_cross_entropy_with_logits(x, y, reduction="mean")',
    # max(x, 0) − x·y + ln(1 + e^(−|x|)) is −[y ln σ(x) + (1 − y) ln(1 − σ(x))], exactly
    forward="""
        losses = np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))
        if reduction == "none":
            C = losses
        elif reduction == "sum":
            C = np.sum(losses)
        else:
            C = np.sum(losses) / x.size
    """,
    vjps=[
        'dx = (dC / x.size if reduction == "mean" else dC) * (ops.sigmoid(x) - y)',
        'dy = (dC / x.size if reduction == "mean" else dC) * -x',
    ],
    check=_check_pair("binary_cross_entropy_with_logits"),
    floats=True,
    doc="binary cross-entropy of σ(x), stable for any x: dx = (σ(x) − y)/N",
)


def _check_cross_entropy(logits: Any, target: Any, reduction: str = "mean") -> dict[str, Any]:
    _check_reduction("cross_entropy", reduction)
    logits, target = np.asarray(logits), np.asarray(target)
    if logits.ndim not in (1, 2):
        raise ShapeError(
            f"cross_entropy: logits must have shape (m, k) or (k,), got {logits.shape}."
        )
    if target.shape == logits.shape:
        return {"reduction": reduction}
    if target.shape != logits.shape[:-1]:
        raise ShapeError(
            f"cross_entropy: target shape {target.shape} fits neither class labels "
            f"{logits.shape[:-1]} nor probabilities {logits.shape} for logits of shape "
            f"{logits.shape}."
        )
    k = logits.shape[-1]
    if target.dtype.kind == "f":
        fractional = target != np.round(target)
        if fractional.any():
            where = tuple(int(i) for i in np.argwhere(fractional)[0])
            raise LabelError(
                f"cross_entropy: class labels must be whole numbers, got {target[where]} at "
                f"position {where}. For soft targets pass probabilities of shape "
                f"{logits.shape}."
            )
    elif target.dtype.kind not in "iu":
        raise LabelError(f"cross_entropy: class labels must be integers, got dtype {target.dtype}.")
    outside = (target < 0) | (target >= k)
    if outside.any():
        where = tuple(int(i) for i in np.argwhere(outside)[0])
        raise LabelError(
            f"cross_entropy: class label {target[where]} at position {where} is out of range "
            f"for {k} classes (logits shape {logits.shape}); labels must be integers in "
            f"[0, {k - 1}]."
        )
    return {"reduction": reduction}


Op(
    'cross_entropy(z, y, reduction="mean")',
    # y: class labels (m,), or probabilities / one-hot rows (m, k); m = the number of rows
    forward="""
        shifted = z - np.max(z, axis=-1, keepdims=True)
        e = np.exp(shifted)
        total = np.sum(e, axis=-1, keepdims=True)
        p = e / total
        log_p = shifted - np.log(total)
        if y.shape == z.shape:
            losses = -np.sum(y * log_p, axis=-1)
        else:
            losses = -np.take_along_axis(log_p, np.astype(y, np.intp)[..., None], axis=-1)[..., 0]
        m = losses.size
        if reduction == "none":
            C = losses
        elif reduction == "sum":
            C = np.sum(losses)
        else:
            C = np.sum(losses) / m
    """,
    vjps=[
        """
        dz = (
            np.reshape(dC, dC.shape + (1,)) if reduction == "none"
            else dC / m if reduction == "mean"
            else dC
        ) * (
            p * np.sum(y, axis=-1, keepdims=True) - y if y.shape == z.shape
            else p - (y[..., None] == np.arange(z.shape[-1]))
        )
        """,
        """
        dy = (
            np.reshape(dC, dC.shape + (1,)) if reduction == "none"
            else dC / m if reduction == "mean"
            else dC
        ) * -log_p
        """,
    ],
    check=_check_cross_entropy,
    floats=True,
    doc="softmax + negative log-likelihood, fused and stable: dz = (softmax(z) − onehot(y))/m",
)
