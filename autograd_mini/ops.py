"""The primitive ops: each one's forward on numpy arrays, declared beside its VJPs.

An op is one `Op(...)` entry. `forward(*arrays, **params)` returns `(out, saved)`, where
`saved` is the tuple of whatever the backward pass needs. `vjps[i](g, *saved)` is the
vector-Jacobian product for input i: given `g = ∂L/∂out` it returns `∂L/∂input_i`, already
in input i's shape (broadcast inputs go through `unbroadcast`). `rules[i]` says the same in
math, for `explain()` and the graph drawings: `z` is the output, `dz` its gradient.

The contract a VJP keeps, which lets `backward()` avoid copies: it returns a new array, or
`g` itself, or a view of `g`; never an array saved by the forward or owned by anyone else.

Adding an op: write one `Op(...)` here (or in `losses.py`), a method or function that calls
`apply(op, ...)`, and one line in the op table of `tests/test_ops.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from .broadcasting import broadcast_error, matmul_error, unbroadcast
from .errors import ShapeError

Array = np.ndarray
Axis = int | tuple[int, ...] | None


class Op:
    """A primitive: `forward` on numpy arrays and one VJP per input.

    `on_error(name, exc, arrays)` turns a numpy error raised by `forward` into one that
    names this op and its shapes; the default explains broadcasting failures.
    `broadcasts` lists the inputs that numpy may stretch, whose gradient goes through
    `unbroadcast` (drawings and explanations mark them). `prepare(g, *saved)`, when given,
    runs once per node before the VJPs, which then receive its result as their `g`: the
    step a fused op's VJPs share (δ = dA ⊙ σ′(Z) of a fused layer). `stretched_to(*shapes)`,
    given the inputs' shapes, is the shape numpy stretched the `broadcasts` inputs to, when
    that is not the output's (a layer fused with its cost stretches b to Z's shape).
    """

    __slots__ = (
        "broadcasts",
        "forward",
        "name",
        "on_error",
        "prepare",
        "rules",
        "stretched_to",
        "vjps",
    )

    def __init__(
        self,
        name: str,
        forward: Callable[..., tuple[Any, tuple]],
        vjps: Sequence[Callable[..., Any]],
        rules: Sequence[str],
        on_error: Callable[[str, Exception, list], Exception] | None = None,
        broadcasts: tuple[int, ...] = (),
        prepare: Callable[..., Any] | None = None,
        stretched_to: Callable[..., tuple[int, ...]] | None = None,
    ) -> None:
        if len(vjps) != len(rules):
            raise ValueError(f"op {name}: {len(vjps)} VJPs but {len(rules)} rules")
        if name in OPS:
            raise ValueError(f"op {name} is already defined")
        self.name = name
        self.forward = forward
        self.vjps = tuple(vjps)
        self.rules = tuple(rules)
        self.on_error = on_error or _explain_error
        self.broadcasts = broadcasts
        self.prepare = prepare
        self.stretched_to = stretched_to
        OPS[name] = self

    def __repr__(self) -> str:
        return f"Op({self.name!r}, rules={self.rules})"


OPS: dict[str, Op] = {}
"""Every primitive by name: the table that the gradient tests are checked against."""


def _explain_error(name: str, exc: Exception, arrays: list) -> Exception:
    shapes = [np.shape(a) for a in arrays]
    shown = " and ".join(str(s) for s in shapes)
    if isinstance(exc, ValueError):  # numpy's AxisError is a ValueError and an IndexError
        if "broadcast" in str(exc):
            return broadcast_error(name, *shapes)
        return ShapeError(f"{name}: {exc} (input shapes {shown})")
    if isinstance(exc, IndexError):
        return IndexError(f"{name}: {exc} (tensor shape {shown})")
    return TypeError(f"{name}: {exc} (input shapes {shown})")


def _float(x: Array) -> Array:
    """`x` as a floating-point array (integer inputs become float64)."""
    return x if x.dtype.kind == "f" else x.astype(np.float64)


HALF = "e"  # numpy's type character of float16, whatever its byte order (`dtype.char`)


def _divide_by_count(x: Any, count: int) -> Any:
    """x / count, the divisor of a mean, in x's dtype.

    numpy converts a Python int to x's dtype, and float16 ends at 65504 (a mean over 70,000
    items gave 0 and a zero gradient), so float16 divides in float32 and is rounded back.
    A float array divides by a 0-d array, which numpy combines faster than a Python int.
    """
    dtype = x.dtype
    if dtype.char == HALF:
        return np.divide(x, np.float32(count)).astype(dtype)
    if type(x) is not np.ndarray or dtype.kind != "f":  # a numpy scalar; integers
        return x / count
    return np.divide(x, np.array(count, dtype))


# ----------------------------------------------------------------------------------------
# Elementwise arithmetic with broadcasting. A Python scalar operand stays a Python scalar,
# so float32 tensors stay float32 (numpy's weak scalars).
# ----------------------------------------------------------------------------------------

add = Op(
    "add",
    forward=lambda x, y: (x + y, (np.shape(x), np.shape(y))),
    vjps=(
        lambda g, sx, sy: unbroadcast(g, sx),
        lambda g, sx, sy: unbroadcast(g, sy),
    ),
    rules=("dx = dz", "dy = dz"),
    broadcasts=(0, 1),
)

sub = Op(
    "sub",
    forward=lambda x, y: (x - y, (np.shape(x), np.shape(y))),
    vjps=(
        lambda g, sx, sy: unbroadcast(g, sx),
        lambda g, sx, sy: -unbroadcast(g, sy),
    ),
    rules=("dx = dz", "dy = −dz"),
    broadcasts=(0, 1),
)

mul = Op(
    "mul",
    forward=lambda x, y: (x * y, (x, y)),
    vjps=(
        lambda g, x, y: unbroadcast(g * y, np.shape(x)),
        lambda g, x, y: unbroadcast(g * x, np.shape(y)),
    ),
    rules=("dx = dz ⊙ y", "dy = dz ⊙ x"),
    broadcasts=(0, 1),
)


def _div(x, y):
    z = x / y
    return z, (np.shape(x), y, z)


div = Op(
    "div",
    forward=_div,
    vjps=(
        lambda g, sx, y, z: unbroadcast(g / y, sx),
        lambda g, sx, y, z: unbroadcast(-g * z / y, np.shape(y)),
    ),
    rules=("dx = dz / y", "dy = −dz ⊙ z / y"),
    broadcasts=(0, 1),
)


def _pow_vjp(g, x, p):
    if p == 0:  # z = 1 everywhere; also avoids 0 * x**-1 = nan at x = 0
        return np.zeros_like(g * x)
    return g * (p * x ** (p - 1))


pow_ = Op(
    "pow",
    forward=lambda x, exponent: (x**exponent, (x, exponent)),
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
# axes; the VJPs put the dropped axes back, take the two products, and un-broadcast.
# ----------------------------------------------------------------------------------------


def _as_matrices(g, x, y):
    """Re-insert the axes that matmul drops for 1-D operands, in g too."""
    if x.ndim == 1:
        x, g = x[np.newaxis, :], np.expand_dims(g, -2)
    if y.ndim == 1:
        y, g = y[:, np.newaxis], np.expand_dims(g, -1)
    return g, x, y


def _matmul_vjp_x(g, x, y):  # dX = dZ @ Yᵀ
    if x.ndim == 2 and y.ndim == 2:
        return g @ y.T
    if x.ndim == 1 and y.ndim == 1:
        return g * y
    g2, x2, y2 = _as_matrices(g, x, y)
    return unbroadcast(g2 @ np.swapaxes(y2, -1, -2), x2.shape).reshape(x.shape)


def _matmul_vjp_y(g, x, y):  # dY = Xᵀ @ dZ
    if x.ndim == 2 and y.ndim == 2:
        return x.T @ g
    if x.ndim == 1 and y.ndim == 1:
        return g * x
    g2, x2, y2 = _as_matrices(g, x, y)
    return unbroadcast(np.swapaxes(x2, -1, -2) @ g2, y2.shape).reshape(y.shape)


matmul = Op(
    "matmul",
    forward=lambda x, y: (x @ y, (x, y)),
    vjps=(_matmul_vjp_x, _matmul_vjp_y),
    rules=("dA = dZ @ Bᵀ", "dB = Aᵀ @ dZ"),
    on_error=lambda name, exc, arrays: matmul_error(*(np.shape(a) for a in arrays)),
)


def _linear(x, w, b, name="linear"):
    """The fused linear layer Z = X @ W + b (row-batch convention): one node, not two.
    `name`: the op to name in an error (a fused layer's is `linear+sigmoid`...)."""
    z = x @ w
    if type(z) is np.ndarray and type(b) is np.ndarray and b.dtype is z.dtype:
        try:  # in place, saving a temporary of z's size; numpy refuses a b that stretches z
            z += b
            return z, (x, w, b.shape)
        except ValueError:
            pass  # a bias that stretches X @ W (or does not fit at all): explained below
    stretched = z + b
    if stretched.shape != z.shape:
        raise ShapeError(
            f"{name}: a bias of shape {np.shape(b)} would stretch X @ W of shape {z.shape} "
            f"to {stretched.shape}; give the bias shape {z.shape[-1:]}."
        )
    return stretched, (x, w, np.shape(b))


def _linear_error(name, exc, arrays):
    x, w, b = (np.shape(a) for a in arrays)
    if not x or not w or x[-1] != (w[-2] if len(w) >= 2 else w[0]):
        return matmul_error(x, w)
    return broadcast_error(name, x[:-1] + w[-1:], b)


# The linear VJPs ignore what follows shape_b in `saved` (a fused layer's output A).


def _linear_vjp_x(g, x, w, shape_b, *_):  # dX = dZ @ Wᵀ
    return g @ w.T if g.ndim == 2 == w.ndim else _matmul_vjp_x(g, x, w)


def _linear_vjp_w(g, x, w, shape_b, *_):  # dW = Xᵀ @ dZ
    return x.T @ g if g.ndim == 2 == x.ndim else _matmul_vjp_y(g, x, w)


def _linear_vjp_b(g, x, w, shape_b, *_):  # db = dZ summed over the batch
    return unbroadcast(g, shape_b)


linear = Op(
    "linear",
    forward=_linear,
    vjps=(_linear_vjp_x, _linear_vjp_w, _linear_vjp_b),
    rules=("dX = dZ @ Wᵀ", "dW = Xᵀ @ dZ", "db = dZ summed over the batch"),
    on_error=_linear_error,
    broadcasts=(2,),
)


# ----------------------------------------------------------------------------------------
# Elementwise functions. Each saves its output when the derivative is a function of it.
# ----------------------------------------------------------------------------------------

exp = Op(
    "exp",
    forward=lambda x: ((z := np.exp(x)), (z,)),
    vjps=(lambda g, z: g * z,),
    rules=("dx = dz ⊙ z",),
)

log = Op(
    "log",
    forward=lambda x: (np.log(x), (x,)),
    vjps=(lambda g, x: g / x,),
    rules=("dx = dz / x",),
)


def _exp_cap(dtype: np.dtype) -> np.floating:
    """The largest t of `dtype` with e^t finite (709.78 for float64, 88.72 for float32)."""
    cap = dtype.type(np.log(np.finfo(dtype).max))
    with np.errstate(over="ignore"):
        while not np.isfinite(np.exp(cap)):  # the rounded log may land just above
            cap = np.nextafter(cap, dtype.type(0))
    return cap


def _sigmoid_constants(dtype: np.dtype) -> tuple[Array, Array]:
    """The cap on −x and the 1 of σ, as 0-d arrays of `dtype` (numpy combines a 0-d array
    with an array faster than it converts a Python float)."""
    return np.array(_exp_cap(dtype), dtype), np.ones((), dtype)


_SIGMOID_CONSTANTS = {
    np.dtype(t): _sigmoid_constants(np.dtype(t)) for t in (np.float32, np.float64)
}


def _sigmoid(x):
    """σ(x) = 1 / (1 + e^(−x)), on one buffer, without overflow.

    −x is capped where e^(−x) would overflow; that changes σ only where it is subnormal
    (σ(x) < 1e-308 in float64, < 1e-38 in float32); everywhere else it is bit-identical
    to the textbook formula. float16 is computed in float32 and rounded: its e^(−x)
    overflows already at −x > 11.1, where σ is still 1.5e-5.
    """
    s = _sigmoid_in_place(np.negative(x) if x.dtype.kind == "f" else -x.astype(np.float64))
    return s, (s,)


def _sigmoid_in_place(s: Array) -> Array:
    """Turn s = −x into σ(x) = 1 / (1 + e^(−x)), in its own buffer."""
    if s.dtype.itemsize < 4:  # float16: in float32, see _sigmoid
        s[...] = _sigmoid_in_place(s.astype(np.float32))
        return s
    constants = _SIGMOID_CONSTANTS.get(s.dtype)
    cap, one = constants if constants is not None else _sigmoid_constants(s.dtype)
    np.minimum(s, cap, out=s)
    np.exp(s, out=s)
    np.add(s, one, out=s)
    return np.reciprocal(s, out=s)  # exactly 1 / s, without converting a Python 1.0


def _sigmoid_vjp(g, s):
    constants = _SIGMOID_CONSTANTS.get(s.dtype)
    one = constants[1] if constants is not None else 1.0
    dx = np.subtract(one, s)  # one temporary, then in place: dz ⊙ s ⊙ (1 − s)
    dx *= s
    dx *= g
    return dx


sigmoid = Op(
    "sigmoid",
    forward=_sigmoid,
    vjps=(_sigmoid_vjp,),
    rules=("dx = dz ⊙ σ′(x) = dz ⊙ z ⊙ (1 − z)",),
)


def _tanh_vjp(g, z):
    dx = np.multiply(z, z)  # dz ⊙ (1 − z²), on one temporary
    np.subtract(1.0, dx, out=dx)
    dx *= g
    return dx


tanh = Op(
    "tanh",
    forward=lambda x: ((z := np.tanh(x)), (z,)),
    vjps=(_tanh_vjp,),
    rules=("dx = dz ⊙ (1 − z²)",),
)


def _relu_vjp(g, z):
    return g * (z > 0)


relu = Op(
    "relu",
    forward=lambda x: ((z := np.maximum(x, 0)), (z,)),
    vjps=(_relu_vjp,),
    rules=("dx = dz ⊙ [x > 0]",),
)


# ----------------------------------------------------------------------------------------
# A linear layer and its activation as one node, A = f(X @ W + b): half the engine's
# bookkeeping per layer of an MLP, and numbers bit-identical to `linear` followed by the
# activation. The price: Z is not a tensor of its own (a drawing shows one box per layer).
# Backward forms δ = dA ⊙ f′(Z) from the saved A once (`prepare`; BP2's Hadamard
# product), then runs linear's VJPs on δ (BP1–BP4 in row form: dW = Xᵀδ, db = Σ_rows δ).
# ----------------------------------------------------------------------------------------


def _fused_linear(
    activation: str,
    activate_in_place: Callable[[Array], Array],
    delta: Callable[[Array, Array], Array],
    derivative: str,
) -> Op:
    """The op `linear+<activation>`. `activate_in_place(z)` overwrites Z with f(Z);
    `delta(dA, A)` returns dA ⊙ f′(Z) as a new array, f′ written through A = f(Z): the
    activation's own VJP."""

    name = f"linear+{activation}"

    def forward(x, w, b):
        z, saved = _linear(x, w, b, name)  # z is a fresh array: activated in place
        if type(z) is not np.ndarray or z.dtype.kind != "f":  # a 0-d result, or integers
            z = _float(np.asarray(z))
        a = activate_in_place(z)
        return a, (*saved, a)

    return Op(
        name,
        forward=forward,
        vjps=linear.vjps,
        rules=(
            f"dX = δ @ Wᵀ, with δ = dA ⊙ {derivative}",
            "dW = Xᵀ @ δ",
            "db = δ summed over the batch",
        ),
        on_error=_linear_error,
        broadcasts=(2,),
        prepare=lambda g, x, w, shape_b, a: delta(g, a),
    )


linear_sigmoid = _fused_linear(
    "sigmoid",
    lambda z: _sigmoid_in_place(np.negative(z, out=z)),
    _sigmoid_vjp,
    "σ′(Z) = dA ⊙ A ⊙ (1 − A)",
)
linear_tanh = _fused_linear("tanh", lambda z: np.tanh(z, out=z), _tanh_vjp, "(1 − A²)")
linear_relu = _fused_linear("relu", lambda z: np.maximum(z, 0, out=z), _relu_vjp, "[Z > 0]")
FUSED_LINEAR = {"sigmoid": linear_sigmoid, "tanh": linear_tanh, "relu": linear_relu}
"""The activations a linear layer can be fused with, by name."""


def _astype(x, dtype):
    return x.astype(dtype), (x.dtype,)


astype = Op(
    "astype",
    forward=_astype,
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
            _divide_by_count(_restore_axes(g, axes, keepdims), count), shape
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
# Softmax and log-softmax, shifted by the maximum so exp never overflows.
# ----------------------------------------------------------------------------------------


def softmax_parts(x, axis=-1):
    """(softmax, log_softmax) of x along axis, computed stably from x − max(x)."""
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    total = e.sum(axis=axis, keepdims=True)
    return e / total, shifted - np.log(total)


def _softmax(x, axis=-1):
    s, _ = softmax_parts(_float(x), axis)
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
    s, log_s = softmax_parts(_float(x), axis)
    return log_s, (s, axis)


log_softmax = Op(
    "log_softmax",
    forward=_log_softmax,
    vjps=(lambda g, s, axis: g - s * g.sum(axis=axis, keepdims=True),),
    rules=("dx = dz − softmax(x) ⊙ Σⱼ dzⱼ",),
)
