"""Layers: `Linear`, the activations, and `MLP`, the multilayer perceptron built from them."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

import autograd_mini as ag
from autograd_mini import Tensor, apply, fused, ops
from autograd_mini.tensor import TensorLike

from . import init as inits
from .module import Module, Sequential

Seed = int | np.random.Generator | None


class Linear(Module):
    """An affine layer in the row-batch convention: `Z = X @ W + b`.

    X: (m, n_in), one example per row (or a single example (n_in,)); W = `weight`:
    (n_in, n_out); b = `bias`: (n_out,), broadcast over the m rows, so its gradient is the
    sum over the batch. Z: (m, n_out). It records `matmul`, then `add`.

    Other layouts of the same numbers: Nielsen's book writes `z = w a + b` with one
    example per *column*, so his `w` is `weight.T` (n_out, n_in) and his `b` is `bias` as a
    column (n_out, 1); PyTorch's `nn.Linear` also stores `weight` as (n_out, n_in) and
    computes `X @ weight.T + bias`.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: str | inits.Initializer = "normal",
        seed: Seed = None,
        dtype: Any = np.float64,
    ) -> None:
        super().__init__()
        for what, n in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
                raise ValueError(f"Linear: {what} must be a positive integer, got {n!r}.")
        rng = np.random.default_rng(seed)
        initializer = inits.get(init)
        object.__setattr__(self, "in_features", int(in_features))
        object.__setattr__(self, "out_features", int(out_features))
        weight = initializer((self.in_features, self.out_features), rng)
        self.weight = Tensor(np.asarray(weight, dtype=dtype), requires_grad=True)
        if bias:
            bias_values = initializer((self.out_features,), rng)
            self.bias = Tensor(np.asarray(bias_values, dtype=dtype), requires_grad=True)
        else:
            self.bias = None

    def forward(self, x: TensorLike) -> Tensor:
        """Z = X @ W + b: records `matmul`, then `add` (b broadcast over the m rows)."""
        try:
            z = apply(ops.matmul, x, self.weight)
        except ag.ShapeError as exc:
            raise self.explain(exc, x) from None
        return z if self.bias is None else apply(ops.add, z, self.bias)

    def explain(self, exc: ag.ShapeError, x: TensorLike) -> ag.ShapeError:
        """The error to raise for `exc` from this layer on input x: the engine's own when
        x has the right number of features (the problem is elsewhere), else which it needs."""
        shape = np.shape(x.data if isinstance(x, Tensor) else x)
        if shape and shape[-1] == self.in_features:
            return exc
        return ag.ShapeError(
            f"{self.scope.label}: expected inputs with {self.in_features} features in the last "
            f"dimension, (m, {self.in_features}) or ({self.in_features},), got shape {shape}."
        )

    def describe(self) -> str:
        extra = "" if self.bias is not None else ", bias=False"
        return f"Linear({self.in_features}→{self.out_features}{extra})"


# ----------------------------------------------------------------------------------------
# Activations: the Tensor function (for autodiff) and numpy f, f′ (for the closed form)
# ----------------------------------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


class Activation(Module):
    """An elementwise activation a = f(z). `function` acts on Tensors (the built-in ones
    record the engine's op of that name); `f` and `derivative` act on numpy arrays, for the
    closed-form backprop."""

    name = "activation"
    function: Callable[[Tensor], Tensor]

    def forward(self, z: TensorLike) -> Tensor:
        return self.function(ag.as_tensor(z))

    @staticmethod
    def f(z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def derivative(z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> str:
        return f"{type(self).__name__}()"


class Sigmoid(Activation):
    """σ(z) = 1/(1 + e^(−z)); σ′(z) = σ(z)(1 − σ(z))."""

    name = "sigmoid"
    function = staticmethod(partial(apply, ops.sigmoid))
    f = staticmethod(_sigmoid)

    @staticmethod
    def derivative(z: np.ndarray) -> np.ndarray:
        s = _sigmoid(z)
        return s * (1 - s)


class Tanh(Activation):
    """tanh(z); tanh′(z) = 1 − tanh²(z)."""

    name = "tanh"
    function = staticmethod(partial(apply, ops.tanh))
    f = staticmethod(np.tanh)

    @staticmethod
    def derivative(z: np.ndarray) -> np.ndarray:
        return 1 - np.tanh(z) ** 2


class ReLU(Activation):
    """max(z, 0); derivative 1 for z > 0, else 0."""

    name = "relu"
    function = staticmethod(partial(apply, ops.relu))

    @staticmethod
    def f(z: np.ndarray) -> np.ndarray:
        return np.maximum(z, 0)

    @staticmethod
    def derivative(z: np.ndarray) -> np.ndarray:
        return (z > 0).astype(z.dtype)


class Identity(Activation):
    """a = z (no activation: the layer's output stays raw scores, e.g. logits)."""

    name = "identity"

    @staticmethod
    def function(z: Tensor) -> Tensor:
        return z

    @staticmethod
    def f(z: np.ndarray) -> np.ndarray:
        return z

    @staticmethod
    def derivative(z: np.ndarray) -> np.ndarray:
        return np.ones_like(z)


class Softmax(Activation):
    """softmax along the last axis. Not elementwise: for training with cross-entropy, keep
    the logits (no output activation) and use `ag.cross_entropy`, which fuses the two."""

    name = "softmax"
    function = staticmethod(partial(apply, ops.softmax))

    @staticmethod
    def f(z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls for cls in (Sigmoid, Tanh, ReLU, Identity, Softmax)
}
"""The activation modules by name."""

FUSABLE: dict[type[Activation], str | None] = {
    Sigmoid: "sigmoid",
    Tanh: "tanh",
    ReLU: "relu",
    Identity: None,
}
"""The activations `autograd_mini.fused` can record with a layer, by class (a subclass may
redefine `function`, so only these classes themselves), with the name the fused ops use."""


def make_activation(name: str | Activation | None) -> Activation:
    """An activation module from its name ("sigmoid", "tanh", "relu", "identity", "softmax"),
    None (identity), or a module."""
    if name is None:
        return Identity()
    if isinstance(name, Activation):
        return name
    if isinstance(name, str) and name.lower() in ACTIVATIONS:
        return ACTIVATIONS[name.lower()]()
    raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)} or None.")


# ----------------------------------------------------------------------------------------
# The multilayer perceptron
# ----------------------------------------------------------------------------------------


class MLP(Module):
    """A multilayer perceptron: `Linear` layers with an activation after each.

    `MLP([784, 30, 10])` is the network of Nielsen's chapter 1: 784 inputs, a hidden layer
    of 30 sigmoid units, 10 sigmoid outputs, weights and biases drawn from N(0, 1).
    Its layers are `layers.0` (784→30) and `layers.1` (30→10), with parameters
    `layers.0.weight` (784, 30), `layers.0.bias` (30,), and so on. Each layer records
    `matmul`, `add` (the bias, broadcast over the batch) and its activation.

    activation: of the hidden layers. output_activation: of the last layer; "same" (the
    default) repeats `activation`, None leaves raw scores (logits, for `cross_entropy`).
    init, seed, dtype: as for `Linear`; one generator made from `seed` draws every layer.
    fuse: record each layer and its sigmoid, tanh or relu as one node (`linear+sigmoid`,
    from `autograd_mini.fused`): the same numbers, faster on small layers, but drawings
    and `explain()` then show one box per layer and Z is not a tensor of its own.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str | Activation | None = "sigmoid",
        output_activation: str | Activation | None = "same",
        init: str | inits.Initializer = "normal",
        seed: Seed = None,
        dtype: Any = np.float64,
        bias: bool = True,
        fuse: bool = False,
    ) -> None:
        super().__init__()
        self.fuse = bool(fuse)
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(
                f"MLP: sizes needs at least an input and an output size, e.g. [784, 30, 10]; "
                f"got {sizes}."
            )
        rng = np.random.default_rng(seed)
        object.__setattr__(self, "sizes", tuple(int(n) for n in sizes))
        self.layers = Sequential(
            *(
                Linear(n_in, n_out, bias=bias, init=init, seed=rng, dtype=dtype)
                for n_in, n_out in itertools.pairwise(sizes)
            )
        )
        self.activation = make_activation(activation)
        self.output_activation = (
            self.activation if output_activation == "same" else make_activation(output_activation)
        )

    def forward(self, x: TensorLike) -> Tensor:
        """A_ℓ = f(A_{ℓ−1} @ W_ℓ + b_ℓ), layer after layer, from A_0 = x."""
        *hidden, last = self.layers._modules.values()
        if self.fuse:
            return _fused_forward(x, hidden, last, self.activation, self.output_activation)
        for layer in hidden:
            x = self.activation.function(layer(x))
        return self.output_activation.function(last(x))

    def config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this architecture (JSON-ready). `fuse` is
        not among them: it changes how the forward pass is recorded, not the numbers."""
        output = self.output_activation.name
        return {
            "type": "MLP",
            "sizes": list(self.sizes),
            "activation": self.activation.name,
            "output_activation": None if output == "identity" else output,
            "dtype": str(self.layers[0].weight.dtype),
            "bias": self.layers[0].bias is not None,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MLP:
        """An MLP with the architecture `config()` describes (parameters freshly drawn)."""
        if config.get("type") != "MLP":
            raise ValueError(f"MLP.from_config: not an MLP description: {config!r:.200}")
        return cls(
            config["sizes"],
            activation=config["activation"],
            output_activation=config["output_activation"],
            dtype=np.dtype(config["dtype"]),
            bias=config["bias"],
        )

    def weights(self) -> list[Tensor]:
        """The weight matrices, first layer first (e.g. for weight decay on weights only)."""
        return [layer.weight for layer in self.layers]

    def biases(self) -> list[Tensor]:
        """The bias vectors, first layer first."""
        return [layer.bias for layer in self.layers if layer.bias is not None]

    def describe(self) -> str:
        sizes = [str(n) for n in self.sizes]
        if len(sizes) > 6:  # a deep network: first layers, …, last layer, and how many
            sizes = [*sizes[:2], "…", sizes[-1], f" ({len(self.sizes) - 1} layers)"]
        shape = "→".join(sizes).replace("→ (", " (")
        if self.output_activation is self.activation:
            return f"MLP({shape}, {self.activation.name})"
        return f"MLP({shape}, {self.activation.name}, output {self.output_activation.name})"


def _fused_forward(
    x: TensorLike,
    hidden: list[Linear],
    last: Linear,
    activation: Activation,
    output_activation: Activation,
) -> Tensor:
    """MLP.forward with each layer and its activation recorded as one node (`fused.LAYERS`:
    `linear+sigmoid`, ...) in the layer's scope, where the activation is one `fused` knows
    and the layer has a bias; else the layer, then the activation, as usual."""
    for layers, f in ((hidden, activation), ((last,), output_activation)):
        name = FUSABLE.get(type(f), False)
        for layer in layers:
            if name is False or layer.bias is None:
                x = f.function(layer(x))
                continue
            with layer.scope:
                try:
                    x = apply(fused.LAYERS[name], x, layer.weight, layer.bias)
                except ag.ShapeError as exc:
                    raise layer.explain(exc, x) from None
    return x
