"""The op table: each primitive's forward on numpy arrays, declared beside its VJPs.

An op is one `Op(...)` entry. `forward(*arrays, **params)` returns `(out, saved)`, where
`saved` is the tuple of whatever the backward pass needs. `vjps[i](g, *saved)` is the
vector-Jacobian product for input i: given `g = ∂L/∂out` it returns `∂L/∂input_i`.
`rules[i]` says the same in words, for `explain()` and the drawings. Inputs listed in
`broadcasts` may be stretched by numpy (a bias added to every row): their VJPs return the
gradient at the output's shape, and the engine sums it back over the stretched axes
(`unbroadcast`, in one place: `backward()`). Every other VJP returns its input's shape.

The numerical helpers the table shares with `losses.py` and `fused.py` (the float the math
runs in, dividing by a count, the stable softmax) are at the end, public.

Letters, as in the book: a generic op takes x (and y) and gives z, so `dz` is the gradient
arriving from above; an activation takes the weighted input z and gives the activation a,
so its rule reads `dz = da ⊙ σ′(z)`; matrices are capitals (`dX = dZ @ Wᵀ`).

The contract a VJP keeps: it returns a new array, `g` itself, or a view of `g`; never an
array saved by the forward or owned by anyone else (`backward()` relies on it to avoid
copies). Adding an op: one `Op(...)` here (or in `losses.py`), a method or function that
calls `apply(op, ...)`, and one line in the op table of `tests/test_ops.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from .broadcasting import broadcast_error, matmul_error, unbroadcast
from .errors import ShapeError

Axis = int | tuple[int, ...] | None


class Op:
    """A primitive: `forward` on numpy arrays, one VJP and one rule per input.

    broadcasts: the inputs numpy may stretch to the output's shape; their VJPs return the
    output's shape and `backward()` sums them back (drawings and `explain()` mark them).
    on_error(name, exc, arrays): the error to raise
    when numpy's forward fails, naming this op and the shapes (by default it explains
    broadcasting failures).
    """

    __slots__ = ("broadcasts", "forward", "name", "on_error", "rules", "vjps")

    def __init__(
        self,
        name: str,
        forward: Callable[..., tuple[Any, tuple]],
        vjps: Sequence[Callable[..., Any]],
        rules: Sequence[str],
        broadcasts: tuple[int, ...] = (),
        on_error: Callable[[str, Exception, list], Exception] | None = None,
    ) -> None:
        if len(vjps) != len(rules):
            raise ValueError(f"op {name}: {len(vjps)} VJPs but {len(rules)} rules")
        if name in OPS:
            raise ValueError(f"op {name} is already defined")
        self.name = name
        self.forward = forward
        self.vjps = tuple(vjps)
        self.rules = tuple(rules)
        self.broadcasts = broadcasts
        self.on_error = on_error or explain_error
        OPS[name] = self

    def __repr__(self) -> str:
        return f"Op({self.name!r}, rules={self.rules})"


OPS: dict[str, Op] = {}
"""Every primitive by name: the table that the gradient tests are checked against."""


def explain_error(name: str, exc: Exception, arrays: list) -> Exception:
    """numpy's error from op `name`'s forward, restated with the op's name and the shapes."""
    shapes = [np.shape(a) for a in arrays]
    shown = " and ".join(str(s) for s in shapes)
    if isinstance(exc, ValueError):  # numpy's AxisError is a ValueError and an IndexError
        if "broadcast" in str(exc):
            return broadcast_error(name, *shapes)
        return ShapeError(f"{name}: {exc} (input shapes {shown})")
    if isinstance(exc, IndexError):
        return IndexError(f"{name}: {exc} (tensor shape {shown})")
    return TypeError(f"{name}: {exc} (input shapes {shown})")


# ----------------------------------------------------------------------------------------
# Elementwise arithmetic with broadcasting. A Python number stays a Python number, so a
# float32 tensor times 2.0 stays float32 (numpy's weak scalars).
# ----------------------------------------------------------------------------------------


def _pass_back(g, *saved):
    return g


add = Op(
    "add",
    forward=lambda x, y: (x + y, ()),
    vjps=(_pass_back, _pass_back),
    rules=("dx = dz", "dy = dz"),
    broadcasts=(0, 1),
)

sub = Op(
    "sub",
    forward=lambda x, y: (x - y, ()),
    vjps=(_pass_back, lambda g: -g),
    rules=("dx = dz", "dy = −dz"),
    broadcasts=(0, 1),
)

mul = Op(
    "mul",
    forward=lambda x, y: (x * y, (x, y)),
    vjps=(lambda g, x, y: g * y, lambda g, x, y: g * x),
    rules=("dx = dz ⊙ y", "dy = dz ⊙ x"),
    broadcasts=(0, 1),
)

div = Op(
    "div",
    forward=lambda x, y: ((z := x / y), (y, z)),
    vjps=(lambda g, y, z: g / y, lambda g, y, z: -g * z / y),
    rules=("dx = dz / y", "dy = −dz ⊙ z / y"),
    broadcasts=(0, 1),
)


def _pow_vjp(g, x, p):
    if p == 0:  # z = 1 everywhere; this also avoids 0 · x⁻¹ = nan at x = 0
        return np.zeros_like(g * x)
    return g * (p * x ** (p - 1))


pow_ = Op(
    "pow",
    forward=lambda x, p: (x**p, (x, p)),
    vjps=(_pow_vjp,),
    rules=("dx = dz ⊙ p·x^(p−1)",),
)

neg = Op(
    "neg",
    forward=lambda x: (-x, ()),
    vjps=(lambda g: -g,),
    rules=("dx = −dz",),
)


# ----------------------------------------------------------------------------------------
# Matrix product. numpy's matmul drops the axis of a 1-D operand and broadcasts batch
# axes; the general VJPs put the dropped axes back, take the two products, un-broadcast.
# ----------------------------------------------------------------------------------------


def _as_matrices(g, x, y):
    """Re-insert the axes that matmul drops for 1-D operands, in g too."""
    if x.ndim == 1:
        x, g = x[np.newaxis, :], np.expand_dims(g, -2)
    if y.ndim == 1:
        y, g = y[:, np.newaxis], np.expand_dims(g, -1)
    return g, x, y


def _matmul_vjp_x(g, x, y):
    if x.ndim == 2 and y.ndim == 2:  # the layer's case: dX = dZ @ Wᵀ
        return g @ y.T
    if x.ndim == 1 and y.ndim == 1:  # a dot product: z is a number
        return g * y
    g2, x2, y2 = _as_matrices(g, x, y)
    return unbroadcast(g2 @ np.swapaxes(y2, -1, -2), x2.shape).reshape(x.shape)


def _matmul_vjp_y(g, x, y):
    if x.ndim == 2 and y.ndim == 2:  # the layer's case: dW = Xᵀ @ dZ
        return x.T @ g
    if x.ndim == 1 and y.ndim == 1:
        return g * x
    g2, x2, y2 = _as_matrices(g, x, y)
    return unbroadcast(np.swapaxes(x2, -1, -2) @ g2, y2.shape).reshape(y.shape)


matmul = Op(
    "matmul",
    forward=lambda x, w: (x @ w, (x, w)),
    vjps=(_matmul_vjp_x, _matmul_vjp_y),
    rules=("dX = dZ @ Wᵀ", "dW = Xᵀ @ dZ"),
    on_error=lambda name, exc, arrays: matmul_error(*(np.shape(a) for a in arrays)),
)


# ----------------------------------------------------------------------------------------
# Elementwise functions. Each saves its output when its derivative is written through it;
# integers are computed in float64 (numpy would give float16 for int8).
# ----------------------------------------------------------------------------------------

exp = Op(
    "exp",
    forward=lambda x: ((z := np.exp(as_float(x))), (z,)),
    vjps=(lambda g, z: g * z,),
    rules=("dx = dz ⊙ z",),
)

log = Op(
    "log",
    forward=lambda x: (np.log(as_float(x)), (x,)),
    vjps=(lambda g, x: g / x,),
    rules=("dx = dz / x",),
)


def _sigmoid(z):
    """a = σ(z) = 1 / (1 + e^(−z)), elementwise, for any z without overflow.

    −z is capped where e^(−z) would overflow; that changes σ only where it is below the
    smallest normal number (σ(z) < 1e-308 in float64, < 1e-38 in float32), elsewhere the
    result is the textbook formula's to the bit. Integers are computed in float64; float16
    in float32 and rounded back (its e^(−z) overflows already at −z > 11.1, where σ is
    still 1.5e-5).
    """
    if z.dtype.kind != "f" or z.dtype == HALF:
        a = _sigmoid(z.astype(np.float32 if z.dtype == HALF else np.float64))[0]
        return (a.astype(HALF) if z.dtype == HALF else a), (a,)
    if z.ndim == 0:  # a ufunc gives a 0-d array back as a numpy scalar, which out= refuses
        a = _sigmoid(z.reshape(1))[0].reshape(())
        return a, (a,)
    a = np.negative(z)  # −z, in a new buffer that becomes a:
    np.minimum(a, EXP_CAPS.get(z.dtype) or exp_cap(z.dtype), out=a)  # capped,
    np.exp(a, out=a)  # e^(−z),
    a += 1  # 1 + e^(−z),
    np.reciprocal(a, out=a)  # 1 / (1 + e^(−z))
    return a, (a,)


sigmoid = Op(
    "sigmoid",
    forward=_sigmoid,
    vjps=(lambda g, a: g * (a * (1 - a)),),
    rules=("dz = da ⊙ σ′(z) = da ⊙ a ⊙ (1 − a)",),
)

tanh = Op(
    "tanh",
    forward=lambda z: ((a := np.tanh(as_float(z))), (a,)),
    vjps=(lambda g, a: g * (1 - a * a),),
    rules=("dz = da ⊙ (1 − a²)",),
)

relu = Op(
    "relu",
    forward=lambda z: ((a := np.maximum(as_float(z), 0)), (a,)),
    vjps=(lambda g, a: g * (a > 0),),
    rules=("dz = da ⊙ [z > 0]",),
)

astype = Op(
    "astype",
    forward=lambda x, dtype: (x.astype(dtype), (x.dtype,)),
    vjps=(lambda g, dtype: g.astype(dtype),),
    rules=("dx = dz cast back to x's dtype",),
)


# ----------------------------------------------------------------------------------------
# Reductions. The gradient of a reduction is spread back over the reduced axes.
# ----------------------------------------------------------------------------------------


def _axes(axis: Axis, ndim: int) -> tuple[int, ...] | None:
    return None if axis is None else normalize_axis_tuple(axis, ndim)


def _restore_axes(g, axes, keepdims):
    """Put back the reduced axes (as size 1) that `keepdims=False` removed."""
    if keepdims or axes is None:
        return g
    return np.expand_dims(g, axes)


def _sum(x, axis=None, keepdims=False):
    axes = _axes(axis, x.ndim)
    return x.sum(axis=axes, keepdims=keepdims), (x.shape, axes, keepdims)


sum_ = Op(
    "sum",
    forward=_sum,
    vjps=(
        lambda g, shape, axes, keepdims: np.broadcast_to(_restore_axes(g, axes, keepdims), shape),
    ),
    rules=("dx = dz copied along the summed axes",),
)


def _mean(x, axis=None, keepdims=False):
    axes = _axes(axis, x.ndim)
    z = x.mean(axis=axes, keepdims=keepdims)
    count = x.size // max(np.size(z), 1)  # elements averaged into each output
    return z, (x.shape, axes, keepdims, count)


mean = Op(
    "mean",
    forward=_mean,
    vjps=(
        lambda g, shape, axes, keepdims, count: np.broadcast_to(
            divide_by_count(_restore_axes(g, axes, keepdims), count), shape
        ),
    ),
    rules=("dx = dz / n copied along the averaged axes (n = elements averaged)",),
)


def _max(x, axis=None, keepdims=False):
    axes = _axes(axis, x.ndim)
    z_kept = x.max(axis=axes, keepdims=True)
    z = z_kept if keepdims else np.squeeze(z_kept, axis=axes)
    return z, (x, z_kept, axes, keepdims)


def _max_vjp(g, x, z_kept, axes, keepdims):
    winners = x == z_kept
    return winners * (_restore_axes(g, axes, keepdims) / winners.sum(axis=axes, keepdims=True))


max_ = Op(
    "max",
    forward=_max,
    vjps=(_max_vjp,),
    rules=("dx = dz at the maximum (split evenly among ties), 0 elsewhere",),
)


# ----------------------------------------------------------------------------------------
# Shape ops: the gradient takes the inverse path.
# ----------------------------------------------------------------------------------------

reshape = Op(
    "reshape",
    forward=lambda x, shape: (x.reshape(shape), (x.shape,)),
    vjps=(lambda g, shape: g.reshape(shape),),
    rules=("dx = dz reshaped to x's shape",),
)


def _transpose(x, axes=None):
    inverse = None if axes is None else tuple(np.argsort(normalize_axis_tuple(axes, x.ndim)))
    return np.transpose(x, axes), (inverse,)


transpose = Op(
    "transpose",
    forward=_transpose,
    vjps=(lambda g, inverse: np.transpose(g, inverse),),
    rules=("dx = dz transposed back",),
)


def _is_basic_index(index) -> bool:
    """Basic indexing (ints, slices, None, ...) selects each element at most once."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (slice, int, np.integer)) for p in parts)


def _getitem_vjp(g, shape, index):
    dx = np.zeros(shape, dtype=g.dtype)
    if _is_basic_index(index):
        dx[index] = g
    else:  # integer arrays may pick an element several times: accumulate, don't overwrite
        np.add.at(dx, index, g)
    return dx


getitem = Op(
    "getitem",
    forward=lambda x, index: (x[index], (x.shape, index)),
    vjps=(_getitem_vjp,),
    rules=("dx = zeros with dz added at the indexed places (repeats accumulate)",),
)


# ----------------------------------------------------------------------------------------
# Softmax and log-softmax, shifted by the maximum so that exp never overflows.
# ----------------------------------------------------------------------------------------


def _softmax(x, axis=-1):
    s, _ = softmax_parts(x, axis)
    return s, (s, axis)


def _softmax_vjp(g, s, axis):
    gs = g * s
    return gs - s * gs.sum(axis=axis, keepdims=True)


softmax = Op(
    "softmax",
    forward=_softmax,
    vjps=(_softmax_vjp,),
    rules=("dx = z ⊙ (dz − Σⱼ dzⱼ zⱼ)",),
)


def _log_softmax(x, axis=-1):
    s, log_s = softmax_parts(x, axis)
    return log_s, (s, axis)


log_softmax = Op(
    "log_softmax",
    forward=_log_softmax,
    vjps=(lambda g, s, axis: g - s * g.sum(axis=axis, keepdims=True),),
    rules=("dx = dz − softmax(x) ⊙ Σⱼ dzⱼ",),
)


# ----------------------------------------------------------------------------------------
# Numerical helpers, shared with losses.py and fused.py
# ----------------------------------------------------------------------------------------

HALF = np.dtype(np.float16)


def as_float(x: Any) -> Any:
    """`x` unchanged when it is floating point, else (integers, bools) as float64."""
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def divide_by_count(x: Any, count: int) -> Any:
    """`x / count`, the divisor of a mean, in x's dtype.

    numpy converts a Python int to x's dtype, and float16 ends at 65504 (a mean over 70,000
    items gave 0 and a zero gradient), so float16 divides in float32 and is rounded back.
    """
    if x.dtype == HALF:
        return np.divide(x, np.float32(count)).astype(HALF)
    return x / count


def exp_cap(dtype: np.dtype) -> np.floating:
    """The largest t of `dtype` with e^t finite (709.78 for float64, 88.72 for float32)."""
    cap = dtype.type(np.log(np.finfo(dtype).max))
    with np.errstate(over="ignore"):
        while not np.isfinite(np.exp(cap)):  # the rounded log may land just above
            cap = np.nextafter(cap, dtype.type(0))
    return cap


EXP_CAPS = {np.dtype(t): exp_cap(np.dtype(t)) for t in (np.float32, np.float64)}
"""exp_cap of float32 and float64, computed once."""


def softmax_parts(x: Any, axis: int = -1) -> tuple[Any, Any]:
    """(softmax, log_softmax) of x along `axis`, from x − max(x) so that e^x never overflows."""
    x = as_float(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    total = e.sum(axis=axis, keepdims=True)
    return e / total, shifted - np.log(total)
