"""Layers: `Linear`, the activations, and `MLP`, the multilayer perceptron built from them."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import autograd_mini as ag
from autograd_mini import Tensor, ops
from autograd_mini.fused_costs import COSTS, FUSED_COSTS
from autograd_mini.recording import STATE
from autograd_mini.tensor import apply

from . import init as inits
from .costs import Cost, get_cost
from .module import Module, Sequential

Seed = int | np.random.Generator | None


class Linear(Module):
    """An affine layer in the row-batch convention: `Z = X @ W + b`.

    X: (m, n_in), one example per row (or a single example (n_in,)); W = `weight`:
    (n_in, n_out); b = `bias`: (n_out,), broadcast over the m rows, so its gradient is the
    sum over the batch. Z: (m, n_out).

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

    def forward(self, x: ag.tensor.TensorLike) -> Tensor:
        if self.bias is None:
            return self._apply(ops.matmul, x, self.weight)
        return self._apply(ops.linear, x, self.weight, self.bias)

    def activated(self, x: ag.tensor.TensorLike, activation: str) -> Tensor:
        """f(x @ W + b) as one fused node (`linear+sigmoid`, `linear+tanh`, `linear+relu`):
        the same numbers as the layer followed by the activation, with half the engine's
        bookkeeping; Z is not a tensor of its own then. Needs a bias."""
        if activation not in ops.FUSED_LINEAR or self.bias is None:
            raise ValueError(
                f"{self.describe()}.activated: fuses a layer with a bias with one of "
                f"{sorted(ops.FUSED_LINEAR)}, got {activation!r}"
                + (" on a layer without bias." if self.bias is None else ".")
            )
        op = ops.FUSED_LINEAR[activation]
        return self.in_scope(self._apply, op, x, self.weight, self.bias)

    def _apply(self, op: ops.Op, x: ag.tensor.TensorLike, *params: Tensor) -> Tensor:
        try:
            return apply(op, x, *params)
        except ag.ShapeError as exc:
            raise self._explain(exc, x) from None

    def _explain(self, exc: ag.ShapeError, x: ag.tensor.TensorLike) -> ag.ShapeError:
        """The error to raise for `exc` from this layer on input x: the engine's own when
        x has the right number of features (the problem is elsewhere), else which it needs."""
        shape = np.shape(x.data if isinstance(x, Tensor) else x)
        if shape and shape[-1] == self.in_features:
            return exc
        label = self._scope[1][-1] if self._scope[1] else self.describe()
        return ag.ShapeError(
            f"{label}: expected inputs with {self.in_features} features in the last "
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
    """An elementwise activation a = f(z). `function` acts on Tensors (and is recorded);
    `f` and `derivative` act on numpy arrays, for the closed-form backprop."""

    name = "activation"
    function: Callable[[Tensor], Tensor]

    def forward(self, z: ag.tensor.TensorLike) -> Tensor:
        return type(self).function(ag.as_tensor(z))

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
    function = Tensor.sigmoid
    f = staticmethod(_sigmoid)

    @staticmethod
    def derivative(z: np.ndarray) -> np.ndarray:
        s = _sigmoid(z)
        return s * (1 - s)


class Tanh(Activation):
    """tanh(z); tanh′(z) = 1 − tanh²(z)."""

    name = "tanh"
    function = Tensor.tanh
    f = staticmethod(np.tanh)

    @staticmethod
    def derivative(z: np.ndarray) -> np.ndarray:
        return 1 - np.tanh(z) ** 2


class ReLU(Activation):
    """max(z, 0); derivative 1 for z > 0, else 0."""

    name = "relu"
    function = Tensor.relu

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
    function = Tensor.softmax

    @staticmethod
    def f(z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls for cls in (Sigmoid, Tanh, ReLU, Identity, Softmax)
}

FUSABLE: dict[type[Activation], str | None] = {
    Sigmoid: "sigmoid",
    Tanh: "tanh",
    ReLU: "relu",
    Identity: None,
}
"""The activations a fused op can stand for, by the name the engine's fused ops use (None:
no activation). Only these classes themselves: a subclass may redefine `function`."""

FUSED_LAYERS: dict[type[Activation], ops.Op] = {
    cls: ops.FUSED_LINEAR[name] for cls, name in FUSABLE.items() if name is not None
}
"""A layer and its activation as one op, by activation class: {Sigmoid: linear+sigmoid, ...}."""

FUSED_OUTPUTS: dict[tuple[type[Activation], str], ops.Op] = {
    (cls, cost): FUSED_COSTS[name, cost] for cls, name in FUSABLE.items() for cost in COSTS
}
"""The output layer and its cost as one op, by (activation class, `Cost.fused`):
{(Sigmoid, "quadratic_cost"): linear+sigmoid+quadratic_cost, (Identity, "cross_entropy"): ...}."""


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
    `layers.0.weight` (784, 30), `layers.0.bias` (30,), and so on.

    activation: of the hidden layers. output_activation: of the last layer; "same" (the
    default) repeats `activation`, None leaves raw scores (logits, for `cross_entropy`).
    init, seed, dtype: as for `Linear`; one generator made from `seed` draws every layer.
    fuse: record each layer with its sigmoid, tanh or relu as one node (`linear+sigmoid`,
    see `Linear.activated`): the same numbers, faster on small layers (less bookkeeping
    per layer), but drawings and `explain()` then show one box per layer and Z is not a
    tensor of its own; `loss(X, Y, cost)` then records the last layer with the cost as one
    node as well. The default keeps `linear`, the activation and the cost apart, as the book.
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

    def forward(self, x: ag.tensor.TensorLike) -> Tensor:
        return self._run(x)

    def loss(self, x: ag.tensor.TensorLike, y: Any, cost: str | Cost = "quadratic") -> Tensor:
        """The cost of the network's output on x against targets y, a mean over the batch:
        `get_cost(cost).loss(self(x), y)`, the same numbers either way.

        With `fuse=True` the last layer and the cost are recorded as one node when they can
        be (`linear+sigmoid+quadratic_cost`, `linear+cross_entropy` for the logits, see
        `ag.linear_cost`): its backward forms the output error δᴸ (BP1) and then BP3/BP4.
        Targets that require grad keep the two apart (the fused op does not differentiate
        them).
        """
        cost = get_cost(cost)
        op = self._fused_cost_op(cost, y)
        if op is None:
            return super().loss(x, y, cost)
        target = y if isinstance(y, Tensor) else np.asarray(y)
        return self._run(x, op, target, scope=self)  # as self(x) would, in this MLP's scope

    def _run(
        self,
        x: ag.tensor.TensorLike,
        cost_op: ops.Op | None = None,
        target: Any = None,
        scope: Module | None = None,
    ) -> Tensor:
        """The layers on x; with `cost_op`, the last layer and the cost as that one node.
        Each layer's ops are recorded in its own scope (within `scope`'s, when given), as
        calling layer(x) would do, with one try/finally for the whole loop."""
        *hidden_layers, last = self.layers._modules.values()
        fused_hidden = self._fused_op(self.activation)
        state = STATE
        caller = state.scope
        outer = caller if scope is None else scope.scope_within(caller)
        try:
            for layer in hidden_layers:
                state.scope = layer.scope_within(outer)
                if fused_hidden is None or layer.bias is None:
                    x = self._unfused_layer(layer, self.activation, x, outer)
                    continue
                try:  # f(X @ W + b), one node
                    x = apply(fused_hidden, x, layer.weight, layer.bias)
                except ag.ShapeError as exc:
                    raise layer._explain(exc, x) from None
            state.scope = last.scope_within(outer)
            try:
                if cost_op is not None:  # cost(f(X @ W + b), target), one node
                    return apply(cost_op, x, last.weight, last.bias, target, reduction="mean")
                fused_output = self._fused_op(self.output_activation)
                if fused_output is not None and last.bias is not None:
                    return apply(fused_output, x, last.weight, last.bias)
            except ag.ShapeError as exc:
                raise last._explain(exc, x) from None
            return self._unfused_layer(last, self.output_activation, x, outer)
        finally:
            state.scope = caller

    @staticmethod
    def _unfused_layer(
        layer: Linear, activation: Activation, x: ag.tensor.TensorLike, outer: tuple[str, ...]
    ) -> Tensor:
        """`layer` then `activation` as nodes of their own; the activation in scope `outer`
        (the MLP's own), as calling the activation module after the layer would record it."""
        z = layer.forward(x)
        STATE.scope = outer
        return type(activation).function(z)

    def _fused_cost_op(self, cost: Cost, y: Any) -> ops.Op | None:
        """The op recording the last layer with `cost` (`linear+sigmoid+quadratic_cost` ...)
        when this MLP fuses, the pair is one `ag.linear_cost` knows, and y needs no grad."""
        if not self.fuse or (isinstance(y, Tensor) and y.requires_grad):
            return None
        if next(reversed(self.layers._modules.values())).bias is None:
            return None
        return FUSED_OUTPUTS.get((type(self.output_activation), cost.fused))

    def _fused_op(self, activation: Activation) -> ops.Op | None:
        """The fused op (`linear+sigmoid` ...) for layers followed by `activation`, when this
        MLP fuses and the activation is one of the built-in ones that can be fused."""
        return FUSED_LAYERS.get(type(activation)) if self.fuse else None

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
