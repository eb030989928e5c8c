"""Backpropagation written out by hand: the equations BP1–BP4, in two conventions.

This module never calls the autodiff engine: it reads the network's weights as numpy arrays
and applies the equations, so that autodiff can be checked against them (and a learner can
put Nielsen's book beside the code). Both functions return the gradients in the model's
own layout, by parameter name: `layers.ℓ.weight` (n_in, n_out), `layers.ℓ.bias` (n_out,).

Row-batch convention (`backprop_rows`, one example per row; X: (m, n)):
    Z_ℓ = A_{ℓ−1} @ W_ℓ + b_ℓ,  A_ℓ = f(Z_ℓ)                       forward
    Δ_L = δᴸ(Z_L, A_L, Y) / m                                       BP1 (1/m: the batch mean)
    Δ_ℓ = (Δ_{ℓ+1} @ W_{ℓ+1}ᵀ) ⊙ f′(Z_ℓ)                            BP2
    ∂C/∂b_ℓ = Δ_ℓ.sum(axis=0)                                       BP3 (the sum over the batch)
    ∂C/∂W_ℓ = A_{ℓ−1}ᵀ @ Δ_ℓ                                        BP4 (n_in, n_out)

Nielsen's column convention (`backprop_columns`, one example a column, wˡ = W_ℓᵀ):
    zˡ = wˡ aˡ⁻¹ + bˡ,  aˡ = f(zˡ)
    δᴸ = ∇_a C ⊙ f′(zᴸ)                                             BP1
    δˡ = ((wˡ⁺¹)ᵀ δˡ⁺¹) ⊙ f′(zˡ)                                    BP2
    ∂C/∂bˡ = δˡ                                                     BP3
    ∂C/∂wˡ = δˡ (aˡ⁻¹)ᵀ   (n_out, n_in)                              BP4
per example, then averaged over the mini-batch. The two agree with w = Wᵀ and δ = Δᵀ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .costs import Cost, get_cost
from .layers import MLP, Activation, Identity, Linear
from .module import Module, Sequential


@dataclass(frozen=True)
class Layer:
    """One layer as the equations see it: z = a_prev @ W + b, a = f(z)."""

    name: str  # the parameter prefix, e.g. "layers.0"
    W: np.ndarray  # (n_in, n_out)
    b: np.ndarray  # (n_out,); zeros for a layer without bias
    f: Any  # the activation: f.f(z) and f.derivative(z) on numpy arrays
    has_bias: bool


def layers_of(model: Module) -> list[Layer]:
    """The (Linear, activation) layers of an `MLP`, or of a `Sequential` alternating
    `Linear` and elementwise activations (an activation may be left out: identity)."""
    if isinstance(model, MLP):
        pairs = []
        linears = list(model.layers)
        for i, linear in enumerate(linears):
            last = i == len(linears) - 1
            pairs.append((linear, model.output_activation if last else model.activation))
    elif isinstance(model, Sequential):
        pairs, modules = [], list(model)
        for i, module in enumerate(modules):
            if isinstance(module, Linear):
                following = modules[i + 1] if i + 1 < len(modules) else None
                pairs.append(
                    (module, following if isinstance(following, Activation) else Identity())
                )
            elif (
                not isinstance(module, Activation)
                or i == 0
                or not isinstance(modules[i - 1], Linear)
            ):
                raise TypeError(
                    f"closed-form backprop needs Linear layers, each followed by at most one "
                    f"activation; found {module.describe()} at position {i}."
                )
    else:
        raise TypeError(
            f"closed-form backprop works on an nn.MLP or an nn.Sequential of Linear layers and "
            f"activations, got {type(model).__name__}."
        )
    prefixes = {id(module): name for name, module in model.named_modules()}
    layers = []
    for linear, activation in pairs:
        if not hasattr(activation, "derivative") or activation.name == "softmax":
            raise TypeError(
                f"closed-form backprop needs elementwise activations; {activation.describe()} "
                "is not. For softmax outputs keep logits and use the softmax-cross-entropy cost."
            )
        W = linear.weight.data
        has_bias = linear.bias is not None
        b = linear.bias.data if has_bias else np.zeros(W.shape[1], dtype=W.dtype)
        layers.append(Layer(prefixes[id(linear)], W, b, activation, has_bias))
    return layers


def _check_cost(cost: Cost, layers: list[Layer]) -> None:
    cost.check_outputs(layers[-1].W.shape[1])
    needed, actual = cost.output_activation, layers[-1].f.name
    if needed is not None and needed != actual:
        raise ValueError(
            f"the {cost.name} cost needs a {needed} output layer, but the network's output "
            f"activation is {actual}."
            + (
                " Keep logits (output_activation=None): the cost applies the softmax."
                if needed == "identity"
                else ""
            )
        )


def _as_gradients(
    layers: list[Layer], dW: list[np.ndarray], db: list[np.ndarray]
) -> dict[str, np.ndarray]:
    grads = {}
    for layer, w_grad, b_grad in zip(layers, dW, db, strict=True):
        grads[f"{layer.name}.weight"] = w_grad
        if layer.has_bias:
            grads[f"{layer.name}.bias"] = b_grad
    return grads


def backprop_rows(
    model: Module, X: Any, Y: Any, cost: str | Cost = "quadratic"
) -> dict[str, np.ndarray]:
    """Every parameter's ∂C/∂p by BP1–BP4 in the row-batch convention (whole batch at once).

    X: (m, n_in); Y: (m, n_out) targets (or labels (m,) for softmax-cross-entropy).
    C is the mean over the batch of the per-example cost, as in `cost.loss`.
    """
    cost = get_cost(cost)
    layers = layers_of(model)
    _check_cost(cost, layers)
    return rows_equations(layers, X, Y, cost)


def rows_equations(layers: list[Layer], X: Any, Y: Any, cost: Cost) -> dict[str, np.ndarray]:
    """BP1–BP4 in the row-batch convention on explicit layers (see the module docstring)."""
    A_prev = np.asarray(X, dtype=layers[0].W.dtype)
    m = A_prev.shape[0]
    Y = cost.targets(Y, layers[-1].W.shape[1], A_prev.dtype)

    # forward pass: keep every Z_ℓ and A_ℓ (A[0] = X)
    Z, A = [], [A_prev]
    for layer in layers:
        Z.append(A[-1] @ layer.W + layer.b)
        A.append(layer.f.f(Z[-1]))

    dW, db = [None] * len(layers), [None] * len(layers)
    delta = cost.delta(Z[-1], A[-1], Y, layers[-1].f) / m  # BP1, with the 1/m of the mean
    for ell in range(len(layers) - 1, -1, -1):
        db[ell] = delta.sum(axis=0)  # BP3: the bias was broadcast over the batch
        dW[ell] = A[ell].T @ delta  # BP4: A_prevᵀ @ Δ, (n_in, n_out)
        if ell > 0:
            delta = (delta @ layers[ell].W.T) * layers[ell - 1].f.derivative(Z[ell - 1])  # BP2
    return _as_gradients(layers, dW, db)


def backprop_columns(
    model: Module, X: Any, Y: Any, cost: str | Cost = "quadratic"
) -> dict[str, np.ndarray]:
    """Every parameter's ∂C/∂p by BP1–BP4 as in Nielsen's network.py: one example at a time,
    as a column, with w = Wᵀ (n_out, n_in) and b a column (n_out, 1); averaged over the
    mini-batch. Returned in the model's layout (w transposed back to (n_in, n_out)).
    """
    cost = get_cost(cost)
    layers = layers_of(model)
    _check_cost(cost, layers)
    X = np.asarray(X, dtype=layers[0].W.dtype)
    Y = cost.targets(Y, layers[-1].W.shape[1], X.dtype)
    weights = [layer.W.T for layer in layers]  # wˡ: (n_out, n_in)
    biases = [layer.b.reshape(-1, 1) for layer in layers]  # bˡ: (n_out, 1)
    nabla_w = [np.zeros_like(w) for w in weights]
    nabla_b = [np.zeros_like(b) for b in biases]
    for x, y in zip(X, Y, strict=True):
        activation = x.reshape(-1, 1)  # a⁰ = x, a column
        activations, zs = [activation], []
        for w, b, layer in zip(weights, biases, layers, strict=True):
            z = w @ activation + b
            zs.append(z)
            activation = layer.f.f(z)
            activations.append(activation)
        # BP1: δᴸ; the cost's delta works on rows, so give it the column transposed
        delta = cost.delta(zs[-1].T, activations[-1].T, y.reshape(1, -1), layers[-1].f).T
        nabla_b[-1] += delta  # BP3
        nabla_w[-1] += delta @ activations[-2].T  # BP4: δ aᵀ
        for ell in range(2, len(layers) + 1):
            delta = (weights[-ell + 1].T @ delta) * layers[-ell].f.derivative(zs[-ell])  # BP2
            nabla_b[-ell] += delta  # BP3
            nabla_w[-ell] += delta @ activations[-ell - 1].T  # BP4
    m = len(X)
    return _as_gradients(
        layers, [nw.T / m for nw in nabla_w], [nb.reshape(-1) / m for nb in nabla_b]
    )
