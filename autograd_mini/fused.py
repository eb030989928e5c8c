"""Fused ops, optional: a layer (and its activation, and its cost) recorded as one node.

Nothing in the engine needs this file; read it after `ops.py`. A training step of a small
network is mostly bookkeeping, about 3 µs per recorded node, so recording a layer as one
node instead of three (`matmul`, `add`, `sigmoid`) makes small networks faster. The numbers
are the same to the last bit: each fused op calls the same forward arithmetic and the same
VJPs as the ops it replaces. What is lost is the picture: Z is not a tensor of its own, and
a drawing shows one box per layer. `nn.MLP(..., fuse=True)` records its layers with these,
and `autograd-mini train` uses that.

The fused ops, each meaning one step of the book's backward pass:

| op                              | the node           | its backward                          |
|---------------------------------|--------------------|---------------------------------------|
| `linear`                        | Z = X @ W + b      | BP3/BP4 with δ = dZ: dX = δ @ Wᵀ,     |
|                                 |                    | dW = Xᵀ @ δ, db = Σ_rows δ            |
| `linear+sigmoid` (tanh, relu)   | A = f(X @ W + b)   | δ = dA ⊙ f′(Z) (BP2's ⊙), then BP3/4  |
| `linear+sigmoid+quadratic_cost` | C of the output    | δᴸ = (A − Y)/m ⊙ σ′(Z) (BP1), BP3/4   |
| `linear+cross_entropy`          | softmax CE of Z    | δᴸ = (softmax(Z) − Y)/m (BP1), BP3/4  |

(`linear+quadratic_cost`, `linear+tanh+…` and `linear+relu+…` are BP1 with that f′.)
Softmax cross-entropy after a sigmoid has no such meaning, so there is no op for it.

The three VJPs of a fused node all start from the same δ. It is computed by whichever VJP
runs first in a backward pass and kept for the others in the node's saved values (a [g, δ]
pair, `_shared_delta`), so the engine's backward loop needs no hook for it. This file also
uses numpy in place and 0-d constants where the core ops write plain expressions; the
tests check that every fused op gives the core ops' numbers to the bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import losses, ops
from .broadcasting import broadcast_error, matmul_error, unbroadcast
from .errors import BackwardError, ShapeError
from .ops import Op
from .tensor import Tensor, TensorLike, apply

# ----------------------------------------------------------------------------------------
# δ, shared by the VJPs of one node
# ----------------------------------------------------------------------------------------


def _shared_delta(cache: list, g: Any, delta: Callable[..., Any], arrays: tuple) -> Any:
    """δ = delta(g, *arrays), computed once per backward pass: `cache` is a [g, δ] pair in
    the node's saved values. The first VJP to run fills it; the others find it there (they
    check `cache[0] is g` themselves). Holding g is how a second backward pass
    (`retain_graph=True`) knows to compute δ again."""
    cache[0], cache[1] = g, delta(g, *arrays)
    return cache[1]


# ----------------------------------------------------------------------------------------
# The layer's forward, Z = X @ W + b then A = f(Z), and f′, on as few buffers as possible
# ----------------------------------------------------------------------------------------

_ONES = {np.dtype(t): np.ones((), t) for t in (np.float32, np.float64)}
"""1 as a 0-d array of each dtype: numpy combines it with an array faster than a Python 1."""


def _affine(name: str, x: Any, w: Any, b: Any) -> np.ndarray:
    """Z = x @ w + b, adding b into the fresh product (the same numbers as `add`)."""
    z = x @ w
    if type(z) is np.ndarray and type(b) is np.ndarray and b.dtype == z.dtype:
        try:  # numpy refuses in place a b that would stretch z: explained below
            z += b
            return z
        except ValueError:
            pass
    stretched = z + b
    if np.shape(stretched) != np.shape(z):
        raise ShapeError(
            f"{name}: a bias of shape {np.shape(b)} would stretch X @ W of shape "
            f"{np.shape(z)} to {np.shape(stretched)}; give the bias shape {np.shape(z)[-1:]}."
        )
    return stretched


def _sigmoid_in_place(z: np.ndarray) -> np.ndarray:
    """The sigmoid op's forward, computed in z's own buffer."""
    np.negative(z, out=z)
    np.minimum(z, ops.EXP_CAPS[z.dtype], out=z)
    np.exp(z, out=z)
    np.add(z, _ONES[z.dtype], out=z)
    return np.reciprocal(z, out=z)  # 1 / (1 + e^(−z)), as the op divides


def _sigmoid_delta(g: np.ndarray, a: np.ndarray) -> np.ndarray:
    """The sigmoid op's VJP, g ⊙ (a ⊙ (1 − a)), on one new buffer."""
    if type(a) is not np.ndarray or a.dtype not in _ONES:
        return ops.sigmoid.vjps[0](g, a)
    d = np.subtract(_ONES[a.dtype], a)
    d *= a
    d *= g
    return d


def _tanh_delta(g: np.ndarray, a: np.ndarray) -> np.ndarray:
    """The tanh op's VJP, g ⊙ (1 − a²), on one new buffer."""
    if type(a) is not np.ndarray or a.dtype not in _ONES:
        return ops.tanh.vjps[0](g, a)
    d = np.multiply(a, a)
    np.subtract(_ONES[a.dtype], d, out=d)
    d *= g
    return d


ACTIVATIONS: dict[str | None, tuple[Op | None, Callable | None, Callable | None, str]] = {
    None: (None, None, lambda g, a: g, "δ = dZ"),
    "sigmoid": (
        ops.sigmoid,
        _sigmoid_in_place,
        _sigmoid_delta,
        "δ = dA ⊙ σ′(Z) = dA ⊙ A ⊙ (1 − A)",
    ),
    "tanh": (ops.tanh, lambda z: np.tanh(z, out=z), _tanh_delta, "δ = dA ⊙ (1 − A²)"),
    "relu": (ops.relu, lambda z: np.maximum(z, 0, out=z), ops.relu.vjps[0], "δ = dA ⊙ [Z > 0]"),
}
"""The activations a layer fuses with: (the core op; its forward in place and δ = its VJP,
bit for bit the core op's; the rule for δ)."""


def _activate(core: Op | None, in_place: Callable | None, z: Any) -> Any:
    """A = f(Z): in Z's buffer for float32 and float64 arrays, else with the core op's
    forward (0-d results, float16, integers)."""
    if core is None:
        return z
    return in_place(z) if type(z) is np.ndarray and z.dtype in _ONES else core.forward(z)[0]


# ----------------------------------------------------------------------------------------
# Building fused ops from the core table
# ----------------------------------------------------------------------------------------


def _layer_vjps(delta: Callable[..., Any], sum_bias: bool) -> tuple[Callable[..., Any], ...]:
    """The VJPs for X, W and b of a node whose saved values are (x, w, b_shape, arrays,
    cache): matmul's VJPs applied to δ = delta(g, *arrays), and δ itself for b, which the
    engine sums back over the batch (the op lists b in `broadcasts`); with `sum_bias`, the
    VJP sums it itself (an op whose output is not Z's shape, a cost)."""
    dx, dw = ops.matmul.vjps  # the general forms; the 2-D case, dX = δ @ Wᵀ and dW = Xᵀ @ δ,
    # is written out here to save a call

    def vjp_x(g, x, w, b_shape, arrays, cache):
        d = cache[1] if cache[0] is g else _shared_delta(cache, g, delta, arrays)
        return d @ w.T if d.ndim == 2 == w.ndim else dx(d, x, w)

    def vjp_w(g, x, w, b_shape, arrays, cache):
        d = cache[1] if cache[0] is g else _shared_delta(cache, g, delta, arrays)
        return x.T @ d if d.ndim == 2 == x.ndim else dw(d, x, w)

    def vjp_b(g, x, w, b_shape, arrays, cache):
        d = cache[1] if cache[0] is g else _shared_delta(cache, g, delta, arrays)
        return unbroadcast(d, b_shape) if sum_bias else d

    return vjp_x, vjp_w, vjp_b


def _layer_error(name: str, exc: Exception, arrays: list) -> Exception:
    x, w, b = (np.shape(a) for a in arrays[:3])
    if not x or not w or x[-1] != (w[-2] if len(w) >= 2 else w[0]):
        return matmul_error(x, w)
    return broadcast_error(name, x[:-1] + w[-1:], b)


def _fused_layer(activation: str | None) -> Op:
    """`linear` or `linear+<activation>`: A = f(X @ W + b) as one node."""
    core, in_place, derivative, rule = ACTIVATIONS[activation]
    name = "linear" if core is None else f"linear+{activation}"

    def forward(x, w, b):
        a = _activate(core, in_place, _affine(name, x, w, b))
        return a, (x, w, np.shape(b), (a,), [None, None])

    return Op(
        name,
        forward=forward,
        vjps=_layer_vjps(derivative, sum_bias=False),
        rules=(f"dX = δ @ Wᵀ, with {rule}", "dW = Xᵀ @ δ", "db = δ summed over the batch"),
        broadcasts=(2,),
        on_error=_layer_error,
    )


LAYERS: dict[str | None, Op] = {activation: _fused_layer(activation) for activation in ACTIVATIONS}
"""A layer and its activation as one op, by the activation's name (None: `linear`)."""


def _fused_cost(activation: str | None, cost: Op) -> Op:
    """`<layer>+<cost>`: C = cost(f(X @ W + b), Y) as one node; Y is data, not differentiated."""
    layer = LAYERS[activation]
    name = f"{layer.name}+{cost.name}"
    core, in_place, derivative, rule = ACTIVATIONS[activation]
    cost_vjp = cost.vjps[0]

    def forward(x, w, b, target, reduction="mean"):
        a = _activate(core, in_place, _affine(name, x, w, b))
        c, cost_saved = cost.forward(a, target, reduction)
        return c, (x, w, np.shape(b), (a, cost_saved), [None, None])

    def delta(g, a, cost_saved):  # δᴸ = ∂C/∂A ⊙ f′(Z): BP1
        return derivative(cost_vjp(g, *cost_saved), a)

    def target_vjp(g, *saved):
        raise BackwardError(
            f"{name}: the targets are not differentiated by the fused op; to get their "
            f"gradient, record the layer and the cost apart ({layer.name}, then {cost.name})."
        )

    return Op(
        name,
        forward=forward,
        vjps=(*_layer_vjps(delta, sum_bias=True), target_vjp),
        rules=(
            f"dX = δ @ Wᵀ, with δ from the cost: {cost.rules[0]}"
            + ("" if core is None else f", then {rule}"),
            "dW = Xᵀ @ δ",
            "db = δ summed over the batch",
            "targets: not differentiated",
        ),
        on_error=_layer_error,
    )


COSTS: dict[tuple[str | None, Callable[..., Tensor]], Op] = {
    **{
        (activation, losses.quadratic_cost): _fused_cost(activation, losses.quadratic)
        for activation in ACTIVATIONS
    },
    (None, losses.cross_entropy): _fused_cost(None, losses.cross_entropy_op),
}
"""The output layer and its cost as one op, by (activation, cost function): e.g.
("sigmoid", quadratic_cost) is `linear+sigmoid+quadratic_cost`."""


# ----------------------------------------------------------------------------------------
# The functions
# ----------------------------------------------------------------------------------------


def linear(
    x: TensorLike, weight: TensorLike, bias: TensorLike, activation: str | None = None
) -> Tensor:
    """`f(x @ weight + bias)` recorded as one node (`linear`, `linear+sigmoid`, ...).

    x: (m, n_in) or (n_in,); weight: (n_in, n_out); bias: (n_out,); activation: "sigmoid",
    "tanh", "relu" or None. The same numbers as `autograd_mini.linear`, which records
    `matmul`, `add` and the activation apart.
    """
    if activation not in LAYERS:
        choices = ", ".join(repr(a) for a in LAYERS)
        raise ValueError(f"fused.linear: activation must be one of {choices}, got {activation!r}.")
    return apply(LAYERS[activation], x, weight, bias)


def linear_cost(
    x: TensorLike,
    weight: TensorLike,
    bias: TensorLike,
    target: Any,
    cost: Callable[..., Tensor] = losses.quadratic_cost,
    activation: str | None = None,
    reduction: str = "mean",
) -> Tensor:
    """`cost(linear(x, weight, bias, activation), target)` recorded as one node.

    cost: `ag.quadratic_cost` (after any activation) or `ag.cross_entropy` (on the logits:
    activation None). target: what the cost takes for outputs of shape (m, n_out). Backward
    forms the output error δᴸ = ∂C/∂Z once (BP1), then dX = δ @ Wᵀ, dW = Xᵀ @ δ,
    db = Σ_rows δ (BP3/BP4). The target is data: it cannot require grad here.
    """
    op = COSTS.get((activation, cost))
    if op is None:
        pairs = ", ".join(f"({a!r}, {c.__name__})" for a, c in COSTS)
        raise ValueError(
            f"fused.linear_cost: no fused op for activation {activation!r} with "
            f"{getattr(cost, '__name__', cost)!s}; the pairs are {pairs}."
        )
    if isinstance(target, Tensor) and target.requires_grad:
        raise BackwardError(
            "fused.linear_cost: the target requires grad, but the fused op does not "
            f"differentiate its targets; use {cost.__name__}(...) on the layer's output."
        )
    return apply(op, x, weight, bias, target, reduction=reduction)
