"""The output layer and its cost as one op: `C = cost(f(X @ W + b), Y)`, one node.

A training step of a small network is mostly bookkeeping, one node per layer plus one for
the cost. Fusing the last layer with the cost removes a node, and its backward is the
book's order exactly: the output error δᴸ = ∂C/∂Zᴸ first (BP1: the cost's VJP, then
f′(Z) for an activation), then the layer's own VJPs on δᴸ (BP3, BP4).

Each op is composed from two existing table entries, a layer (`linear`, `linear+sigmoid`,
...) and a cost (`quadratic_cost`, `cross_entropy`): the same forward functions, the same
VJPs, so the numbers are bit-identical to the two nodes it replaces. The targets are data,
not differentiated: to differentiate a cost with respect to its targets, use the unfused
pair.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import losses, ops
from .broadcasting import matmul_shape
from .errors import BackwardError
from .ops import Op
from .tensor import Tensor, TensorLike, apply

ACTIVATIONS = (None, *ops.FUSED_LINEAR)  # None: the plain linear layer (logits)
COSTS = {"quadratic_cost": losses.quadratic, "cross_entropy": losses.cross_entropy_op}


def _layer_with_cost(layer: Op, cost: Op) -> Op:
    """The op `<layer>+<cost>`, inputs (X, W, b, Y), param `reduction`.

    saved = (*the layer's saved, the cost's saved); the shared backward step (`prepare`)
    is δ = ∂C/∂Z: the cost's VJP for its prediction, then the layer's own `prepare` (dA ⊙ f′(Z))
    when it has one; the VJPs for X, W and b are the layer's.
    """
    name = f"{layer.name}+{cost.name}"
    cost_vjp, layer_prepare = cost.vjps[0], layer.prepare

    def forward(x, w, b, target, reduction="mean"):
        a, layer_saved = layer.forward(x, w, b)
        c, cost_saved = cost.forward(a, target, reduction)
        return c, (*layer_saved, cost_saved)

    if layer_prepare is None:  # the cost's input is Z itself (logits)

        def prepare(g, *saved):
            return cost_vjp(g, *saved[-1])

    else:

        def prepare(g, *saved):
            return layer_prepare(cost_vjp(g, *saved[-1]), *saved[:-1])

    def targets_vjp(g, *saved):
        raise BackwardError(
            f"{name}: the targets are not differentiated by the fused op; to get their "
            f"gradient, record the layer and the cost apart ({layer.name}, then {cost.name})."
        )

    return Op(
        name,
        forward=forward,
        vjps=(*layer.vjps, targets_vjp),
        rules=(
            f"{layer.rules[0]}; the cost first: {cost.rules[0]}",
            *layer.rules[1:],
            "targets: not differentiated",
        ),
        on_error=lambda op_name, exc, arrays: layer.on_error(op_name, exc, arrays[:3]),
        broadcasts=layer.broadcasts,
        stretched_to=lambda x, w, b, target: np.broadcast_shapes(matmul_shape(x, w), b),  # Z's
        prepare=prepare,
    )


FUSED_COSTS: dict[tuple[str | None, str], Op] = {
    (activation, cost_name): _layer_with_cost(
        ops.linear if activation is None else ops.FUSED_LINEAR[activation], cost
    )
    for activation in ACTIVATIONS
    for cost_name, cost in COSTS.items()
}
"""The fused output ops by (activation or None, cost name), e.g. ("sigmoid", "quadratic_cost")
is `linear+sigmoid+quadratic_cost`, (None, "cross_entropy") is `linear+cross_entropy`."""


def linear_cost(
    x: TensorLike,
    weight: TensorLike,
    bias: TensorLike,
    target: Any,
    cost: str = "quadratic_cost",
    activation: str | None = None,
    reduction: str = "mean",
) -> Tensor:
    """`cost(linear(x, weight, bias, activation), target)` recorded as one node.

    x: (m, n_in); weight: (n_in, n_out); bias: (n_out,); target: what `cost` takes for
    predictions of shape (m, n_out): `quadratic_cost` one (m, n_out) row per example,
    `cross_entropy` class labels (m,) or probabilities (m, n_out) (the layer's outputs
    are then the logits, so use activation=None). Backward forms δ = ∂C/∂Z once (BP1),
    then dX = δ @ Wᵀ, dW = Xᵀ @ δ, db = Σ_rows δ (BP3/BP4). The same numbers as the two
    nodes it replaces; the target cannot require grad (it is not differentiated here).
    """
    if activation not in ACTIVATIONS:
        choices = ", ".join(repr(a) for a in ACTIVATIONS)
        raise ValueError(f"linear_cost: activation must be one of {choices}, got {activation!r}.")
    if cost not in COSTS:
        raise ValueError(f"linear_cost: cost must be one of {sorted(COSTS)}, got {cost!r}.")
    losses._check_reduction("linear_cost", reduction)
    if bias is None:
        raise ValueError(
            "linear_cost: the fused layer needs a bias; without one, use the cost "
            "on matmul(x, weight)."
        )
    if not isinstance(target, Tensor):
        target = np.asarray(target)
    elif target.requires_grad:
        raise BackwardError(
            f"linear_cost: the target requires grad, but the fused op does not differentiate "
            f"its targets; use {cost}(linear(...), target) to get their gradient."
        )
    return apply(FUSED_COSTS[activation, cost], x, weight, bias, target, reduction=reduction)
