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

Ops of any number of inputs (concatenate, stack) give each input its own slice of dz, so
their VJPs and rules depend on the call: their entry has a `per_call(shapes, **params)`
that makes them, and `op.for_call(shapes, **params)` is the Op one call runs (below).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from .broadcasting import broadcast_error, matmul_error, unbroadcast
from .errors import InputError, ShapeError

Axis = int | tuple[int, ...] | None


class Op:
    """A primitive: `forward` on numpy arrays, one VJP and one rule per input.

    broadcasts: the inputs numpy may stretch to the output's shape; their VJPs return the
    output's shape and `backward()` sums them back (drawings and `explain()` mark them).
    on_error(name, exc, arrays): the error to raise
    when numpy's forward fails, naming this op and the shapes (by default it explains
    broadcasting failures).
    per_call(shapes, **params) -> (vjps, rules): only for an op of any number of inputs
    (concatenate, stack), whose entry has no `vjps` or `rules` of its own: it checks the
    inputs' shapes and makes one VJP and one rule per input, for `for_call`.
    A VJP is None for an input that can never require grad (where's boolean condition).
    """

    __slots__ = ("broadcasts", "forward", "name", "on_error", "per_call", "rules", "vjps")

    def __init__(
        self,
        name: str,
        forward: Callable[..., tuple[Any, tuple]],
        vjps: Sequence[Callable[..., Any] | None],
        rules: Sequence[str],
        broadcasts: tuple[int, ...] = (),
        on_error: Callable[[str, Exception, list], Exception] | None = None,
        per_call: Callable[..., tuple[Sequence[Callable], Sequence[str]]] | None = None,
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
        self.per_call = per_call
        OPS[name] = self

    def for_call(self, shapes: Sequence[tuple[int, ...]], **params: Any) -> Op:
        """The Op that one call of this op of any number of inputs runs: the same name and
        forward, with the VJPs and rules `per_call` makes for inputs of these shapes (so
        `explain()` and the drawings say which slice of dz goes to which input). It is not
        added to OPS: `apply(ops.concatenate.for_call(shapes, axis=1), *xs, axis=1)`."""
        if self.per_call is None:
            raise TypeError(f"op {self.name} takes a fixed number of inputs; apply it directly.")
        vjps, rules = self.per_call(shapes, **params)
        call = Op.__new__(Op)
        call.name, call.forward, call.broadcasts = self.name, self.forward, self.broadcasts
        call.on_error, call.per_call = self.on_error, self.per_call
        call.vjps, call.rules = tuple(vjps), tuple(rules)
        return call

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


def _power(x, y):
    """z = x^y for a tensor exponent y, which needs a positive base: dy = dz ⊙ z ⊙ ln x."""
    x, y = _float_operand(x), _float_operand(y)
    if np.any(np.less_equal(x, 0)):
        where = np.argwhere(np.less_equal(np.asarray(x), 0))[0]
        raise InputError(
            f"power: x ** y with a tensor exponent needs a positive base x, because "
            f"dy = dz ⊙ z ⊙ ln x, and ln x is undefined for x ≤ 0; the base holds "
            f"{np.asarray(x)[tuple(where)]} at index {tuple(int(i) for i in where)} (shape "
            f"{np.shape(x)}). For a negative base, raise it to a number (x ** 2); for |x|^y "
            "write x.abs() ** y."
        )
    z = np.power(x, y)
    return z, (x, y, z)


power = Op(
    "power",
    forward=_power,
    vjps=(
        lambda g, x, y, z: g * (y * z / x),
        lambda g, x, y, z: g * (z * np.log(x, dtype=z.dtype)),
    ),
    rules=("dx = dz ⊙ y·x^(y−1) = dz ⊙ y·z / x", "dy = dz ⊙ z ⊙ ln x"),
    broadcasts=(0, 1),
)


def _winner(g, wins, ties):
    """dz where this input wins, dz/2 where the two tie (a kink: they share it), else 0."""
    return np.where(ties, g / 2, np.where(wins, g, 0))


maximum = Op(
    "maximum",
    forward=lambda x, y: (np.maximum(x, y), (x, y)),
    vjps=(
        lambda g, x, y: _winner(g, np.greater(x, y), np.equal(x, y)),
        lambda g, x, y: _winner(g, np.greater(y, x), np.equal(x, y)),
    ),
    rules=(
        "dx = dz where x > y, dz/2 where x = y, 0 elsewhere",
        "dy = dz where y > x, dz/2 where x = y, 0 elsewhere",
    ),
    broadcasts=(0, 1),
)

minimum = Op(
    "minimum",
    forward=lambda x, y: (np.minimum(x, y), (x, y)),
    vjps=(
        lambda g, x, y: _winner(g, np.less(x, y), np.equal(x, y)),
        lambda g, x, y: _winner(g, np.less(y, x), np.equal(x, y)),
    ),
    rules=(
        "dx = dz where x < y, dz/2 where x = y, 0 elsewhere",
        "dy = dz where y < x, dz/2 where x = y, 0 elsewhere",
    ),
    broadcasts=(0, 1),
)


def _where(condition, x, y):
    condition = np.asarray(condition)
    if condition.dtype != np.bool_:
        raise InputError(
            f"where: the condition must be boolean (True where to take the first operand), "
            f"got dtype {condition.dtype} of shape {condition.shape}. A comparison gives one "
            "(x.data > 0); note that Tensor([True, False]) holds float64 (Python lists become "
            "float64): pass np.array([True, False]) instead."
        )
    return np.where(condition, x, y), (condition,)


where = Op(
    "where",
    forward=_where,
    vjps=(
        None,  # the condition is never differentiated (a boolean cannot require grad)
        lambda g, condition: np.where(condition, g, 0),
        lambda g, condition: np.where(condition, 0, g),
    ),
    rules=(
        "none: the condition is not differentiated",
        "dx = dz where the condition holds, 0 elsewhere",
        "dy = dz where the condition does not hold, 0 elsewhere",
    ),
    broadcasts=(0, 1, 2),
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
    a = np.empty_like(z)  # a new buffer (an array even when z is 0-d), that becomes
    np.negative(z, out=a)  # −z,
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

abs_ = Op(
    "abs",
    forward=lambda x: (np.abs(x), (x,)),
    vjps=(lambda g, x: g * np.sign(x),),
    rules=("dx = dz ⊙ sign(x) (0 at x = 0)",),
)


def _clip(x, lo=None, hi=None):
    lo = None if lo is None else _number("clip", "lo", lo)
    hi = None if hi is None else _number("clip", "hi", hi)
    if lo is None and hi is None:
        raise InputError("clip: give lo, hi or both (None leaves that side open).")
    if lo is not None and hi is not None and lo > hi:
        raise InputError(f"clip: lo = {lo} is above hi = {hi}; the interval [lo, hi] is empty.")
    return np.clip(x, lo, hi), (x, lo, hi)


def _clip_vjp(g, x, lo, hi):
    inside = (True if lo is None else x >= lo) & (True if hi is None else x <= hi)
    return g * inside


clip = Op(
    "clip",
    forward=_clip,
    vjps=(_clip_vjp,),
    rules=("dx = dz where lo ≤ x ≤ hi (the bounds included), 0 outside",),
)

log1p = Op(
    "log1p",
    forward=lambda x: (np.log1p(as_float(x)), (x,)),
    vjps=(lambda g, x: g / (1 + x),),
    rules=("dx = dz / (1 + x)",),
)

expm1 = Op(
    "expm1",
    forward=lambda x: ((z := np.expm1(as_float(x))), (z,)),
    vjps=(lambda g, z: g * (z + 1),),
    rules=("dx = dz ⊙ (z + 1) = dz ⊙ e^x",),
)


def _leaky_relu(z, slope=0.01):
    slope = _number("leaky_relu", "slope", slope)
    z = as_float(z)
    return np.where(z > 0, z, z * slope), (z, slope)


leaky_relu = Op(
    "leaky_relu",
    forward=_leaky_relu,
    vjps=(lambda g, z, slope: np.where(z > 0, g, g * slope),),
    rules=("dz = da where z > 0, da ⊙ slope elsewhere (slope at z = 0)",),
)


def _softplus(z):
    """a = ln(1 + e^z) = max(z, 0) + ln(1 + e^(−|z|)): e^(−|z|) ≤ 1 never overflows."""
    z = as_float(z)
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))), (z,)


softplus = Op(
    "softplus",
    forward=_softplus,
    vjps=(lambda g, z: g * _sigmoid(z)[0],),
    rules=("dz = da ⊙ σ(z)",),
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


def _extreme(reduce):
    """The forward of max (reduce = np.max) or min: z, and z with the reduced axes kept."""

    def forward(x, axis=None, keepdims=False):
        axes = _axes(axis, x.ndim)
        z_kept = reduce(x, axis=axes, keepdims=True)
        z = z_kept if keepdims else np.squeeze(z_kept, axis=axes)
        return z, (x, z_kept, axes, keepdims)

    return forward


def _extreme_vjp(g, x, z_kept, axes, keepdims):
    winners = x == z_kept
    ties = winners.sum(axis=axes, keepdims=True, dtype=g.dtype)  # counted in g's dtype
    return winners * (_restore_axes(g, axes, keepdims) / ties)


max_ = Op(
    "max",
    forward=_extreme(np.max),
    vjps=(_extreme_vjp,),
    rules=("dx = dz at the maximum (split evenly among ties), 0 elsewhere",),
)

min_ = Op(
    "min",
    forward=_extreme(np.min),
    vjps=(_extreme_vjp,),
    rules=("dx = dz at the minimum (split evenly among ties), 0 elsewhere",),
)


def _deviations(name, x, axis, keepdims, ddof):
    """x − mean(x) over the axes, Σ (x − mean)² / (n − ddof) (the variance), the axes, and
    n − ddof (n: elements per output), after checking ddof."""
    x = as_float(x)
    axes = _axes(axis, x.ndim)
    n = math.prod(x.shape if axes is None else (x.shape[a] for a in axes))
    if isinstance(ddof, bool) or not isinstance(ddof, (int, np.integer)) or ddof < 0:
        raise InputError(f"{name}: ddof must be a whole number ≥ 0, got {ddof!r}.")
    if ddof >= n:
        over = "all axes" if axis is None else f"axis {axis}"
        raise InputError(
            f"{name}: ddof={ddof} needs more than {ddof} element{'s' * (ddof != 1)} per "
            f"output, but reducing shape {x.shape} over {over} gives n = {n}; the divisor "
            "n − ddof must be above 0."
        )
    d = x - x.mean(axis=axes, keepdims=True)
    variance = divide_by_count((d * d).sum(axis=axes, keepdims=keepdims), int(n - ddof))
    return d, variance, axes, int(n - ddof)


def _var(x, axis=None, keepdims=False, ddof=0):
    d, z, axes, dof = _deviations("var", x, axis, keepdims, ddof)
    return z, (d, axes, keepdims, dof)


var = Op(
    "var",
    forward=_var,
    vjps=(lambda g, d, axes, keepdims, dof: _restore_axes(g, axes, keepdims) * d * (2 / dof),),
    rules=("dx = dz ⊙ 2(x − mean) / (n − ddof) (n = elements per output)",),
)


def _std(x, axis=None, keepdims=False, ddof=0):
    d, variance, axes, dof = _deviations("std", x, axis, keepdims, ddof)
    z = np.sqrt(variance)
    return z, (d, _restore_axes(z, axes, keepdims), axes, keepdims, dof)


def _std_vjp(g, d, z_kept, axes, keepdims, dof):
    divisor = z_kept * dof
    constant = divisor == 0  # no deviation: no derivative (a kink, as |x| at 0); take 0
    scale = np.where(constant, 0, _restore_axes(g, axes, keepdims) / np.where(constant, 1, divisor))
    return d * scale


std = Op(
    "std",
    forward=_std,
    vjps=(_std_vjp,),
    rules=("dx = dz ⊙ (x − mean) / ((n − ddof)·z) (0 where z = 0)",),
)


def _logsumexp(x, axis=None, keepdims=False):
    x = as_float(x)
    axes = _axes(axis, x.ndim)
    top = x.max(axis=axes, keepdims=True)
    shift = np.where(np.isfinite(top), top, 0)  # not by ±inf: −inf − (−inf) would be nan
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        e = np.exp(x - shift)  # ≤ 1 wherever the maximum is finite: no overflow
        total = e.sum(axis=axes, keepdims=True)
        z_kept = np.log(total) + shift  # ln 0 = −inf for values that are all −inf
        softmax = np.divide(e, total, out=np.zeros_like(e), where=total > 0)  # 0 there
    z = z_kept if keepdims else np.squeeze(z_kept, axis=axes)
    return z, (softmax, axes, keepdims)


logsumexp = Op(
    "logsumexp",
    forward=_logsumexp,
    vjps=(lambda g, softmax, axes, keepdims: softmax * _restore_axes(g, axes, keepdims),),
    rules=("dx = dz ⊙ softmax(x) = dz ⊙ e^(x − z) over the reduced axes",),
)


# ----------------------------------------------------------------------------------------
# Shape ops: the gradient takes the inverse path.
# ----------------------------------------------------------------------------------------


def _reshape_back(g, shape):
    return g.reshape(shape)


reshape = Op(
    "reshape",
    forward=lambda x, shape: (x.reshape(shape), (x.shape,)),
    vjps=(_reshape_back,),
    rules=("dx = dz reshaped to x's shape",),
)

flatten = Op(
    "flatten",
    forward=lambda x: (x.reshape(-1), (x.shape,)),
    vjps=(_reshape_back,),
    rules=("dx = dz reshaped to x's shape",),
)


def _squeeze(x, axis=None):
    for a in () if axis is None else normalize_axis_tuple(axis, x.ndim):
        if x.shape[a] != 1:
            raise ShapeError(
                f"squeeze: axis {a} of shape {x.shape} has size {x.shape[a]}; only axes of "
                "size 1 can be squeezed."
            )
    return np.squeeze(x, axis), (x.shape,)


squeeze = Op(
    "squeeze",
    forward=_squeeze,
    vjps=(_reshape_back,),
    rules=("dx = dz with the squeezed axes of size 1 put back",),
)


def _expand_dims(x, axis):
    ndim = x.ndim + (len(axis) if isinstance(axis, (tuple, list)) else 1)
    for a in axis if isinstance(axis, (tuple, list)) else (axis,):
        if not -ndim <= a < ndim:
            raise ShapeError(
                f"expand_dims: axis {a} is out of bounds: shape {x.shape} with the new axes "
                f"has {ndim} axes, so axis must be in [{-ndim}, {ndim - 1}]."
            )
    return np.expand_dims(x, axis), (x.shape,)


expand_dims = Op(
    "expand_dims",
    forward=_expand_dims,
    vjps=(_reshape_back,),
    rules=("dx = dz without the added axes of size 1",),
)

swapaxes = Op(
    "swapaxes",
    forward=lambda x, axis1, axis2: (np.swapaxes(x, axis1, axis2), (axis1, axis2)),
    vjps=(lambda g, axis1, axis2: np.swapaxes(g, axis1, axis2),),
    rules=("dx = dz with the two axes swapped back",),
)


def _transpose(x, axes=None):
    if axes is not None and len(axes) != x.ndim:
        raise ShapeError(
            f"transpose: axes {tuple(axes)} are not a permutation of the {x.ndim} axes of "
            f"shape {x.shape}; transpose takes a full permutation, as numpy's does. To swap "
            "two axes (torch's transpose(0, 1)), use swapaxes(0, 1)."
        )
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
# Joining tensors. concatenate and stack take any number of inputs, and each input's
# gradient is its own slice of dz: `per_call` checks the shapes and makes one VJP and one
# rule per input (`dx₂ = dz[:, 30:50]`), so the ops are applied as `op.for_call(...)`.
# ----------------------------------------------------------------------------------------

SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _slices(axis: int, parts: Sequence[tuple[Any, str]]) -> tuple[list, list[str]]:
    """A VJP and a rule for each part (an index along `axis`, and how it is written):
    input i's gradient is dz[:, ..., part] with `axis` colons before the part."""
    vjps, rules = [], []
    for i, (part, written) in enumerate(parts, start=1):
        index = (slice(None),) * axis + (part,)
        vjps.append(lambda g, index=index: g[index])
        rules.append(f"dx{str(i).translate(SUBSCRIPTS)} = dz[{':, ' * axis}{written}]")
    return vjps, rules


def _joined_axis(name: str, axis: Any, ndim: int, shape: tuple[int, ...]) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise InputError(f"{name}: axis must be an integer, got {axis!r}.")
    if not -ndim <= axis < ndim:
        raise ShapeError(
            f"{name}: axis {axis} is out of bounds: the result of inputs of shape {shape} "
            f"has {ndim} axes, so axis must be in [{-ndim}, {ndim - 1}]."
        )
    return int(axis) % ndim


def _check_inputs(name: str, shapes: Sequence[tuple[int, ...]]) -> None:
    if len(shapes) == 0:
        raise InputError(f"{name}: needs at least one tensor, got an empty sequence.")


def _concatenate_parts(shapes, axis=0):
    _check_inputs("concatenate", shapes)
    first = shapes[0]
    if len(first) == 0:
        raise ShapeError(
            "concatenate: tensors[0] is 0-d (shape ()), which has no axis to join along; "
            "use stack to make a vector of numbers."
        )
    axis = _joined_axis("concatenate", axis, len(first), first)
    others = first[:axis] + first[axis + 1 :]
    for i, shape in enumerate(shapes):
        if len(shape) != len(first) or shape[:axis] + shape[axis + 1 :] != others:
            raise ShapeError(
                f"concatenate: tensors[{i}] has shape {shape} and tensors[0] has shape "
                f"{first}; joined along axis {axis}, they must have the same number of axes "
                "and agree on every other axis."
            )
    stops = np.cumsum([shape[axis] for shape in shapes]).tolist()
    starts = [0, *stops[:-1]]
    return _slices(axis, [(slice(a, b), f"{a}:{b}") for a, b in zip(starts, stops, strict=True)])


concatenate = Op(
    "concatenate",
    forward=lambda *xs, axis: (np.concatenate(xs, axis=axis), ()),  # the axis per_call was given
    vjps=(),
    rules=(),
    per_call=_concatenate_parts,
)


def _stack_parts(shapes, axis=0):
    _check_inputs("stack", shapes)
    first = shapes[0]
    axis = _joined_axis("stack", axis, len(first) + 1, first)
    for i, shape in enumerate(shapes):
        if shape != first:
            raise ShapeError(
                f"stack: tensors[{i}] has shape {shape} and tensors[0] has shape {first}; "
                "stacked tensors must all have the same shape."
            )
    return _slices(axis, [(i, str(i)) for i in range(len(shapes))])


stack = Op(
    "stack",
    forward=lambda *xs, axis: (np.stack(xs, axis=axis), ()),  # the axis per_call was given
    vjps=(),
    rules=(),
    per_call=_stack_parts,
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


def _float_operand(x: Any) -> Any:
    """An integer array as float64 (for the math of a transcendental op); Python numbers
    and float arrays unchanged (a Python number stays weak: float32 ** 2.5 is float32)."""
    return as_float(x) if isinstance(x, np.ndarray) else x


def _number(name: str, what: str, value: Any) -> int | float:
    """A parameter of op `name` (a bound, a slope) as a Python number, so that it does not
    promote float32 to float64, or a clear error."""
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{name}: {what} must be a number, got {value!r}.")
    return value


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
