"""The losses, each one entry of the op table: its forward and VJPs as formulas.

Where the 1/m goes is the most common source of a factor-m bug, so each entry says what its
"mean" divides by. With predictions `A: (m, k)` and targets `Y: (m, k)`:

| function                         | "mean" is                      | ∂L/∂A                      |
|----------------------------------|--------------------------------|----------------------------|
| `mse_loss(A, Y)`                 | Σ (a − y)² / (m·k)             | 2(A − Y)/(m·k)             |
| `quadratic_cost(A, Y)` (Nielsen) | Σ_x ½‖a_x − y_x‖² / m          | (A − Y)/m                  |
| `binary_cross_entropy(A, Y)`     | Σ −[y ln a + (1−y) ln(1−a)]/mk | (A − Y)/(A(1 − A))/(m·k)   |
| `cross_entropy(Z, labels)`       | Σ_x −ln softmax(z_x)[y_x] / m  | (softmax(Z) − onehot(Y))/m |
| `nll_loss(logP, labels)`         | Σ_x −logp_x[y_x] / m           | −onehot(Y)/m               |

Every loss takes `reduction="mean" | "sum" | "none"` ("none" returns the per-element losses,
or per-example ones for the two that sum over a row). In the formulas C is the loss and `dC`
the gradient arriving from above (1 when the loss is the root).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError, LabelError, ShapeError
from .formulas import Op, helper
from .tensor import TensorAPI

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


def _check_logits_pair(
    x: Any, y: Any, reduction: str = "mean", pos_weight: Any = None
) -> dict[str, Any]:
    params = _check_pair("binary_cross_entropy_with_logits")(x, y, reduction)
    if pos_weight is None:
        return {**params, "pos_weight": None}
    if isinstance(pos_weight, TensorAPI):
        pos_weight = pos_weight.data
    dtype = np.result_type(x, 1.0)
    try:
        weight = np.asarray(pos_weight, dtype=dtype)
        stretched = np.broadcast_shapes(weight.shape, np.shape(x))
    except (TypeError, ValueError):
        stretched = None
    if stretched != np.shape(x):
        raise ShapeError(
            f"binary_cross_entropy_with_logits: pos_weight must be a number or an array that "
            f"broadcasts to the logits' shape {np.shape(x)} (one weight per class: shape "
            f"{np.shape(x)[-1:]}), got {pos_weight!r:.80}."
        )
    return {**params, "pos_weight": weight}


Op(
    'binary_cross_entropy_with_logits(x, y, reduction="mean", pos_weight=None)',
    # softplus(x) − x·y is −[y ln σ(x) + (1 − y) ln(1 − σ(x))], exactly (ln σ(x) =
    # −softplus(−x) = x − softplus(x)); pos_weight w multiplies the positive term, as in
    # PyTorch: −[w y ln σ(x) + (1 − y) ln(1 − σ(x))] = (1 + (w − 1) y) softplus(x) − w y x
    forward="""
        weighted = pos_weight is not None
        softplus = ops.softplus(x)
        if weighted:
            losses = (1 + (pos_weight - 1) * y) * softplus - pos_weight * y * x
        else:
            losses = softplus - x * y
        if reduction == "none":
            C = losses
        elif reduction == "sum":
            C = np.sum(losses)
        else:
            C = np.sum(losses) / x.size
    """,
    vjps=[
        """
        dx = (dC / x.size if reduction == "mean" else dC) * (
            ops.sigmoid(x) * (1 + (pos_weight - 1) * y) - pos_weight * y if weighted
            else ops.sigmoid(x) - y
        )
        """,
        """
        dy = (dC / x.size if reduction == "mean" else dC) * (
            (pos_weight - 1) * ops.softplus(x) - pos_weight * x if weighted else -x
        )
        """,
    ],
    check=_check_logits_pair,
    floats=True,
    doc="binary cross-entropy of σ(x), stable for any x: dx = (σ(x) − y)/N; pos_weight w "
    "weighs the positives: dx = (σ(x)(1 + (w − 1)y) − w y)/N",
)


@helper
def class_axis(shape: tuple[int, ...]) -> int:
    """The axis of the classes in logits of `shape`, as in PyTorch: 1 for (m, k) and
    (m, k, d1, ...), 0 for the (k,) of one example."""
    return 1 if len(shape) > 1 else 0


@helper
def along(shape: tuple[int, ...], axis: int) -> tuple[int, ...]:
    """The shape (1, ..., n, ..., 1) that lines up 0..n − 1 with `axis` of `shape`."""
    return tuple(n if i == axis else 1 for i, n in enumerate(shape))


def _check_labels(name: str, logits: Any, target: Any, probabilities: bool) -> None:
    """Refuse class labels (or probabilities, if allowed) that do not fit the logits, whose
    classes lie along axis 1 (axis 0 for one example)."""
    what = "log-probabilities" if name == "nll_loss" else "logits"
    if logits.ndim == 0:
        raise ShapeError(
            f"{name}: {what} need an axis of classes: shape (k,), (m, k) or (m, k, d1, ...), "
            "got a 0-d tensor."
        )
    c = class_axis(logits.shape)
    labels_shape = logits.shape[:c] + logits.shape[c + 1 :]
    if probabilities and target.shape == logits.shape:
        return
    if target.shape != labels_shape:
        fits = f"class labels {labels_shape}"
        if probabilities:
            fits = f"neither {fits} nor probabilities {logits.shape}"
        raise ShapeError(
            f"{name}: target shape {target.shape} fits {fits} for {what} of shape "
            f"{logits.shape} (the classes along axis {c}, as in PyTorch)."
        )
    k = logits.shape[c]
    if target.dtype.kind == "f":
        fractional = target != np.round(target)
        if fractional.any():
            where = tuple(int(i) for i in np.argwhere(fractional)[0])
            soft = f" For soft targets pass probabilities of shape {logits.shape}." * probabilities
            raise LabelError(
                f"{name}: class labels must be whole numbers, got {target[where]} at "
                f"position {where}.{soft}"
            )
    elif target.dtype.kind not in "iu":
        raise LabelError(f"{name}: class labels must be integers, got dtype {target.dtype}.")
    outside = (target < 0) | (target >= k)
    if outside.any():
        where = tuple(int(i) for i in np.argwhere(outside)[0])
        raise LabelError(
            f"{name}: class label {target[where]} at position {where} is out of range "
            f"for {k} classes ({what} shape {logits.shape}); labels must be integers in "
            f"[0, {k - 1}]."
        )


def _check_cross_entropy(
    logits: Any, target: Any, reduction: str = "mean", label_smoothing: Any = 0.0
) -> dict[str, Any]:
    _check_reduction("cross_entropy", reduction)
    _check_labels("cross_entropy", np.asarray(logits), np.asarray(target), probabilities=True)
    if isinstance(label_smoothing, np.generic):
        label_smoothing = label_smoothing.item()
    if (
        isinstance(label_smoothing, bool)
        or not isinstance(label_smoothing, (int, float))
        or not 0 <= label_smoothing <= 1
    ):
        raise InputError(
            f"cross_entropy: label_smoothing must be a number in [0, 1], got {label_smoothing!r}."
        )
    return {"reduction": reduction, "label_smoothing": label_smoothing}


Op(
    'cross_entropy(z, y, reduction="mean", label_smoothing=0.0)',
    # y: class labels (m,), or probabilities / one-hot rows (m, k); the classes lie along axis
    # 1 (of (m, k) or (m, k, d1, ...), as in PyTorch; axis 0 of one example's (k,)). m: the
    # number of losses, one per label. label_smoothing ε mixes the target with the uniform
    # distribution: (1 − ε) y + ε/k
    forward="""
        c = class_axis(z.shape)
        shifted = z - np.max(z, axis=c, keepdims=True)
        e = np.exp(shifted)
        total = np.sum(e, axis=c, keepdims=True)
        p = e / total
        log_p = shifted - np.log(total)
        if y.shape == z.shape:
            losses = -np.sum(y * log_p, axis=c)
        elif z.ndim == 2 and y.dtype.kind in "iu":  # row i's log-probability of class y[i]
            losses = -log_p[np.arange(z.shape[0]), y]
        else:
            picked = np.take_along_axis(log_p, np.expand_dims(np.astype(y, np.intp), c), axis=c)
            losses = -np.squeeze(picked, axis=c)
        if label_smoothing:
            losses = (1 - label_smoothing) * losses - label_smoothing * np.mean(log_p, axis=c)
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
        if y.shape == z.shape:
            target = y
        elif z.ndim == 2:  # one-hot rows: target[i, j] = (y[i] == j)
            target = y[:, None] == np.arange(z.shape[1])
        else:
            target = np.expand_dims(y, c) == np.reshape(np.arange(z.shape[c]), along(z.shape, c))
        if label_smoothing:
            target = (1 - label_smoothing) * target + label_smoothing / z.shape[c]
        dz = (
            np.expand_dims(dC, c) if reduction == "none"
            else dC / m if reduction == "mean"
            else dC
        ) * (
            p * np.sum(target, axis=c, keepdims=True) - target if y.shape == z.shape
            else p - target
        )
        """,
        """
        dy = (
            np.expand_dims(dC, c) if reduction == "none"
            else dC / m if reduction == "mean"
            else dC
        ) * (-(1 - label_smoothing) * log_p if label_smoothing else -log_p)
        """,
    ],
    check=_check_cross_entropy,
    floats=("z",),
    doc="softmax + negative log-likelihood, fused and stable: dz = (softmax(z) − onehot(y))/m",
)


def _check_nll_loss(logp: Any, y: Any, reduction: str = "mean") -> dict[str, Any]:
    _check_reduction("nll_loss", reduction)
    y = np.asarray(y.data if isinstance(y, TensorAPI) else y)
    _check_labels("nll_loss", np.asarray(logp), y, probabilities=False)
    return {"y": y, "reduction": reduction}


Op(
    'nll_loss(logp, y, reduction="mean")',
    # logp: log-probabilities (log_softmax's output), the classes along axis 1 as for
    # cross_entropy; y: class labels, a parameter (it has no gradient)
    forward="""
        c = class_axis(logp.shape)
        picked = np.take_along_axis(logp, np.expand_dims(np.astype(y, np.intp), c), axis=c)
        losses = -np.squeeze(picked, axis=c)
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
        dlogp = -(
            np.expand_dims(dC, c) if reduction == "none"
            else dC / m if reduction == "mean"
            else dC
        ) * (np.expand_dims(y, c) == np.reshape(np.arange(logp.shape[c]), along(logp.shape, c)))
        """
    ],
    check=_check_nll_loss,
    floats=("logp",),
    doc="the negative log-likelihood −logp[y] of log-probabilities (after log_softmax), "
    "mean over the labels: dlogp = −onehot(y)/m",
)
