"""The op table: each primitive's forward and VJPs, written once, as formulas.

Read an entry as the math it is. `Op("sigmoid(z)", forward="a = ...", vjps=["dz = ..."])`
says: sigmoid takes z and gives a; its VJP turns da, the gradient arriving from above,
into dz. The engine runs these formulas, `explain()` and the drawings print them, and the
code printer writes them out as the numpy of a backward pass (see `formulas.py` for how).

Letters, as in the book: a generic op takes x (and y) and gives z; an activation takes the
weighted input z and gives the activation a; matrices are capitals (`dX = dZ @ W.T`).

Adding an op: one `Op(...)` here, and one case in the op table of `tests/test_ops.py`. The
Tensor method (`method=True`) and the `ag.` function follow from the entry. The losses are
entries of the same table, in `losses.py`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from .broadcasting import matmul_error
from .errors import InputError, ShapeError
from .formulas import OPS, Op, helper

__all__ = ["OPS", "Op"]


# ----------------------------------------------------------------------------------------
# Arithmetic, with broadcasting: numpy stretches an operand along axes it lacks or has with
# size 1, so the engine sums that operand's gradient back (the inputs in `broadcasts`).
# ----------------------------------------------------------------------------------------

OPERATOR = {"function": False}  # recorded by an operator (x + y), not a function of its own

Op("add(x, y)", forward="z = x + y", vjps=["dx = dz", "dy = dz"], broadcasts="xy", **OPERATOR)
Op("sub(x, y)", forward="z = x - y", vjps=["dx = dz", "dy = -dz"], broadcasts="xy", **OPERATOR)
Op(
    "mul(x, y)",
    forward="z = x * y",
    vjps=["dx = dz * y", "dy = dz * x"],
    broadcasts="xy",
    **OPERATOR,
)
Op(
    "div(x, y)",
    forward="z = x / y",
    vjps=["dx = dz / y", "dy = -dz * z / y"],
    broadcasts="xy",
    **OPERATOR,
)
Op("neg(x)", forward="z = -x", vjps=["dx = -dz"], **OPERATOR)
Op(
    "pow(x, p)",
    forward="z = x ** p",
    # p = 0: z = 1 whatever x is (and p·x^(p−1) would be 0 · inf = nan at x = 0)
    vjps=["dx = dz * (p * x ** (p - 1)) if p != 0 else np.zeros_like(dz)"],
    doc="x to a number p",
    **OPERATOR,
)


def _check_power(x: Any, y: Any) -> dict[str, Any]:
    if np.any(np.less_equal(x, 0)):
        where = np.argwhere(np.less_equal(np.asarray(x), 0))[0]
        raise InputError(
            f"power: x ** y with a tensor exponent needs a positive base x, because "
            f"dy = dz * z * log(x), and log(x) is undefined for x ≤ 0; the base holds "
            f"{np.asarray(x)[tuple(where)]} at index {tuple(int(i) for i in where)} (shape "
            f"{np.shape(x)}). For a negative base, raise it to a number (x ** 2); for |x|^y "
            "write x.abs() ** y."
        )
    return {}


Op(
    "power(x, y)",
    floats=True,
    forward="z = x ** y",
    vjps=["dx = dz * (y * z / x)", "dy = dz * (z * np.log(x, dtype=z.dtype))"],
    broadcasts="xy",
    check=_check_power,
    doc="x to a tensor exponent y (x > 0)",
    **OPERATOR,
)
Op(
    "maximum(x, y)",
    forward="z = np.maximum(x, y)",
    # where x = y (a kink) the two share dz
    vjps=[
        "dx = np.where(x == y, dz / 2, np.where(x > y, dz, 0))",
        "dy = np.where(x == y, dz / 2, np.where(y > x, dz, 0))",
    ],
    broadcasts="xy",
    numpy="maximum",
    doc="the larger of x and y, elementwise; where they tie, each gets half of dz",
)
Op(
    "minimum(x, y)",
    forward="z = np.minimum(x, y)",
    vjps=[
        "dx = np.where(x == y, dz / 2, np.where(x < y, dz, 0))",
        "dy = np.where(x == y, dz / 2, np.where(y < x, dz, 0))",
    ],
    broadcasts="xy",
    numpy="minimum",
    doc="the smaller of x and y, elementwise; where they tie, each gets half of dz",
)


def _check_where(x: Any, y: Any, condition: Any) -> dict[str, Any]:
    condition = np.asarray(condition)
    if condition.dtype != np.bool_:
        raise InputError(
            f"where: the condition must be boolean (True where to take the first operand), "
            f"got dtype {condition.dtype} of shape {condition.shape}. A comparison gives one "
            "(x.data > 0); note that Tensor([True, False]) holds float64 (Python lists become "
            "float64): pass np.array([True, False]) instead."
        )
    return {"condition": condition}


Op(
    "where(condition, x, y)",
    forward="z = np.where(condition, x, y)",
    vjps=["dx = np.where(condition, dz, 0)", "dy = np.where(condition, 0, dz)"],
    broadcasts="xy",
    check=_check_where,
    numpy="where",
    doc="x where the condition holds, y elsewhere; the condition is not differentiated",
)


# ----------------------------------------------------------------------------------------
# The matrix product, as numpy's matmul: a 1-D operand loses its axis (a vector), leading
# (batch) axes broadcast and are summed back by the engine.
# ----------------------------------------------------------------------------------------


def _batch_axes(shapes: list[tuple], out: tuple) -> tuple:
    """The batch axes of Z = X @ W: Z's axes before its matrix axes (two when X and W are
    matrices, one when either is a vector), which numpy broadcasts like any op's."""
    matrix_axes = sum(len(shape) > 1 for shape in shapes)
    return out[: len(out) - matrix_axes]


Op(
    "matmul(X, W)",
    forward="Z = X @ W",
    vjps=[
        """
        dX = (
            dZ @ W.T if X.ndim > 1 and W.ndim == 2
            else dZ @ W.mT if X.ndim > 1 and W.ndim > 2
            else dZ[..., None] * W if X.ndim > 1
            else dZ * W if W.ndim == 1
            else (dZ[..., None, :] @ W.mT)[..., 0, :]
        )
        """,
        """
        dW = (
            X.T @ dZ if X.ndim == 2 and W.ndim > 1
            else X.mT @ dZ if X.ndim > 2 and W.ndim > 1
            else (X.mT @ dZ[..., None])[..., 0] if X.ndim > 1
            else dZ * X if W.ndim == 1
            else X[..., None] * dZ[..., None, :]
        )
        """,
    ],
    broadcasts="XW",
    stretch=lambda i, shapes, out: _batch_axes(shapes, out) + shapes[i][-2:],
    error=lambda name, exc, arrays: matmul_error(*(np.shape(a) for a in arrays)),
    numpy="matmul",
    doc="the matrix product X @ W (1-D, 2-D and batched, as numpy's)",
)


# ----------------------------------------------------------------------------------------
# Elementwise functions. Each saves what its derivative is written through: exp its output,
# log its input.
# ----------------------------------------------------------------------------------------

Op("exp(x)", floats=True, forward="z = np.exp(x)", vjps=["dx = dz * z"], method=True, numpy="exp")
Op("log(x)", floats=True, forward="z = np.log(x)", vjps=["dx = dz / x"], method=True, numpy="log")
Op(
    "sigmoid(z)",
    floats=True,
    # e^(−z) overflows to inf for z < −709 (float64), and 1 / (1 + inf) = 0 is σ's limit
    forward="""
        with np.errstate(over="ignore"):
            a = 1 / (1 + np.exp(-z))
    """,
    vjps=["dz = da * (a * (1 - a))"],
    method=True,
    activation=True,
    mistakes=[
        ("σ(z) is used where σ′(z) belongs", "dz = da * a"),
        (
            "σ′ is taken of the activation a = σ(z) instead of z",
            "dz = da * (ops.sigmoid(a) * (1 - ops.sigmoid(a)))",
        ),
        ("the factor σ′(z) is missing", "dz = da"),
    ],
    doc="σ(z) = 1 / (1 + e^(−z)), elementwise; σ′(z) = a (1 − a)",
)
Op(
    "tanh(z)",
    floats=True,
    forward="a = np.tanh(z)",
    vjps=["dz = da * (1 - a * a)"],
    method=True,
    numpy="tanh",
    activation=True,
    mistakes=[
        ("tanh(z) is used where tanh′(z) = 1 − tanh²(z) belongs", "dz = da * a"),
        (
            "tanh′ is taken of the activation a = tanh(z) instead of z",
            "dz = da * (1 - np.tanh(a) ** 2)",
        ),
        ("the square is missing: 1 − tanh(z) where 1 − tanh²(z) belongs", "dz = da * (1 - a)"),
        ("the factor tanh′(z) is missing", "dz = da"),
    ],
    doc="tanh(z), elementwise; tanh′(z) = 1 − a²",
)
Op(
    "relu(z)",
    floats=True,
    forward="a = np.maximum(z, 0)",
    vjps=["dz = da * (a > 0)"],
    method=True,
    activation=True,
    mistakes=[("the factor [z > 0] is missing", "dz = da")],
    doc="max(z, 0), elementwise; the gradient at z = 0 is taken as 0",
)
Op(
    "abs(x)",
    forward="z = np.abs(x)",
    vjps=["dx = dz * np.sign(x)"],
    method=True,
    numpy="abs",
    doc="|x|, elementwise; the gradient at x = 0 is taken as 0",
)


def _number(name: str, what: str, value: Any) -> int | float:
    """A parameter (a bound, a slope) as a Python number, so that it does not promote
    float32 to float64, or a clear error."""
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{name}: {what} must be a number, got {value!r}.")
    return value


def _check_clip(x: Any, lo: Any = None, hi: Any = None) -> dict[str, Any]:
    lo = None if lo is None else _number("clip", "lo", lo)
    hi = None if hi is None else _number("clip", "hi", hi)
    if lo is None and hi is None:
        raise InputError("clip: give lo, hi or both (None leaves that side open).")
    if lo is not None and hi is not None and lo > hi:
        raise InputError(f"clip: lo = {lo} is above hi = {hi}; the interval [lo, hi] is empty.")
    return {"lo": lo, "hi": hi}


Op(
    "clip(x, lo=None, hi=None)",
    forward="z = np.clip(x, lo, hi)",
    # the bounds count as inside, as in PyTorch
    vjps=[
        """
        dx = (
            dz * (x <= hi) if lo is None
            else dz * (x >= lo) if hi is None
            else dz * ((x >= lo) & (x <= hi))
        )
        """
    ],
    check=_check_clip,
    method=True,
    numpy="clip",
    aliases=["clamp"],  # torch's name: clamp(x, min, max)
    doc="x limited to [lo, hi] (None leaves a side open); dx = dz inside, 0 outside",
)
Op(
    "log1p(x)",
    floats=True,
    forward="z = np.log1p(x)",
    vjps=["dx = dz / (1 + x)"],
    method=True,
    numpy="log1p",
    doc="ln(1 + x), elementwise, accurate for tiny x",
)
Op(
    "expm1(x)",
    floats=True,
    forward="z = np.expm1(x)",
    vjps=["dx = dz * (z + 1)"],
    method=True,
    numpy="expm1",
    doc="e^x − 1, elementwise, accurate for tiny x",
)
Op(
    "leaky_relu(z, slope=0.01)",
    floats=True,
    forward="a = np.where(z > 0, z, z * slope)",
    vjps=["dz = np.where(z > 0, da, da * slope)"],
    check=lambda z, slope=0.01: {"slope": _number("leaky_relu", "slope", slope)},
    method=True,
    doc="z where z > 0, else slope·z, elementwise (slope at z = 0, as in PyTorch)",
)
Op(
    "softplus(z)",
    floats=True,
    # max(z, 0) + ln(1 + e^(−|z|)) = ln(1 + e^z), and e^(−|z|) ≤ 1 never overflows
    forward="a = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))",
    vjps=["dz = da * ops.sigmoid(z)"],
    method=True,
    activation=True,
    mistakes=[("the factor σ(z) is missing", "dz = da")],
    doc="ln(1 + e^z), elementwise, a smooth relu; its derivative is σ(z)",
)
Op(
    "silu(z)",
    floats=True,
    forward="a = z * ops.sigmoid(z)",
    # (z σ(z))′ = σ(z) + z σ(z)(1 − σ(z))
    vjps=[
        """
        s = ops.sigmoid(z)
        dz = da * (s * (1 + z * (1 - s)))
        """
    ],
    method=True,
    aliases=["swish"],
    activation=True,
    mistakes=[("σ(z) is used where σ(z)(1 + z(1 − σ(z))) belongs", "dz = da * ops.sigmoid(z)")],
    doc="z σ(z), elementwise (swish); its derivative is σ(z)(1 + z(1 − σ(z)))",
)


def _check_gelu(z: Any, approximate: Any = "none") -> dict[str, Any]:
    if approximate not in ("none", "tanh"):
        raise InputError(
            f"gelu: approximate must be 'none' (the exact z Φ(z), with erf) or 'tanh' (the "
            f"tanh approximation, as torch's approximate='tanh'), got {approximate!r}."
        )
    return {"approximate": approximate}


Op(
    'gelu(z, approximate="none")',
    floats=True,
    # Φ(z) = ½(1 + erf(z/√2)) is the standard normal's CDF, φ(z) = e^(−z²/2)/√(2π) its density
    forward="""
        if approximate == "tanh":
            a = 0.5 * z * (1 + np.tanh(math.sqrt(2 / np.pi) * (z + 0.044715 * z**3)))
        else:
            a = 0.5 * z * (1 + ops.erf(z / math.sqrt(2)))
    """,
    vjps=[
        """
        if approximate == "tanh":
            t = np.tanh(math.sqrt(2 / np.pi) * (z + 0.044715 * z**3))
            dz = da * (
                0.5 * (1 + t)
                + 0.5 * z * (1 - t * t) * math.sqrt(2 / np.pi) * (1 + 3 * 0.044715 * z * z)
            )
        else:
            dz = da * (
                0.5 * (1 + ops.erf(z / math.sqrt(2)))
                + z * np.exp(-z * z / 2) / math.sqrt(2 * np.pi)
            )
        """
    ],
    check=_check_gelu,
    method=True,
    activation=True,  # exact: z Φ(z); nn.GELU(approximate="tanh") for the tanh form
    doc="z Φ(z), elementwise (Φ the normal CDF; approximate='tanh' for the tanh form); "
    "its derivative is Φ(z) + z φ(z)",
)
Op(
    "erf(x)",
    floats=True,
    # numpy has no erf: Python's math.erf on each element, in the input's dtype
    forward="z = np.vectorize(math.erf, otypes=[np.result_type(x, 1.0)])(x)",
    vjps=["dx = dz * (2 / math.sqrt(np.pi) * np.exp(-x * x))"],
    method=True,
    doc="the error function erf(x) = 2/√π ∫₀ˣ e^(−t²) dt, elementwise",
)


# ----------------------------------------------------------------------------------------
# Trigonometric and hyperbolic functions, their inverses, logarithms in base 2 and 10.
# Constants are Python floats (`math.log(2)`), so that float32 stays float32.
# ----------------------------------------------------------------------------------------

_ELEMENTWISE = [  # (signature, forward, VJP, what it is)
    ("sin(x)", "z = np.sin(x)", "dx = dz * np.cos(x)", "sin x, elementwise; sin′ = cos"),
    ("cos(x)", "z = np.cos(x)", "dx = -dz * np.sin(x)", "cos x, elementwise; cos′ = −sin"),
    ("tan(x)", "z = np.tan(x)", "dx = dz * (1 + z * z)", "tan x, elementwise; tan′ = 1 + tan²"),
    ("sinh(x)", "z = np.sinh(x)", "dx = dz * np.cosh(x)", "sinh x, elementwise; sinh′ = cosh"),
    ("cosh(x)", "z = np.cosh(x)", "dx = dz * np.sinh(x)", "cosh x, elementwise; cosh′ = sinh"),
    (
        "arcsin(x)",
        "z = np.arcsin(x)",
        "dx = dz / (1 - x * x) ** 0.5",
        "arcsin x for x in [−1, 1], elementwise (torch's asin); arcsin′ = 1/√(1 − x²)",
    ),
    (
        "arccos(x)",
        "z = np.arccos(x)",
        "dx = -dz / (1 - x * x) ** 0.5",
        "arccos x for x in [−1, 1], elementwise (torch's acos); arccos′ = −1/√(1 − x²)",
    ),
    (
        "arctan(x)",
        "z = np.arctan(x)",
        "dx = dz / (1 + x * x)",
        "arctan x, elementwise (torch's atan); arctan′ = 1/(1 + x²)",
    ),
    (
        "arcsinh(x)",
        "z = np.arcsinh(x)",
        "dx = dz / (x * x + 1) ** 0.5",
        "arsinh x, elementwise (torch's asinh); arsinh′ = 1/√(x² + 1)",
    ),
    (
        "arccosh(x)",
        "z = np.arccosh(x)",
        "dx = dz / (x * x - 1) ** 0.5",
        "arcosh x for x ≥ 1, elementwise (torch's acosh); arcosh′ = 1/√(x² − 1)",
    ),
    (
        "arctanh(x)",
        "z = np.arctanh(x)",
        "dx = dz / (1 - x * x)",
        "artanh x for x in (−1, 1), elementwise (torch's atanh); artanh′ = 1/(1 − x²)",
    ),
    (
        "log2(x)",
        "z = np.log2(x)",
        "dx = dz / (x * math.log(2))",
        "log₂ x, elementwise; log₂′ = 1/(x ln 2)",
    ),
    (
        "log10(x)",
        "z = np.log10(x)",
        "dx = dz / (x * math.log(10))",
        "log₁₀ x, elementwise; log₁₀′ = 1/(x ln 10)",
    ),
    (
        "exp2(x)",
        "z = np.exp2(x)",
        "dx = dz * (z * math.log(2))",
        "2^x, elementwise; its derivative is 2^x ln 2",
    ),
    (
        "deg2rad(x)",
        "z = np.deg2rad(x)",
        "dx = dz * (np.pi / 180)",
        "degrees to radians, x π/180, elementwise",
    ),
    (
        "rad2deg(x)",
        "z = np.rad2deg(x)",
        "dx = dz * (180 / np.pi)",
        "radians to degrees, x 180/π, elementwise",
    ),
]
for _signature, _forward, _vjp, _doc in _ELEMENTWISE:
    _name = _signature.split("(")[0]
    Op(
        _signature,
        floats=True,
        forward=_forward,
        vjps=[_vjp],
        method=True,
        numpy=_name,
        aliases=["a" + _name[3:]] if _name.startswith("arc") else [],  # torch's asin, acosh
        doc=_doc,
    )
Op(
    "sinc(x)",
    floats=True,
    forward="z = np.sinc(x)",
    # sinc x = sin(πx)/(πx), so sinc′ x = (cos(πx) − sinc x)/x; at x = 0 it is 0 (sinc is
    # even there), written −(π²/3)·x so that its derivative is sinc″(0) = −π²/3; the
    # division is kept away from x = 0
    vjps=[
        """
        dx = dz * np.where(
            x == 0, -(np.pi**2 / 3) * x, (np.cos(np.pi * x) - z) / np.where(x == 0, 1, x)
        )
        """
    ],
    method=True,
    numpy="sinc",
    doc="the normalized sinc, sin(πx)/(πx) and 1 at x = 0 (numpy's and torch's), elementwise",
)
Op(
    "sign(x)",
    forward="z = np.sign(x)",
    # a step: its derivative is 0 everywhere, taken as 0 at x = 0 too (as torch's)
    vjps=["dx = np.zeros_like(dz)"],
    method=True,
    numpy="sign",
    doc="−1, 0 or 1 by the sign of x, elementwise; its gradient is 0 everywhere (at 0 too)",
)


def _check_astype(x: Any, dtype: Any) -> dict[str, Any]:
    dtype = np.dtype(dtype)
    if dtype.kind != "f" or dtype.itemsize not in (4, 8):
        raise InputError(
            f"astype: the op casts between float32 and float64 (the gradient is cast back), "
            f"got {dtype}; Tensor.astype gives integers as a constant cut from the graph."
        )
    return {"dtype": dtype}


Op(
    "astype(x, dtype)",
    forward="z = np.astype(x, dtype)",
    vjps=["dx = np.astype(dz, x.dtype)"],
    check=_check_astype,
    function=False,
    numpy="astype",
    doc="x cast to another float dtype; the gradient is cast back",
)


# ----------------------------------------------------------------------------------------
# Reductions: the gradient of each output is spread back over the elements it reduced.
# `kept_shape` is the output's shape with the reduced axes kept (as size 1), so that dz
# reshaped to it lines up with x.
# ----------------------------------------------------------------------------------------


@helper
def kept_shape(shape: tuple[int, ...], axis: tuple[int, ...] | None) -> tuple[int, ...]:
    """`shape` with the axes a reduction over `axis` removes kept as 1: (3, 4), (1,) → (3, 1)."""
    return tuple(1 if axis is None or i in axis else n for i, n in enumerate(shape))


@helper
def reduced_count(shape: tuple[int, ...], axis: tuple[int, ...] | None) -> int:
    """How many elements a reduction over `axis` combines into each output."""
    return math.prod(shape if axis is None else (shape[a] for a in axis))


def _check_axis(x: Any, axis: Any = None, keepdims: bool = False, **others: Any) -> dict:
    """A reduction's axis as a tuple of non-negative axes (or None: all of them). A 0-d
    input takes axis 0 or −1 as all of its axes (none), as torch's and numpy's scalars do."""
    if np.ndim(x) == 0 and axis in (0, -1, (0,), (-1,)):
        axis = None
    axis = None if axis is None else normalize_axis_tuple(axis, np.ndim(x))
    return {"axis": axis, "keepdims": bool(keepdims), **others}


Op(
    "sum(x, axis=None, keepdims=False)",
    forward="z = np.sum(x, axis=axis, keepdims=keepdims)",
    vjps=["dx = np.broadcast_to(np.reshape(dz, kept_shape(x.shape, axis)), x.shape)"],
    check=_check_axis,
    method=True,
    numpy="sum",
    doc="the sum over `axis` (all axes when None); dz is copied back along the summed axes",
)
Op(
    "mean(x, axis=None, keepdims=False)",
    forward="z = np.mean(x, axis=axis, keepdims=keepdims)",
    vjps=[
        """
        dx = np.broadcast_to(
            np.reshape(dz, kept_shape(x.shape, axis)) / reduced_count(x.shape, axis), x.shape
        )
        """
    ],
    check=_check_axis,
    method=True,
    numpy="mean",
    doc="the mean over `axis` (all axes when None); dz / n is copied back (n elements each)",
)
for _name in ("max", "min"):
    Op(
        f"{_name}(x, axis=None, keepdims=False)",
        forward=f"""
            z_kept = np.{_name}(x, axis=axis, keepdims=True)
            z = z_kept if keepdims else np.squeeze(z_kept, axis=axis)
        """,
        # the winners share dz evenly where several tie
        vjps=[
            """
            winners = x == z_kept
            ties = np.sum(winners, axis=axis, keepdims=True, dtype=dz.dtype)
            dx = winners * (np.reshape(dz, kept_shape(x.shape, axis)) / ties)
            """
        ],
        check=_check_axis,
        method=True,
        numpy=_name,
        doc=f"the {_name}imum over `axis`; dz goes to it, split evenly among ties",
    )


def _check_deviation(
    name: str, x: Any, axis: Any = None, ddof: Any = 0, keepdims: bool = False
) -> dict:
    params = _check_axis(x, axis, keepdims)
    n = reduced_count(np.shape(x), params["axis"])
    if isinstance(ddof, bool) or not isinstance(ddof, (int, np.integer)) or ddof < 0:
        raise InputError(f"{name}: ddof must be a whole number ≥ 0, got {ddof!r}.")
    if ddof >= n:
        over = "all axes" if axis is None else f"axis {axis}"
        raise InputError(
            f"{name}: ddof={ddof} needs more than {ddof} element{'s' * (ddof != 1)} per "
            f"output, but reducing shape {np.shape(x)} over {over} gives n = {n}; the "
            "divisor n − ddof must be above 0."
        )
    return {**params, "ddof": int(ddof)}


Op(
    "var(x, axis=None, *, ddof=0, keepdims=False)",
    floats=True,
    forward="""
        d = x - np.mean(x, axis=axis, keepdims=True)
        z = np.sum(d * d, axis=axis, keepdims=keepdims) / (reduced_count(x.shape, axis) - ddof)
    """,
    vjps=[
        """
        dx = (
            np.reshape(dz, kept_shape(x.shape, axis))
            * d
            * (2 / (reduced_count(x.shape, axis) - ddof))
        )
        """
    ],
    check=lambda *args, **params: _check_deviation("var", *args, **params),
    method=True,
    doc="the variance Σ (x − mean)² / (n − ddof) over `axis`; batch norm uses ddof=0",
)
Op(
    "std(x, axis=None, *, ddof=0, keepdims=False)",
    floats=True,
    forward="""
        d = x - np.mean(x, axis=axis, keepdims=True)
        z = np.sqrt(
            np.sum(d * d, axis=axis, keepdims=keepdims) / (reduced_count(x.shape, axis) - ddof)
        )
    """,
    # where z = 0 (every x equal) std has no derivative, like |x| at 0: taken as 0
    vjps=[
        """
        divisor = np.reshape(z, kept_shape(x.shape, axis)) * (reduced_count(x.shape, axis) - ddof)
        dx = d * np.where(
            divisor == 0,
            0,
            np.reshape(dz, kept_shape(x.shape, axis)) / np.where(divisor == 0, 1, divisor),
        )
        """
    ],
    check=lambda *args, **params: _check_deviation("std", *args, **params),
    method=True,
    doc="the standard deviation √var over `axis`; the gradient is 0 where it is 0",
)


def _check_norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> dict:
    if ord not in (None, 2, "fro") or isinstance(ord, bool):
        raise InputError(
            f"norm: ord (torch's p) = {ord!r}: only the 2-norm is an op here (ord=None, 2 or "
            "'fro'); write the others from ops: x.abs().sum(axis) for ord=1, "
            "x.abs().max(axis=axis) for ord=inf."
        )
    return _check_axis(x, axis, keepdims, ord=ord)


Op(
    "norm(x, ord=None, axis=None, keepdims=False)",
    floats=True,
    forward="z = np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))",
    # where z = 0 (x all zero) the norm has no derivative, like |x| at 0: taken as 0, as in
    # PyTorch
    vjps=[
        """
        kept = np.reshape(z, kept_shape(x.shape, axis))
        dx = x * np.where(
            kept == 0, 0, np.reshape(dz, kept_shape(x.shape, axis)) / np.where(kept == 0, 1, kept)
        )
        """
    ],
    check=_check_norm,
    method=True,
    doc="the Euclidean norm √Σx² of the entries over `axis` (all when None; a matrix's "
    "Frobenius norm, as torch's x.norm()); dx = dz x / z, 0 where z = 0",
)
Op(
    "logsumexp(x, axis=None, keepdims=False)",
    floats=True,
    # shifted by the maximum, so e^(x − top) ≤ 1 never overflows; not by ±inf (−inf − −inf
    # would be nan): over values that are all −inf it gives −inf with gradient 0
    forward="""
        top = np.max(x, axis=axis, keepdims=True)
        shift = np.where(np.isfinite(top), top, 0)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            e = np.exp(x - shift)
            total = np.sum(e, axis=axis, keepdims=True)
            softmax = np.where(total > 0, e / total, 0)
            z_kept = np.log(total) + shift
            z = z_kept if keepdims else np.squeeze(z_kept, axis=axis)
    """,
    vjps=["dx = softmax * np.reshape(dz, kept_shape(x.shape, axis))"],
    check=_check_axis,
    method=True,
    doc="ln Σ e^x over `axis` (all axes when None), stable for any x; dx = dz ⊙ softmax(x)",
)
Op(
    "prod(x, axis=None, keepdims=False)",
    forward="z = np.prod(x, axis=axis, keepdims=keepdims)",
    # ∂z/∂x_i is the product of the others. The zeros are left out of the product, never
    # divided by: where none of the others is 0 it is the product of the non-zero values
    # over x_i (x_i's own 0 left out); where one other x_k is 0 it is that 0 times the
    # rest, written as x_k so that its own derivative (z's second) is right; with two, 0
    vjps=[
        """
        zeros = x == 0
        nonzero = np.where(zeros, 1, x)
        others = np.prod(nonzero, axis=axis, keepdims=True) / nonzero
        at_zeros = np.where(zeros, x, 0)
        rest = np.sum(zeros, axis=axis, keepdims=True) - zeros
        other_zero = np.sum(at_zeros, axis=axis, keepdims=True) - at_zeros
        dx = np.reshape(dz, kept_shape(x.shape, axis)) * np.where(
            rest == 0, others, np.where(rest == 1, other_zero * others, 0)
        )
        """
    ],
    check=_check_axis,
    method=True,
    numpy="prod",
    doc="the product over `axis` (all axes when None); dx = dz × the product of the others, "
    "exact where x holds zeros",
)


def _check_cumsum(x: Any, axis: Any = None) -> dict[str, Any]:
    if axis is None:
        return {"axis": None}
    if isinstance(axis, (tuple, list)):
        raise InputError(f"cumsum: axis must be one axis (an integer) or None, got {axis!r}.")
    (axis,) = normalize_axis_tuple(axis, np.ndim(x))
    return {"axis": axis}


Op(
    "cumsum(x, axis=None)",
    forward="z = np.cumsum(x, axis=axis)",
    # z_j = Σ_{i ≤ j} x_i, so dx_i = Σ_{j ≥ i} dz_j: a cumulative sum run backwards
    vjps=[
        """
        dx = (
            np.flip(np.cumsum(np.flip(dz, axis=axis), axis=axis), axis=axis) if axis is not None
            else np.reshape(np.flip(np.cumsum(np.flip(dz))), x.shape)
        )
        """
    ],
    check=_check_cumsum,
    method=True,
    numpy="cumsum",
    doc="the running sum along `axis` (of the values flattened when None, as numpy's); "
    "dx is dz's running sum from the end",
)


# ----------------------------------------------------------------------------------------
# Shapes: the gradient takes the inverse path.
# ----------------------------------------------------------------------------------------

Op(
    "reshape(x, shape)",
    forward="z = np.reshape(x, shape)",
    vjps=["dx = np.reshape(dz, x.shape)"],
    numpy="reshape",
)


def _check_squeeze(x: Any, axis: Any = None) -> dict[str, Any]:
    axes = None if axis is None else normalize_axis_tuple(axis, np.ndim(x))
    for a in axes or ():
        if np.shape(x)[a] != 1:
            raise ShapeError(
                f"squeeze: axis {a} of shape {np.shape(x)} has size {np.shape(x)[a]}; only "
                "axes of size 1 can be squeezed."
            )
    return {"axis": axes}


Op(
    "squeeze(x, axis=None)",
    forward="z = np.squeeze(x, axis=axis)",
    vjps=["dx = np.reshape(dz, x.shape)"],
    check=_check_squeeze,
    method=True,
    numpy="squeeze",
    doc="x without its axes of size 1 (all of them when `axis` is None)",
)


def _check_expand_dims(x: Any, axis: Any) -> dict[str, Any]:
    ndim = np.ndim(x) + (len(axis) if isinstance(axis, (tuple, list)) else 1)
    for a in axis if isinstance(axis, (tuple, list)) else (axis,):
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not -ndim <= a < ndim:
            raise ShapeError(
                f"expand_dims: axis {a!r} is out of bounds: shape {np.shape(x)} with the new "
                f"axes has {ndim} axes, so axis must be an integer in [{-ndim}, {ndim - 1}]."
            )
    return {"axis": tuple(axis) if isinstance(axis, (tuple, list)) else int(axis)}


Op(
    "expand_dims(x, axis)",
    forward="z = np.expand_dims(x, axis)",
    vjps=["dx = np.reshape(dz, x.shape)"],
    check=_check_expand_dims,
    method=True,
    numpy="expand_dims",
    doc="x with axes of size 1 inserted at `axis` (torch's unsqueeze)",
)


@helper
def inverse(axes: tuple[int, ...]) -> tuple[int, ...]:
    """The permutation that undoes `axes`: (1, 2, 0) → (2, 0, 1)."""
    return tuple(int(i) for i in np.argsort(axes))


def _check_transpose(x: Any, axes: Any = None) -> dict[str, Any]:
    ndim = np.ndim(x)
    if axes is None:
        return {"axes": tuple(reversed(range(ndim)))}
    if len(axes) != ndim:
        raise ShapeError(
            f"transpose: axes {tuple(axes)} are not a permutation of the {ndim} axes of "
            f"shape {np.shape(x)}; permute (numpy's transpose) takes a full permutation, each "
            "axis once. To swap two axes write transpose(0, 1), as torch's, or swapaxes(0, 1)."
        )
    return {"axes": normalize_axis_tuple(axes, ndim)}


Op(
    "transpose(x, axes=None)",
    forward="z = x.T if axes == (1, 0) else np.permute_dims(x, axes)",
    vjps=["dx = dz.T if axes == (1, 0) else np.permute_dims(dz, inverse(axes))"],
    check=_check_transpose,
    numpy="permute_dims",
    doc="the axes permuted (reversed when none are given: x.T)",
)


@helper
def is_basic(index: Any) -> bool:
    """Whether `index` is basic indexing (ints, slices, None, ...): each element once."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (slice, int, np.integer)) for p in parts)


Op(
    "getitem(x, index)",
    forward="z = x[index]",
    vjps=["dx = ops.scatter(dz, index=index, shape=x.shape)"],
    doc="x[index]: basic and advanced indexing, as numpy's",
    **OPERATOR,
)
Op(
    "scatter(x, index, shape)",
    # advanced indexing may pick an element several times: those add up (np.add.at)
    forward="""
        z = np.zeros(shape, dtype=x.dtype)
        if is_basic(index):
            z[index] = x
        else:
            np.add.at(z, index, x)
    """,
    vjps=["dx = dz[index]"],
    function=False,
    doc="zeros of `shape` with x added at `index`: the gradient of x[index]",
)
Op(
    "broadcast_to(x, shape)",
    forward="z = np.broadcast_to(x, shape)",
    vjps=["dx = dz"],
    broadcasts="x",
    method=True,
    numpy="broadcast_to",
    doc="x stretched to `shape`, as numpy broadcasts it (torch's expand)",
)


def _check_axes(name: str) -> Any:
    """The check of an op whose `axis` is None (all axes), one axis or several."""

    def check(x: Any, *args: Any, axis: Any = None, **params: Any) -> dict[str, Any]:
        axis = None if axis is None else normalize_axis_tuple(axis, np.ndim(x))
        return {**params, "axis": axis}

    check.__name__ = f"_check_{name}"
    return check


Op(
    "flip(x, axis=None)",
    forward="z = np.flip(x, axis=axis)",
    vjps=["dx = np.flip(dz, axis=axis)"],
    check=_check_axes("flip"),
    method=True,
    numpy="flip",
    doc="the order of the elements reversed along `axis` (all axes when None); dx is dz "
    "flipped back",
)


@helper
def negated(shift: int | tuple[int, ...]) -> int | tuple[int, ...]:
    """The shift that undoes `shift`: 2 → −2, (1, −3) → (−1, 3)."""
    return tuple(-s for s in shift) if isinstance(shift, tuple) else -shift


def _check_roll(x: Any, shift: Any, axis: Any = None) -> dict[str, Any]:
    shifts = shift if isinstance(shift, (tuple, list)) else (shift,)
    for s in shifts:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise InputError(f"roll: shift must be an integer or integers, got {shift!r}.")
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    if axis is not None and len(axes) != len(shifts):
        raise InputError(
            f"roll: give one shift per axis: shift {shift!r} and axis {axis!r} differ in length."
        )
    if axis is None and len(shifts) != 1:
        raise InputError(
            f"roll: several shifts {shift!r} need as many axes; without axis the flattened "
            "values roll by one shift."
        )
    shift = tuple(int(s) for s in shifts) if isinstance(shift, (tuple, list)) else int(shift)
    if axis is not None:
        normalized = tuple(normalize_axis_tuple(a, np.ndim(x))[0] for a in axes)
        axis = normalized if isinstance(axis, (tuple, list)) else normalized[0]
    return {"shift": shift, "axis": axis}


Op(
    "roll(x, shift, axis=None)",
    forward="z = np.roll(x, shift, axis=axis)",
    vjps=["dx = np.roll(dz, negated(shift), axis=axis)"],
    check=_check_roll,
    method=True,
    numpy="roll",
    doc="the elements shifted along `axis`, those pushed off the end coming back at the start "
    "(the flattened values when None); dx is dz rolled back",
)


@helper
def tiles(shape: tuple[int, ...], reps: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of np.tile(x, reps) with each axis split into (copies, size): x (3, 4)
    tiled by (2, 5) is (2·3, 5·4), split (2, 3, 5, 4)."""
    n = max(len(shape), len(reps))
    shape, reps = (1,) * (n - len(shape)) + shape, (1,) * (n - len(reps)) + reps
    return tuple(k for r, s in zip(reps, shape, strict=True) for k in (r, s))


@helper
def copies_axes(shape: tuple[int, ...], reps: tuple[int, ...]) -> tuple[int, ...]:
    """The axes of `tiles(shape, reps)` that count the copies: (0, 2, ...)."""
    return tuple(range(0, 2 * max(len(shape), len(reps)), 2))


def _check_tile(x: Any, reps: Any) -> dict[str, Any]:
    reps = tuple(reps) if isinstance(reps, (tuple, list)) else (reps,)
    for r in reps:
        if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 0:
            raise InputError(f"tile: reps must be whole numbers ≥ 0, got {reps!r}.")
    return {"reps": tuple(int(r) for r in reps)}


Op(
    "tile(x, reps)",
    forward="z = np.tile(x, reps)",
    # each copy got dz's part of it: dz cut into the copies, the copies summed
    vjps=[
        """
        dx = np.reshape(
            np.sum(np.reshape(dz, tiles(x.shape, reps)), axis=copies_axes(x.shape, reps)),
            x.shape,
        )
        """
    ],
    check=_check_tile,
    method=True,
    numpy="tile",
    doc="x repeated `reps` times along each axis (torch's repeat); dx sums dz over the copies",
)


def _check_matrices(name: str, least: int = 2, most: int | None = None) -> Any:
    """The check of an op on matrices (or batches of them) with an integer diagonal `k`."""

    def check(x: Any, k: Any = 0) -> dict[str, Any]:
        ndim = np.ndim(x)
        if ndim < least or (most is not None and ndim > most):
            wanted = {(1, 2): "1-D or 2-D", (2, 2): "2-D (a matrix)"}.get(
                (least, most), f"at least {least}-D"
            )
            raise ShapeError(f"{name}: needs a {wanted} input, got shape {np.shape(x)}.")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise InputError(f"{name}: the diagonal k must be an integer, got {k!r}.")
        return {"k": int(k)}

    return check


Op(
    "triu(x, k=0)",
    forward="z = np.triu(x, k)",
    vjps=["dx = np.triu(dz, k)"],
    check=_check_matrices("triu"),
    method=True,
    numpy="triu",
    doc="the upper triangle: x on and above diagonal k of its last two axes, 0 below; dx is "
    "dz's upper triangle",
)
Op(
    "tril(x, k=0)",
    forward="z = np.tril(x, k)",
    vjps=["dx = np.tril(dz, k)"],
    check=_check_matrices("tril"),
    method=True,
    numpy="tril",
    doc="the lower triangle: x on and below diagonal k of its last two axes, 0 above; dx is "
    "dz's lower triangle",
)


@helper
def diagonal_slice(shape: tuple[int, int], k: int) -> slice:
    """Where diagonal k of a matrix of `shape` lies in its values flattened (row by row):
    every (columns + 1)-th value, from (0, k) or (−k, 0)."""
    m, n = shape
    start = k if k >= 0 else -k * n
    length = max(0, min(m, n - k) if k >= 0 else min(m + k, n))
    return slice(start, start + (length - 1) * (n + 1) + 1 if length else start, n + 1)


Op(
    "diag(x, k=0)",
    forward="z = np.diag(x, k)",
    # diag takes a matrix's diagonal, and makes a matrix from a vector: each undoes the other
    # (on a matrix that is not square, dz goes back to the diagonal's place in the values)
    vjps=[
        """
        dx = (
            np.diag(dz, k) if x.ndim == 1 or x.shape[0] == x.shape[-1] >= abs(k)
            else np.reshape(
                ops.scatter(dz, index=diagonal_slice(x.shape, k), shape=(x.size,)), x.shape
            )
        )
        """
    ],
    check=_check_matrices("diag", 1, 2),
    method=True,
    numpy="diag",
    doc="a matrix's diagonal k as a vector, or a vector as diagonal k of a square matrix "
    "(numpy's and torch's diag)",
)


def _check_trace(x: Any, offset: Any = 0) -> dict[str, Any]:
    if np.ndim(x) != 2:
        raise ShapeError(
            f"trace: needs a 2-D input (a matrix), got shape {np.shape(x)}; for a batch of "
            "matrices use einsum('...ii->...', x)."
        )
    return {"offset": _check_matrices("trace")(x, offset)["k"]}


Op(
    "trace(x, offset=0)",
    forward="z = np.trace(x, offset)",
    vjps=["dx = dz * np.eye(x.shape[0], x.shape[1], k=offset, dtype=bool)"],
    check=_check_trace,
    method=True,
    numpy="trace",
    doc="the sum of a matrix's diagonal `offset`; dx is dz on that diagonal, 0 elsewhere",
)


# ----------------------------------------------------------------------------------------
# einsum of two operands: each operand's gradient is an einsum of dz and the other operand,
# with the subscripts rearranged (`ij,jk->ik` gives `ik,jk->ij` for the first operand).
# `ag.einsum` brings the other forms to this one (see functional.py).
# ----------------------------------------------------------------------------------------


@helper
def einsum_gradient(subscripts: str, i: int) -> str:
    """The subscripts of operand i's gradient: `ij,jk->ik` gives `ik,jk->ij` (i = 0) and
    `ij,ik->jk` (i = 1): dz and the other operand in, the operand's own labels out."""
    inputs, out = subscripts.split("->")
    x, y = inputs.split(",")
    return f"{out},{y}->{x}" if i == 0 else f"{x},{out}->{y}"


def _check_einsum(x: Any, y: Any, subscripts: Any) -> dict[str, Any]:
    """The op's subscripts: explicit (`->`), two operands, no label twice in one operand,
    each label in two of the three places (ag.einsum brings the other forms to this one)."""
    if not isinstance(subscripts, str) or subscripts.count("->") != 1:
        raise InputError(f"einsum: subscripts must be a string with '->', got {subscripts!r}.")
    inputs, out = subscripts.replace(" ", "").split("->")
    parts = inputs.split(",")
    letters = all(not part or part.isalpha() for part in [*parts, out])
    if len(parts) != 2 or not letters:
        raise InputError(
            f"einsum: the op takes two operands labelled by letters, got {subscripts!r}; "
            "ag.einsum takes any form."
        )
    for labels, shape in zip(parts, (np.shape(x), np.shape(y)), strict=True):
        if len(labels) != len(shape):
            raise ShapeError(
                f"einsum: {labels!r} labels {len(labels)} axes, but the operand has shape {shape}."
            )
    sizes: dict[str, int] = {}
    for labels, shape in zip(parts, (np.shape(x), np.shape(y)), strict=True):
        for label, n in zip(labels, shape, strict=True):
            if sizes.setdefault(label, n) != n:
                raise ShapeError(
                    f"einsum: label {label!r} stands for axes of sizes {sizes[label]} and {n} "
                    f"in {subscripts!r}; they must be equal."
                )
    for labels in (*parts, out):
        if len(set(labels)) != len(labels):
            raise InputError(f"einsum: a label repeats in {labels!r}; ag.einsum takes that form.")
    x_labels, y_labels = parts
    if (
        set(out) - set(inputs)
        or set(x_labels) - set(y_labels + out)
        or (set(y_labels) - set(x_labels + out))
    ):
        raise InputError(
            f"einsum: each label of {subscripts!r} must appear in an operand, and each "
            "operand's in the other operand or the output; ag.einsum takes the other forms."
        )
    return {"subscripts": f"{x_labels},{y_labels}->{out}"}


Op(
    "einsum(x, y, subscripts)",
    forward="z = np.einsum(subscripts, x, y)",
    vjps=[
        "dx = np.einsum(einsum_gradient(subscripts, 0), dz, y)",
        "dy = np.einsum(einsum_gradient(subscripts, 1), x, dz)",
    ],
    check=_check_einsum,
    function=False,
    numpy="einsum",
    doc="Einstein summation of two operands (`ij,jk->ik` is x @ y): the products of the "
    "elements whose labels match, summed over the labels the output lacks",
)


# ----------------------------------------------------------------------------------------
# Joining: each input's gradient is its own slice of dz, from the parts the forward saves.
# ----------------------------------------------------------------------------------------


@helper
def joined_parts(axis: int, sizes: list[int]) -> list[tuple]:
    """The index of each input's part of the joined result: a slice of `axis` per size, or
    the input's position along a new axis (`sizes` None for each: stack)."""
    if all(size is None for size in sizes):
        return [(slice(None),) * axis + (i,) for i in range(len(sizes))]
    stops = np.cumsum(sizes).tolist()
    return [(slice(None),) * axis + (slice(a - n, a),) for a, n in zip(stops, sizes, strict=True)]


def _join_axis(name: str, axis: Any, ndim: int, shape: tuple[int, ...]) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise InputError(f"{name}: axis must be an integer, got {axis!r}.")
    if not -ndim <= axis < ndim:
        raise ShapeError(
            f"{name}: axis {axis} is out of bounds: the result of inputs of shape {shape} "
            f"has {ndim} axes, so axis must be in [{-ndim}, {ndim - 1}]."
        )
    return int(axis) % ndim


def _check_concatenate(*xs: Any, axis: Any = 0) -> dict[str, Any]:
    if not xs:
        raise InputError("concatenate: needs at least one tensor, got an empty sequence.")
    first = np.shape(xs[0])
    if not first:
        raise ShapeError(
            "concatenate: tensors[0] is 0-d (shape ()), which has no axis to join along; "
            "use stack to make a vector of numbers."
        )
    axis = _join_axis("concatenate", axis, len(first), first)
    for i, x in enumerate(xs):
        shape = np.shape(x)
        if len(shape) != len(first) or shape[:axis] + shape[axis + 1 :] != (
            first[:axis] + first[axis + 1 :]
        ):
            raise ShapeError(
                f"concatenate: tensors[{i}] has shape {shape} and tensors[0] has shape "
                f"{first}; joined along axis {axis}, they must have the same number of axes "
                "and agree on every other axis."
            )
    return {"axis": axis}


def _check_stack(*xs: Any, axis: Any = 0) -> dict[str, Any]:
    if not xs:
        raise InputError("stack: needs at least one tensor, got an empty sequence.")
    first = np.shape(xs[0])
    axis = _join_axis("stack", axis, len(first) + 1, first)
    for i, x in enumerate(xs):
        if np.shape(x) != first:
            raise ShapeError(
                f"stack: tensors[{i}] has shape {np.shape(x)} and tensors[0] has shape "
                f"{first}; stacked tensors must all have the same shape."
            )
    return {"axis": axis}


Op(
    "concatenate(*xs, axis=0)",
    forward="""
        parts = joined_parts(axis, [x.shape[axis] for x in xs])
        z = np.concat(xs, axis=axis)
    """,
    vjps=["dxs[i] = dz[parts[i]]"],
    check=_check_concatenate,
    numpy="concat",
    doc="the tensors joined along an existing axis (torch's cat)",
)
Op(
    "stack(*xs, axis=0)",
    forward="""
        parts = joined_parts(axis, [None for x in xs])
        z = np.stack(xs, axis=axis)
    """,
    vjps=["dxs[i] = dz[parts[i]]"],
    check=_check_stack,
    numpy="stack",
    doc="the tensors, all of one shape, joined along a new axis",
)


# ----------------------------------------------------------------------------------------
# Softmax and log-softmax, from x − max(x) so that e^x never overflows.
# ----------------------------------------------------------------------------------------

Op(
    "softmax(x, axis=-1)",
    floats=True,
    forward="""
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))
        z = e / np.sum(e, axis=axis, keepdims=True)
    """,
    vjps=[
        """
        dz_z = dz * z
        dx = dz_z - z * np.sum(dz_z, axis=axis, keepdims=True)
        """
    ],
    method=True,
    doc="e^x / Σ e^x along `axis`, stable for any x",
)
Op(
    "log_softmax(x, axis=-1)",
    floats=True,
    forward="""
        shifted = x - np.max(x, axis=axis, keepdims=True)
        e = np.exp(shifted)
        total = np.sum(e, axis=axis, keepdims=True)
        softmax = e / total
        z = shifted - np.log(total)
    """,
    vjps=["dx = dz - softmax * np.sum(dz, axis=axis, keepdims=True)"],
    method=True,
    doc="x − ln Σ e^x along `axis`, stable for any x",
)


# ----------------------------------------------------------------------------------------
# Dropout: the mask of kept elements is drawn by `ag.dropout` (from an explicit generator)
# and is a constant of the op, so the same mask scales the gradient.
# ----------------------------------------------------------------------------------------


def _check_dropout(x: Any, mask: Any, p: Any) -> dict[str, Any]:
    p = _number("dropout", "p", p)
    if not 0 <= p < 1:
        raise InputError(
            f"dropout: the op takes p in [0, 1), got {p}; ag.dropout(x, p=1) gives zeros."
        )
    mask = np.asarray(mask)
    if mask.dtype != np.bool_ or mask.shape != np.shape(x):
        raise InputError(
            f"dropout: mask must be booleans of the input's shape {np.shape(x)} (True where an "
            f"element is kept), got dtype {mask.dtype} of shape {mask.shape}."
        )
    return {"mask": mask, "p": p}


Op(
    "dropout(x, mask, p)",
    forward="z = x * mask / (1 - p)",
    vjps=["dx = dz * mask / (1 - p)"],
    check=_check_dropout,
    function=False,
    random=True,
    doc="x where the mask keeps it, scaled by 1/(1 − p), 0 elsewhere (inverted dropout)",
)
