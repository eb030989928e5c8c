"""One table drives the gradient tests of every op (in the spirit of PyTorch's OpInfo).

Each `Case` names the primitive it exercises, a function of Tensors, the shapes of its
inputs and the domain to draw them from. Every case is gradchecked in float64 and run in
float32 against float64. A test fails when a primitive of `ag.OPS` has no case.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes, valid_tuple_axes

import autograd_mini as ag
from autograd_mini import Tensor, gradcheck
from autograd_mini.broadcasting import matmul_shape
from autograd_mini.formulas import SCOPE
from autograd_mini.replay import gradients_in
from autograd_mini.specialize import rule


@dataclass(frozen=True)
class Case:
    op: str  # the primitive in ag.OPS this case exercises
    fn: Callable[..., Tensor]
    shapes: tuple[tuple[int, ...], ...]
    domain: str = "real"  # real | positive | nonzero | probability | unit | above_one | zeros
    label: str = ""
    mixes_float64: bool = False  # a float64 constant inside promotes float32 results (numpy's rule)

    @property
    def id(self) -> str:
        return self.label or f"{self.op}{list(self.shapes)}"


def draw(shape, domain, rng, dtype=np.float64):
    x = rng.standard_normal(shape)
    if domain == "positive":
        x = np.abs(x) + 0.5
    elif domain == "nonzero":  # away from 0, for relu's kink and division
        x = np.sign(x + 1e-12) * (np.abs(x) + 0.5)
    elif domain == "probability":
        x = rng.uniform(0.1, 0.9, shape)
    elif domain == "unit":  # inside (−1, 1), away from its ends: arcsin, arctanh, tan
        x = rng.uniform(-0.9, 0.9, shape)
    elif domain == "above_one":  # arccosh
        x = np.abs(x) + 1.2
    elif domain == "zeros":  # exact zeros at fixed places: rows with two, one and none
        x = np.array(x)
        x.flat[[i for i in (0, 1, 5, 12, 13, 17) if i < x.size]] = 0
    return np.asarray(x, dtype=dtype)


# Broadcasting patterns of a binary op: every pair from these, plus 3-D ones.
PATTERNS_2D = [(), (1,), (4,), (1, 4), (3, 1), (3, 4)]
PATTERNS_3D = [
    ((2, 3, 4), (3, 4)),
    ((2, 1, 4), (3, 1)),
    ((2, 3, 1), (1, 1, 4)),
    ((1, 3, 4), (2, 1, 1)),
]
BROADCAST_PAIRS = [(a, b) for a in PATTERNS_2D for b in PATTERNS_2D] + PATTERNS_3D
BROADCAST_PAIRS += [(b, a) for a, b in PATTERNS_3D]


def checkerboard(shape):
    """A fixed boolean condition for where: True, False, True, ... in row-major order."""
    return np.arange(math.prod(shape)).reshape(shape) % 2 == 0


BINARY = {
    "add": (lambda x, y: x + y, "real"),
    "sub": (lambda x, y: x - y, "real"),
    "mul": (lambda x, y: x * y, "real"),
    "div": (lambda x, y: x / y, "nonzero"),
    "power": (lambda x, y: x**y, "positive"),  # a tensor exponent needs a positive base
    "maximum": (ag.maximum, "real"),  # independent draws never tie
    "minimum": (ag.minimum, "real"),
    "where": (
        lambda x, y: ag.where(checkerboard(np.broadcast_shapes(x.shape, y.shape)), x, y),
        "real",
    ),
}
UNARY = {  # the elementwise functions, each away from its kink
    "abs": (lambda x: x.abs(), "nonzero"),
    "clip": (lambda x: x.clip(-0.25, 0.25), "nonzero"),
    "log1p": (lambda x: x.log1p(), "positive"),
    "expm1": (lambda x: x.expm1(), "real"),
    "leaky_relu": (lambda x: x.leaky_relu(0.1), "nonzero"),
    "softplus": (lambda x: x.softplus(), "real"),
    "exp": (lambda x: x.exp(), "real"),
    "log": (lambda x: x.log(), "positive"),
    "sigmoid": (lambda x: x.sigmoid(), "real"),
    "tanh": (lambda x: x.tanh(), "real"),
    "relu": (lambda x: x.relu(), "nonzero"),
    "silu": (lambda x: x.silu(), "real"),
    "gelu": (lambda x: x.gelu(), "real"),
    "erf": (lambda x: x.erf(), "real"),
    "sin": (lambda x: x.sin(), "real"),
    "cos": (lambda x: x.cos(), "real"),
    "tan": (lambda x: x.tan(), "unit"),
    "sinh": (lambda x: x.sinh(), "real"),
    "cosh": (lambda x: x.cosh(), "real"),
    "arcsin": (lambda x: x.arcsin(), "unit"),
    "arccos": (lambda x: x.arccos(), "unit"),
    "arctan": (lambda x: x.arctan(), "real"),
    "arcsinh": (lambda x: x.arcsinh(), "real"),
    "arccosh": (lambda x: x.arccosh(), "above_one"),
    "arctanh": (lambda x: x.arctanh(), "unit"),
    "log2": (lambda x: x.log2(), "positive"),
    "log10": (lambda x: x.log10(), "positive"),
    "exp2": (lambda x: x.exp2(), "real"),
    "deg2rad": (lambda x: x.deg2rad(), "real"),
    "rad2deg": (lambda x: x.rad2deg(), "real"),
    "sinc": (lambda x: x.sinc(), "nonzero"),
    "sign": (lambda x: x.sign() * x, "nonzero"),  # sign alone has gradient 0 everywhere
}
REDUCTIONS = ("sum", "mean", "max", "min", "var", "std", "norm", "logsumexp", "prod")

CASES: list[Case] = []
for name, (f, domain) in BINARY.items():
    CASES += [Case(name, f, pair, domain) for pair in BROADCAST_PAIRS]

CASES += [
    # A constant on either side: Python scalar, numpy array, list.
    Case("add", lambda x: 2.0 + x, ((3, 4),), label="add[scalar+t]"),
    Case("sub", lambda x: 1.0 - x, ((3, 4),), label="sub[scalar-t]"),
    Case(
        "sub", lambda x: np.ones((2, 3, 4)) - x, ((3, 4),), label="sub[array-t]", mixes_float64=True
    ),
    Case(
        "mul",
        lambda x: x * [1.0, 2.0, 3.0, 4.0],
        ((3, 4),),
        label="mul[t*list]",
        mixes_float64=True,
    ),
    Case("div", lambda x: 3.0 / x, ((3, 4),), "nonzero", label="div[scalar/t]"),
    Case(
        "div",
        lambda x: x / np.full((3, 1), 2.0),
        ((3, 4),),
        label="div[t/array]",
        mixes_float64=True,
    ),
    # pow with a scalar exponent
    Case("pow", lambda x: x**2, ((3, 4),), label="pow[2]"),
    Case("pow", lambda x: x**3, ((2, 3),), label="pow[3]"),
    Case("pow", lambda x: x**0.5, ((3, 4),), "positive", label="pow[0.5]"),
    Case("pow", lambda x: x**-1.5, ((3, 4),), "positive", label="pow[-1.5]"),
    Case("pow", lambda x: x**0, ((3, 4),), label="pow[0]"),
    Case("pow", lambda x: x.sqrt(), ((3,),), "positive", label="sqrt"),
    Case("pow", lambda x: x**2, ((),), label="pow[0-d]"),
    Case("pow", lambda x: x**-1.5, ((1,),), "positive", label="pow[(1,)]"),
    *[Case("neg", lambda x: -x, (shape,)) for shape in [(3, 4), (), (1,)]],
    # matmul: 1-D, 2-D, batched and broadcast batches
    *[
        Case("matmul", lambda x, y: x @ y, shapes)
        for shapes in [
            ((3, 4), (4, 5)),
            ((4,), (4, 5)),
            ((3, 4), (4,)),
            ((4,), (4,)),
            ((2, 3, 4), (4, 5)),
            ((3, 4), (2, 4, 5)),
            ((2, 3, 4), (2, 4, 5)),
            ((2, 1, 3, 4), (5, 4, 2)),
            ((4,), (2, 4, 3)),
            ((2, 3, 4), (4,)),
            ((1,), (1,)),
            ((1,), (1, 4)),
            ((3, 1), (1,)),
        ]
    ],
    Case(
        "matmul",
        lambda x: np.ones((2, 3)) @ x,
        ((3, 4),),
        label="matmul[array@t]",
        mixes_float64=True,
    ),
    # elementwise functions
    Case("exp", lambda x: x.exp(), ((3, 4),)),
    Case("log", lambda x: x.log(), ((3, 4),), "positive"),
    Case("sigmoid", lambda x: x.sigmoid(), ((3, 4),)),
    Case("sigmoid", lambda x: (x * 8).sigmoid(), ((2, 5),), label="sigmoid[wide]"),
    Case("tanh", lambda x: x.tanh(), ((3, 4),)),
    Case("relu", lambda x: x.relu(), ((3, 4),), "nonzero"),
    *[
        Case("astype", lambda x: x.astype(np.float64) * 2, (shape,), mixes_float64=True)
        for shape in [(3, 4), (), (1,)]
    ],
    *[Case(name, f, (s,), domain) for name, (f, domain) in UNARY.items() for s in [(), (1,)]],
    Case("abs", lambda x: abs(x), ((3, 4),), "nonzero", label="abs[builtin]"),
    Case("clip", lambda x: x.clip(-0.5, 0.5), ((3, 4),)),  # some inside, some outside
    Case("clip", lambda x: x.clip(None, 0.3), ((3, 4),), label="clip[open below]"),
    Case("clip", lambda x: x.clip(0, None), ((3, 4),), label="clip[open above]"),
    Case("log1p", lambda x: (x - 0.95).log1p(), ((3, 4),), "probability", label="log1p[-1<x<0]"),
    Case("expm1", lambda x: x.expm1(), ((3, 4),)),
    Case("leaky_relu", lambda x: x.leaky_relu(), ((3, 4),), "nonzero"),
    Case("softplus", lambda x: x.softplus(), ((3, 4),)),
    Case("softplus", lambda x: (x * 30).softplus(), ((2, 5),), label="softplus[wide]"),
    # a tensor exponent, and a number or an array as the base
    Case("power", lambda x: 2.0**x, ((3, 4),), label="power[number**t]"),
    Case(
        "power",
        lambda x: x ** np.array([0.5, 1.0, 2.0, -3.0]),
        ((3, 4),),
        "positive",
        label="power[t**array]",
        mixes_float64=True,
    ),
    Case(
        "power",
        lambda x: np.full((2, 1, 1), 3.0) ** x,
        ((3, 4),),
        label="power[array**t]",
        mixes_float64=True,
    ),
    # ties: each of the two gets dz/2, which adds up to dz for maximum(x, x)
    Case("maximum", lambda x: ag.maximum(x, x), ((3, 4),), label="maximum[ties]"),
    Case("minimum", lambda x: ag.minimum(x, x[:, :1]), ((3, 4),), label="minimum[ties]"),
    Case("maximum", lambda x: ag.maximum(x, 0.0), ((3, 4),), "nonzero", label="maximum[t, 0]"),
    Case("minimum", lambda x: ag.minimum(1.0, x), ((3, 4),), "nonzero", label="minimum[1, t]"),
    # where: a condition that stretches both operands, a number, a Tensor condition
    Case("where", lambda x: ag.where(checkerboard((2, 3, 4)), x, 0.0), ((3, 4),), label="where[c]"),
    Case(
        "where",
        lambda x, y: ag.where(Tensor(checkerboard((4,))), x, y),
        ((3, 4), (3, 1)),
        label="where[Tensor c]",
    ),
    # reductions over every kind of axis
    *[
        Case(op, lambda x, op=op, kw=kw: getattr(x, op)(**kw), (shape,), label=f"{op}{shape}{kw}")
        for op in REDUCTIONS
        for shape, kw in [
            ((3, 4), {}),
            ((3, 4), {"axis": 0}),
            ((3, 4), {"axis": -1, "keepdims": True}),
            ((2, 3, 4), {"axis": (0, 2)}),
            ((2, 3, 4), {"axis": (-1, 0), "keepdims": True}),
            ((2, 3, 4), {"axis": 1}),
            ((), {}),
            ((5,), {"axis": 0}),
            ((1,), {}),
            ((1,), {"axis": 0, "keepdims": True}),
        ]
    ],
    # ties: a column used twice ties with itself; its halves must add up to 1, not 2
    Case("max", lambda x: x[:, [0, 0, 1]].max(axis=1), ((2, 3),), label="max[ties]"),
    Case("min", lambda x: x[:, [0, 0, 1]].min(axis=1), ((2, 3),), label="min[ties]"),
    *[
        Case(op, lambda x, op=op, kw=kw: getattr(x, op)(**kw), (shape,), label=f"{op}{shape}{kw}")
        for op in ("var", "std")
        for shape, kw in [
            ((3, 4), {"ddof": 1}),
            ((3, 4), {"axis": 0, "ddof": 1}),
            ((2, 3, 4), {"axis": (0, 2), "ddof": 2, "keepdims": True}),
        ]
    ],
    Case("logsumexp", lambda x: (x * 100).logsumexp(axis=1), ((3, 4),), label="logsumexp[wide]"),
    # shape ops
    Case("reshape", lambda x: x.reshape(4, 3), ((3, 4),)),
    Case("reshape", lambda x: x.reshape((2, -1)), ((2, 3, 2),), label="reshape[-1]"),
    Case("reshape", lambda x: x.reshape(1, 1), ((),), label="reshape[0-d]"),
    Case("reshape", lambda x: x.reshape(()), ((1,),), label="reshape[(1,) to 0-d]"),
    Case("transpose", lambda x: x.T, ((3, 4),), label="T"),
    Case("transpose", lambda x: x.transpose(1, 2, 0), ((2, 3, 4),)),
    Case("transpose", lambda x: x.transpose((0, 2, 1)) @ x, ((2, 3, 3),), label="transpose@"),
    Case("transpose", lambda x: x.T * x, ((),), label="T[0-d]"),
    Case("transpose", lambda x: x.T * x, ((1,),), label="T[(1,)]"),
    Case("reshape", lambda x: x.flatten(), ((2, 3, 4),), label="flatten"),
    Case("reshape", lambda x: x.flatten(), ((),), label="flatten[0-d]"),
    Case("reshape", lambda x: x.flatten(), ((1,),), label="flatten[(1,)]"),
    Case("squeeze", lambda x: x.squeeze(), ((3, 1, 4, 1),)),
    Case("squeeze", lambda x: x.squeeze(1), ((3, 1, 4),), label="squeeze[axis 1]"),
    Case("squeeze", lambda x: x.squeeze(0), ((1,),), label="squeeze[(1,)]"),
    Case("squeeze", lambda x: x.squeeze(), ((),), label="squeeze[0-d]"),
    Case("expand_dims", lambda x: x.expand_dims(0), ((3, 4),)),
    Case("expand_dims", lambda x: x.expand_dims((0, -1)), ((3,),), label="expand_dims[0, -1]"),
    Case("expand_dims", lambda x: x.expand_dims(0), ((),), label="expand_dims[0-d]"),
    Case("expand_dims", lambda x: x.expand_dims(-1), ((1,),), label="expand_dims[(1,)]"),
    Case("transpose", lambda x: x.swapaxes(0, 2), ((2, 3, 4),), label="swapaxes"),
    Case("transpose", lambda x: x.swapaxes(-1, -2) @ x, ((3, 3),), label="swapaxes@"),
    Case("transpose", lambda x: x.swapaxes(0, -1) * x, ((1,),), label="swapaxes[(1,)]"),
    Case("transpose", lambda x: x.mT @ x, ((2, 3, 4),), label="mT@"),
    # broadcast_to: the engine sums the stretched gradient back
    Case("broadcast_to", lambda x: ag.broadcast_to(x, (2, 3, 4)), ((3, 1),)),
    Case("broadcast_to", lambda x: ag.broadcast_to(x, (2, 3)), ((),), label="broadcast_to[0-d]"),
    Case("broadcast_to", lambda x: ag.broadcast_to(x, (3, 2)), ((1,),), label="broadcast_to[(1,)]"),
    # scatter: the gradient of indexing, and indexing its gradient
    *[
        Case(
            "scatter",
            lambda x, index=index, shape=shape: ag.apply(
                ag.OPS["scatter"], x, index=index, shape=shape
            ),
            (np.zeros(shape)[index].shape,),
            label=f"scatter[{label}]",
        )
        for index, shape, label in [
            ((slice(None), slice(1, 3)), (3, 4), "slice"),
            (np.array([0, 2, 0]), (3, 4), "repeats"),
            ((), (), "0-d"),
            (np.array([0, 0]), (1,), "repeats into (1,)"),
            (np.array([2]), (3,), "(1,)"),
        ]
    ],
    # joining: each input gets its own slice of dz (one VJP per input, made per call)
    *[
        Case("concatenate", lambda *xs, axis=axis: ag.concatenate(xs, axis), shapes)
        for shapes, axis in [
            (((3, 4), (3, 2)), 1),
            (((2, 3), (4, 3), (1, 3)), 0),
            (((3,), (1,)), 0),
            (((2, 3, 4), (2, 3, 1)), -1),
            (((1,),), 0),
        ]
    ],
    Case(
        "concatenate",
        lambda x: ag.concatenate([x, x[:, :1], x], axis=1),
        ((3, 2),),
        label="concatenate[x twice]",
    ),
    Case(
        "concatenate",
        lambda x: ag.concatenate([np.zeros((1, 4)), x]),
        ((3, 4),),
        label="concatenate[array, t]",
        mixes_float64=True,
    ),
    *[
        Case("stack", lambda *xs, axis=axis: ag.stack(xs, axis), shapes)
        for shapes, axis in [
            (((3, 4), (3, 4)), 0),
            (((3, 4), (3, 4), (3, 4)), -1),
            (((2, 3), (2, 3)), 1),
            (((), ()), 0),
            (((1,), (1,)), 1),
        ]
    ],
    # indexing: basic, integer arrays with repeats, masks
    Case("getitem", lambda x: x[1], ((3, 4),), label="getitem[int]"),
    Case("getitem", lambda x: x[:, 1:3], ((3, 4),), label="getitem[slice]"),
    Case("getitem", lambda x: x[..., None, ::2], ((2, 3, 4),), label="getitem[ellipsis]"),
    Case("getitem", lambda x: x[[0, 2, 0, 0]], ((3, 4),), label="getitem[repeats]"),
    Case(
        "getitem",
        lambda x: x[np.array([1, 1]), np.array([3, 3])],
        ((3, 4),),
        label="getitem[pairs]",
    ),
    Case("getitem", lambda x: x[:, [2, 2, 0]], ((3, 4),), label="getitem[slice,repeats]"),
    Case(
        "getitem",
        lambda x: x[np.array([[True, False, True, False]] * 3)],
        ((3, 4),),
        label="getitem[mask]",
    ),
    Case("getitem", lambda x: x[Tensor(np.array([2, 0, 2]))], ((3, 4),), label="getitem[tensor]"),
    Case("getitem", lambda x: x[None, ...], ((),), label="getitem[0-d]"),
    Case("getitem", lambda x: x[[0, 0, -1]], ((1,),), label="getitem[(1,) repeats]"),
    # softmax family
    Case("softmax", lambda x: x.softmax(), ((3, 4),)),
    Case("softmax", lambda x: x.softmax(axis=0), ((3, 4),), label="softmax[axis0]"),
    Case("log_softmax", lambda x: x.log_softmax(), ((3, 4),)),
    Case("log_softmax", lambda x: x.log_softmax(axis=1), ((2, 3, 4),), label="log_softmax[3d]"),
    # one class: the softmax is 1 whatever the input, so every gradient is 0
    *[
        Case(op, lambda x, op=op: getattr(x, op)() * 3, (shape,), label=f"{op}{list((shape,))}")
        for op in ("softmax", "log_softmax")
        for shape in [(), (1,)]
    ],
    # losses, each reduction
    *[
        Case(
            op,
            lambda p, t, f=f, r=r: f(p, t, reduction=r),
            shapes,
            domain,
            label=f"{op}[{r}]{shapes}",
        )
        for op, f, domain in [
            ("mse_loss", ag.mse_loss, "real"),
            ("quadratic_cost", ag.quadratic_cost, "real"),
            ("binary_cross_entropy", ag.binary_cross_entropy, "probability"),
            (
                "binary_cross_entropy_with_logits",
                ag.binary_cross_entropy_with_logits,
                "probability",
            ),
            ("cross_entropy", ag.cross_entropy, "probability"),
        ]
        for r in ("mean", "sum", "none")
        for shapes in [((4, 3), (4, 3)), ((3,), (3,)), ((), ()), ((1,), (1,))]
        if not (op == "cross_entropy" and shapes[0] == ())  # see NO_0D_CASE
    ],
    *[
        Case(
            "cross_entropy",
            lambda z, r=r: ag.cross_entropy(z, np.array([0, 2, 2, 1]), reduction=r),
            ((4, 3),),
            label=f"cross_entropy[labels {r}]",
        )
        for r in ("mean", "sum", "none")
    ],
    Case(
        "cross_entropy",
        lambda z: ag.cross_entropy(z, [2, 0, 1, 1]),
        ((4, 3),),
        label="cross_entropy[list]",
    ),
    Case(
        "cross_entropy",
        lambda z: ag.cross_entropy(z, np.int64(1)),
        ((3,),),
        label="cross_entropy[1-D]",
    ),
    Case(
        "cross_entropy",
        lambda z: ag.cross_entropy(z, np.array([0])),
        ((1, 3),),
        label="cross_entropy[one example]",
    ),
    # N-d logits: the classes along axis 1, as in PyTorch; label smoothing
    *[
        Case(
            "cross_entropy",
            lambda z, r=r, s=s: ag.cross_entropy(
                z, np.array([[0, 2, 1, 1], [2, 2, 0, 1]]), reduction=r, label_smoothing=s
            ),
            ((2, 3, 4),),
            label=f"cross_entropy[N-d labels {r} smoothing {s}]",
        )
        for r in ("mean", "sum", "none")
        for s in (0.0, 0.1)
    ],
    *[
        Case(
            "cross_entropy",
            lambda z, y, s=s: ag.cross_entropy(z, y, label_smoothing=s),
            shapes,
            "probability",
            label=f"cross_entropy[soft {shapes} smoothing {s}]",
        )
        for s in (0.0, 0.2)
        for shapes in [((2, 3, 4), (2, 3, 4)), ((4, 3), (4, 3))]
    ],
    *[
        Case(
            "cross_entropy",
            lambda z, r=r: ag.cross_entropy(z, [2, 0, 1, 1], reduction=r, label_smoothing=0.3),
            ((4, 3),),
            label=f"cross_entropy[labels {r} smoothing 0.3]",
        )
        for r in ("mean", "sum", "none")
    ],
    Case(
        "cross_entropy",
        lambda z: ag.cross_entropy(z, np.int64(0), label_smoothing=0.5),
        ((1,),),
        label="cross_entropy[(1,) smoothing]",
    ),
    # nll_loss on log-probabilities, with the classes along axis 1
    *[
        Case(
            "nll_loss",
            lambda z, r=r, y=y: ag.nll_loss(z.log_softmax(axis=1 if z.ndim > 1 else 0), y, r),
            (shape,),
            label=f"nll_loss[{r}]{shape}",
        )
        for r in ("mean", "sum", "none")
        for shape, y in [
            ((4, 3), np.array([0, 2, 2, 1])),
            ((2, 3, 4), np.array([[0, 2, 1, 1], [2, 2, 0, 1]])),
            ((3,), np.int64(1)),
        ]
    ],
    Case("nll_loss", lambda z: ag.nll_loss(z, np.array([0])), ((1, 1),), label="nll_loss[raw]"),
    Case("nll_loss", lambda z: ag.nll_loss(z, np.int64(0)), ((1,),), label="nll_loss[(1,)]"),
    # binary cross-entropy with logits, weighing the positives
    *[
        Case(
            "binary_cross_entropy_with_logits",
            lambda x, y, r=r, w=w: ag.binary_cross_entropy_with_logits(
                x, y, reduction=r, pos_weight=w
            ),
            shapes,
            "probability",
            label=f"binary_cross_entropy_with_logits[{r} pos_weight {np.shape(w)}]{shapes}",
        )
        for r in ("mean", "sum", "none")
        for w in (3.0, np.array([0.5, 2.0, 4.0]))
        for shapes in [((4, 3), (4, 3)), ((3,), (3,))]
    ],
    *[
        Case(
            "binary_cross_entropy_with_logits",
            lambda x, y: ag.binary_cross_entropy_with_logits(x, y, pos_weight=2.0),
            (shape, shape),
            "probability",
            label=f"binary_cross_entropy_with_logits[pos_weight]{shape}",
        )
        for shape in [(), (1,)]
    ],
    # gelu in its tanh form
    *[
        Case("gelu", lambda x: x.gelu(approximate="tanh"), (s,), label=f"gelu[tanh]{s}")
        for s in [(3, 4), (), (1,)]
    ],
    Case("gelu", lambda x: (x * 4).gelu(), ((3, 4),), label="gelu[wide]"),
    Case("sinc", lambda x: (x * 3).sinc(), ((3, 4),), label="sinc[wide]"),
    # prod: rows with two zeros, one and none (the domain puts exact zeros in x)
    Case("prod", lambda x: x.prod(axis=1), ((3, 4),), "zeros", label="prod[zeros, axis 1]"),
    Case("prod", lambda x: x.prod(axis=0), ((3, 6),), "zeros", label="prod[zeros, axis 0]"),
    Case("prod", lambda x: x.prod(), ((1,),), "zeros", label="prod[(1,) zero]"),
    Case("prod", lambda x: x[:, 1:].prod(), ((3, 4),), "zeros", label="prod[one zero in all]"),
    # cumsum: along an axis, and of the values flattened
    *[
        Case("cumsum", lambda x, kw=kw: x.cumsum(**kw), (shape,), label=f"cumsum{shape}{kw}")
        for shape, kw in [
            ((3, 4), {}),
            ((3, 4), {"axis": 0}),
            ((3, 4), {"axis": -1}),
            ((2, 3, 4), {"axis": 1}),
            ((), {}),
            ((1,), {"axis": 0}),
        ]
    ],
    # flip, roll, tile
    *[
        Case("flip", lambda x, kw=kw: x.flip(**kw), (shape,), label=f"flip{shape}{kw}")
        for shape, kw in [
            ((3, 4), {}),
            ((3, 4), {"axis": 0}),
            ((2, 3, 4), {"axis": (0, 2)}),
            ((), {}),
            ((1,), {"axis": 0}),
        ]
    ],
    *[
        Case("roll", lambda x, kw=kw: x.roll(**kw), (shape,), label=f"roll{shape}{kw}")
        for shape, kw in [
            ((3, 4), {"shift": 1}),
            ((3, 4), {"shift": 5, "axis": 1}),
            ((3, 4), {"shift": (1, -2), "axis": (0, 1)}),
            ((2, 3, 4), {"shift": -1, "axis": 1}),
            ((), {"shift": 2}),
            ((1,), {"shift": 3, "axis": 0}),
        ]
    ],
    *[
        Case("tile", lambda x, reps=reps: x.tile(reps), (shape,), label=f"tile{shape}{reps}")
        for shape, reps in [
            ((3, 4), (2, 1)),
            ((3,), (2, 2)),
            ((2, 3), 2),
            ((2, 3), (1, 2, 3)),
            ((), (3,)),
            ((1,), 4),
        ]
    ],
    Case("tile", lambda x: x.repeat(2, 1, 3), ((2, 3),), label="tile[torch repeat]"),
    # triangles, diagonals, traces
    *[
        Case(op, lambda x, op=op, k=k: getattr(x, op)(k), (shape,), label=f"{op}{shape}[{k}]")
        for op in ("triu", "tril")
        for shape, k in [((3, 4), 0), ((4, 3), -1), ((2, 3, 3), 1)]
    ],
    *[
        Case(op, lambda x, op=op: getattr(x.reshape(1, 1), op)(), ((1,),), label=f"{op}[(1,)]")
        for op in ("triu", "tril", "trace")
    ],
    *[
        Case("diag", lambda x, k=k: x.diag(k), (shape,), label=f"diag{shape}[{k}]")
        for shape, k in [
            ((4,), 0),
            ((3,), -2),
            ((3, 3), 0),
            ((3, 3), 1),
            ((3, 4), 1),
            ((4, 3), -1),
            ((2, 5), -1),
            ((2, 2), 3),
            ((1,), 0),
        ]
    ],
    Case("trace", lambda x: x.trace(), ((3, 3),)),
    Case("trace", lambda x: x.trace(1), ((3, 4),), label="trace[offset 1]"),
    Case("trace", lambda x: x.trace(-2), ((4, 3),), label="trace[offset -2]"),
    # einsum: the forms matmul, outer, batch matmul and trace come down to, and the rest
    *[
        Case("einsum", lambda *xs, s=s: ag.einsum(s, *xs), shapes, label=f"einsum[{s}]")
        for s, shapes in [
            ("ij,jk->ik", ((3, 4), (4, 5))),
            ("i,j->ij", ((3,), (4,))),
            ("bij,bjk->bik", ((2, 3, 4), (2, 4, 5))),
            ("ij,ji->", ((3, 4), (4, 3))),
            ("ij,ij->ij", ((3, 4), (3, 4))),
            ("ij,j->i", ((3, 4), (4,))),
            ("ij,jk", ((3, 4), (4, 2))),
            ("...ij,...jk->...ik", ((1, 3, 4), (2, 4, 5))),
            ("...ij,jk->...ik", ((2, 3, 4), (4, 5))),
            ("ij,k->k", ((3, 4), (2,))),
            ("ii->i", ((3, 3),)),
            ("ii,i->", ((3, 3), (3,))),
            ("ij,jk,kl->il", ((2, 3), (3, 4), (4, 2))),
            ("iij,j->i", ((3, 3, 2), (2,))),
            (",->", ((), ())),
            ("i,->i", ((3,), ())),
            ("i,i->", ((1,), (1,))),
        ]
    ],
    *[
        Case("einsum", lambda x, y, axes=axes: ag.tensordot(x, y, axes), shapes, label=f"td{axes}")
        for shapes, axes in [
            (((3, 4), (4, 5)), 1),
            (((2, 3, 4), (3, 4, 5)), 2),
            (((2, 3), (3, 2)), ([1, 0], [0, 1])),
            (((2,), (3,)), 0),
        ]
    ],
    Case(
        "einsum",
        lambda x: ag.einsum("ij,jk->ik", x, np.ones((4, 2))),
        ((3, 4),),
        label="einsum[t, array]",
        mixes_float64=True,
    ),
    # dropout with a fixed mask (a seed draws the same mask at every call)
    *[
        Case(
            "dropout", lambda x, p=p: ag.dropout(x, p, rng=7), (shape,), label=f"dropout{p}{shape}"
        )
        for p, shape in [(0.5, (3, 4)), (0.2, (2, 3, 4)), (0.3, ()), (0.3, (1,))]
    ],
    Case(
        "dropout",
        lambda x: ag.apply(ag.OPS["dropout"], x, mask=checkerboard((3, 4)), p=0.25),
        ((3, 4),),
        label="dropout[checkerboard]",
    ),
    Case(
        "broadcast_to",
        lambda x: x.expand(2, -1, 4),
        ((3, 1),),
        label="broadcast_to[torch expand]",
    ),
]

# The ops a 0-d input cannot go through, each with the call that shows its refusal. Every
# other op has a case with a 0-d input, and every op has one with a (1,) input.
NO_0D_CASE = {
    "matmul": lambda x: x @ x,  # "use * to multiply by a scalar"
    "concatenate": lambda x: ag.concatenate([x, x]),  # no axis to join along: use stack
    "cross_entropy": lambda x: ag.cross_entropy(x, np.int64(0)),  # logits need a class axis
    "nll_loss": lambda x: ag.nll_loss(x, np.int64(0)),  # so do log-probabilities
    "triu": lambda x: x.triu(),  # a triangle needs a matrix
    "tril": lambda x: x.tril(),
    "diag": lambda x: x.diag(),  # a diagonal of a matrix, or a vector to put on one
    "trace": lambda x: x.trace(),  # a matrix's
}
REFUSES_0D = NO_0D_CASE


def make_inputs(case: Case, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [Tensor(draw(s, case.domain, rng, dtype), requires_grad=True) for s in case.shapes]


# Central differences in float64 are good to ~1e-9 here, far tighter than gradcheck's
# defaults; checking at this level catches a VJP that is off by one part in 10⁵.
TIGHT = {"atol": 1e-7, "rtol": 1e-6}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_gradcheck_float64(case):
    assert gradcheck(case.fn, *make_inputs(case), **TIGHT)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_float32_agrees_with_float64(case):
    inputs32 = make_inputs(case, np.float32)
    inputs64 = [Tensor(x.data.astype(np.float64), requires_grad=True) for x in inputs32]
    out32, out64 = case.fn(*inputs32), case.fn(*inputs64)
    expected = np.float64 if case.mixes_float64 else np.float32
    assert out32.dtype == expected, f"{case.id}: float32 inputs gave {out32.dtype}"
    np.testing.assert_allclose(out32.data, out64.data, rtol=2e-5, atol=2e-6)
    weights = np.random.default_rng(1).standard_normal(out32.shape)
    out32.backward(weights.astype(np.float32))
    out64.backward(weights)
    largest = max(np.abs(x.grad).max() for x in inputs64)
    for x32, x64 in zip(inputs32, inputs64, strict=True):
        assert x32.grad.dtype == np.float32 and x32.grad.shape == x32.shape
        # A gradient that cancels to ~0 (a bias shared by every class of a softmax) is float32
        # rounding of terms as large as the other inputs' gradients: measure it against those.
        scale = max(np.abs(x64.grad).max(), 0.1 * largest) + 1e-30
        np.testing.assert_allclose(x32.grad, x64.grad, rtol=1e-4, atol=1e-5 * scale)


def test_every_primitive_has_a_case():
    tested = {case.op for case in CASES}
    missing = set(ag.OPS) - tested
    assert not missing, f"ops without a row in the op table: {sorted(missing)}"
    assert not tested - set(ag.OPS), f"cases naming unknown ops: {sorted(tested - set(ag.OPS))}"


@pytest.mark.parametrize("shape", [(), (1,)], ids=str)
def test_every_primitive_has_a_case_with_a_0d_and_a_1_element_input(shape):
    """micrograd-style scalar code goes through 0-d arrays, where numpy returns scalars."""
    covered = {case.op for case in CASES if shape in case.shapes}
    exempt = set(NO_0D_CASE) if shape == () else set()
    missing = set(ag.OPS) - covered - exempt
    assert not missing, f"ops without a case taking a {shape} input: {sorted(missing)}"
    assert not exempt & covered, f"NO_0D_CASE lists ops that have one: {sorted(exempt & covered)}"


@pytest.mark.parametrize("op", sorted(REFUSES_0D))
def test_ops_that_take_no_0d_input_refuse_one_by_name(op):
    with pytest.raises(ag.ShapeError, match=op):
        REFUSES_0D[op](Tensor(np.float64(0.5), requires_grad=True))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_each_op_says_the_shape_its_vjps_give_before_the_engine_sums_them_back(case):
    """Drawings and explain() say "broadcast (30,) → (10, 30)" from `Op.stretched`."""
    out = case.fn(*make_inputs(case))
    for tensor in ag.backward_order(out):
        node = tensor.node
        shapes = [np.shape(getattr(x, "data", x)) for x in node.inputs]
        g = np.ones(tensor.shape)
        for _, i, _ in node.edges:
            raw = np.shape(node.op.vjp(i)(i, g, *node.saved))
            assert node.op.stretched(i, shapes, tensor.shape) == raw, (node.op.name, i)


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if "list" not in c.id],  # specialize takes no list operand (t * [1, 2])
    ids=lambda c: c.id,
)
def test_each_rule_made_concrete_at_its_node_runs_and_gives_the_vjps_gradient(case):
    """What explain(), the drawings and the code printer show at a node (`specialize.rule`)
    is numpy that runs on what the op saved and gives the engine's gradient, with every
    static conditional folded."""
    out = case.fn(*make_inputs(case))
    for tensor in ag.backward_order(out):
        node, op = tensor.node, tensor.node.op
        g = np.random.default_rng(3).standard_normal(tensor.shape)
        for _, i, vjp in node.edges:
            text = rule(tensor, i)
            assert " if " not in text and "\nif " not in text, (op.name, text)
            names = {**SCOPE, **node.params, **dict(zip(op.saved_names, node.saved, strict=True))}
            names |= {op.grad_name: g, "i": i, f"d{op.inputs[0]}": {}}  # dxs[i] = ... (joins)
            exec(text, names)
            name = "d" + op.inputs[0 if op.variadic else i]
            got = names[name][i] if op.variadic else names[name]
            np.testing.assert_allclose(got, vjp(i, g, *node.saved), err_msg=f"{op.name}: {text}")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case_records_its_op(case):
    """Each row really exercises the primitive it names (guards against a table typo)."""
    out = case.fn(*make_inputs(case))
    seen, stack = set(), [out]
    while stack:
        t = stack.pop()
        if t._node is not None:
            seen.add(t._node.op.name)
            stack.extend(x for x in t._node.inputs if isinstance(x, Tensor))
    assert case.op in seen


@settings(max_examples=60, deadline=None)
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3),
    op=st.sampled_from(sorted(BINARY)),
    seed=st.integers(0, 2**16),
)
def test_binary_ops_broadcast_any_compatible_shapes(shapes, op, seed):
    f, domain = BINARY[op]
    rng = np.random.default_rng(seed)
    x, y = (Tensor(draw(s, domain, rng), requires_grad=True) for s in shapes.input_shapes)
    out = f(x, y)
    assert out.shape == shapes.result_shape
    assert gradcheck(f, x, y, **TIGHT)


@settings(max_examples=40, deadline=None)
@given(
    shapes=mutually_broadcastable_shapes(
        signature="(m?,n),(n,p?)->(m?,p?)", max_dims=2, max_side=3
    ),
    seed=st.integers(0, 2**16),
)
def test_matmul_any_compatible_batch_shapes(shapes, seed):
    rng = np.random.default_rng(seed)
    x, y = (Tensor(rng.standard_normal(s), requires_grad=True) for s in shapes.input_shapes)
    assert (x @ y).shape == shapes.result_shape
    assert matmul_shape(x.shape, y.shape) == shapes.result_shape  # what drawings compute
    assert gradcheck(lambda a, b: a @ b, x, y, **TIGHT)


@settings(max_examples=60, deadline=None)
@given(
    shape=array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=3),
    op=st.sampled_from(REDUCTIONS),
    keepdims=st.booleans(),
    data=st.data(),
)
def test_reductions_over_any_axes(shape, op, keepdims, data):
    ndim = len(shape)
    single = st.integers(-ndim, ndim - 1) if ndim else st.nothing()
    axis = data.draw(st.none() | single | valid_tuple_axes(ndim), label="axis")
    x = Tensor(np.random.default_rng(data.draw(st.integers(0, 2**16))).standard_normal(shape))
    x.requires_grad = True
    out = getattr(x, op)(axis=axis, keepdims=keepdims)
    assert out.shape == np.sum(x.data, axis=axis, keepdims=keepdims).shape
    assert gradcheck(lambda t: getattr(t, op)(axis=axis, keepdims=keepdims), x, **TIGHT)


@settings(max_examples=40, deadline=None)
@given(
    shape=array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=3),
    op=st.sampled_from(sorted(UNARY)),
    seed=st.integers(0, 2**16),
)
def test_elementwise_functions_on_any_shape(shape, op, seed):
    f, domain = UNARY[op]
    x = Tensor(draw(shape, domain, np.random.default_rng(seed)), requires_grad=True)
    assert f(x).shape == shape
    assert gradcheck(f, x, **TIGHT)


@settings(max_examples=40, deadline=None)
@given(
    shape=array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3),
    sizes=st.lists(st.integers(1, 3), min_size=1, max_size=4),
    stacked=st.booleans(),
    data=st.data(),
)
def test_concatenate_and_stack_any_shapes_and_axes(shape, sizes, stacked, data):
    ndim = len(shape) + stacked
    axis = data.draw(st.integers(-ndim, ndim - 1), label="axis")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    if stacked:
        arrays = [rng.standard_normal(shape) for _ in sizes]
    else:
        place = axis % ndim
        arrays = [rng.standard_normal((*shape[:place], n, *shape[place + 1 :])) for n in sizes]
    xs = [Tensor(a, requires_grad=True) for a in arrays]
    join, expected = (ag.stack, np.stack) if stacked else (ag.concatenate, np.concatenate)
    np.testing.assert_array_equal(join(xs, axis).data, expected(arrays, axis=axis))
    assert gradcheck(lambda *ts: join(ts, axis), *xs, **TIGHT)


@settings(max_examples=40, deadline=None)
@given(shape=array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=3), data=st.data())
def test_shape_ops_any_shapes_and_axes(shape, data):
    ndim = len(shape)
    x = Tensor(np.random.default_rng(0).standard_normal(shape), requires_grad=True)
    ones = tuple(i for i, n in enumerate(shape) if n == 1)
    cases = {
        "flatten": (lambda t: t.flatten(), x.data.reshape(-1)),
        "squeeze": (lambda t: t.squeeze(ones), np.squeeze(x.data, ones)),
    }
    if ndim >= 2:
        a, b = data.draw(st.tuples(*[st.integers(-ndim, ndim - 1)] * 2), label="swapped")
        cases["swapaxes"] = (lambda t: t.swapaxes(a, b), np.swapaxes(x.data, a, b))
    axis = data.draw(st.integers(-ndim - 1, ndim), label="expanded")
    cases["expand_dims"] = (lambda t: t.expand_dims(axis), np.expand_dims(x.data, axis))
    flipped = data.draw(st.none() | valid_tuple_axes(ndim), label="flipped")
    cases["flip"] = (lambda t: t.flip(flipped), np.flip(x.data, flipped))
    reps = data.draw(st.lists(st.integers(1, 3), max_size=ndim + 1).map(tuple), label="reps")
    cases["tile"] = (lambda t: t.tile(reps), np.tile(x.data, reps))
    if ndim:
        one = data.draw(st.integers(-ndim, ndim - 1), label="axis")
        cases["cumsum"] = (lambda t: t.cumsum(one), np.cumsum(x.data, one))
        cases["roll"] = (lambda t: t.roll(2, one), np.roll(x.data, 2, one))
    for name, (f, expected) in cases.items():
        np.testing.assert_array_equal(f(x).data, expected, err_msg=name)
        assert gradcheck(f, x, **TIGHT)


def test_a_joined_graph_replays_in_the_other_precision():
    """The Op made for one call of concatenate replays (compare's rounding estimate)."""
    x, y = Tensor(np.ones((2, 3)), requires_grad=True), Tensor(np.ones((2, 1)), requires_grad=True)
    out = (ag.concatenate([x, y], axis=1) * np.arange(4.0)).sum()
    twin = gradients_in(out, np.float32)
    np.testing.assert_array_equal(twin[id(y)], [[3.0], [3.0]])
    assert twin[id(x)].dtype == np.float32
