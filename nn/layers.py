"""Layers: `Linear`, the activations, and `MLP`, the multilayer perceptron built from them."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

import autograd_mini as ag
from autograd_mini import Tensor
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
            z = x @ self.weight
        except ag.ShapeError as exc:
            raise self.explain(exc, x) from None
        return z if self.bias is None else z + self.bias

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
# Activations: modules around the registry of autograd_mini.activations (the op, and its f
# and f′ on numpy arrays for the closed-form backprop)
# ----------------------------------------------------------------------------------------


class Activation(Module):
    """An elementwise activation layer a = f(z): `Activation("tanh")`, or one of the named
    classes (`Sigmoid()`). `f` and `derivative` act on numpy arrays (the closed form)."""

    kind: str = "identity"

    def __init__(self, kind: str | None = None) -> None:
        super().__init__()
        if kind is not None:
            if kind not in ag.ACTIVATIONS:
                raise ValueError(
                    f"unknown activation {kind!r}; choose one of {sorted(ACTIVATIONS)}."
                )
            object.__setattr__(self, "kind", kind)

    @property
    def name(self) -> str:
        return self.kind

    def forward(self, z: TensorLike) -> Tensor:
        """a = f(z): records the op (`z.sigmoid()`)."""
        z = z if isinstance(z, Tensor) else Tensor(z)
        return z if self.kind == "identity" else getattr(z, self.kind)()

    def f(self, z: np.ndarray) -> np.ndarray:
        return ag.ACTIVATIONS[self.kind].f(z)

    def derivative(self, z: np.ndarray) -> np.ndarray:
        return ag.ACTIVATIONS[self.kind].derivative(z)

    def describe(self) -> str:
        named = type(self) is not Activation
        return f"{type(self).__name__}()" if named else f"Activation({self.kind!r})"


class Sigmoid(Activation):
    """σ(z) = 1/(1 + e^(−z)); σ′(z) = σ(z)(1 − σ(z))."""

    kind = "sigmoid"


class Tanh(Activation):
    """tanh(z); tanh′(z) = 1 − tanh²(z)."""

    kind = "tanh"


class ReLU(Activation):
    """max(z, 0); derivative 1 for z > 0, else 0."""

    kind = "relu"


class GELU(Activation):
    """z Φ(z), Φ the standard normal's CDF (torch's nn.GELU); approximate="tanh" for the
    tanh form. Its derivative is Φ(z) + z φ(z)."""

    kind = "gelu"

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        ag.gelu(0.0, approximate=approximate)  # checks it
        object.__setattr__(self, "approximate", approximate)

    def forward(self, z: TensorLike) -> Tensor:
        return ag.gelu(z, approximate=self.approximate)

    def f(self, z: np.ndarray) -> np.ndarray:
        return ag.OPS["gelu"].value(z, approximate=self.approximate)

    def derivative(self, z: np.ndarray) -> np.ndarray:
        """f′(z) on a numpy array: the op's VJP from da = 1, in this layer's form."""
        op = ag.OPS["gelu"]
        _, saved = op.forward(z, approximate=self.approximate)
        return op.vjps[0](0, np.ones_like(z, dtype=np.result_type(z, 1.0)), *saved)

    def describe(self) -> str:
        return "GELU()" if self.approximate == "none" else f"GELU(approximate={self.approximate!r})"


class SiLU(Activation):
    """z σ(z) (swish, torch's nn.SiLU); its derivative is σ(z)(1 + z(1 − σ(z)))."""

    kind = "silu"


class Identity(Activation):
    """a = z (no activation: the layer's output stays raw scores, e.g. logits)."""

    kind = "identity"


class Softmax(Module):
    """softmax along `dim` (the last axis by default; torch's `nn.Softmax(dim=1)` is the
    same for a batch of rows). Not elementwise: for training with cross-entropy, keep the
    logits (no output activation) and use `ag.cross_entropy`, which fuses the two."""

    name = "softmax"

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"Softmax: dim must be an axis (an int), got {dim!r}.")
        self.dim = int(dim)

    def forward(self, z: TensorLike) -> Tensor:
        return ag.as_tensor(z).softmax(axis=self.dim)

    def describe(self) -> str:
        return "Softmax()" if self.dim == -1 else f"Softmax(dim={self.dim})"


NAMED: dict[str, type[Module]] = {
    cls.kind if cls is not Softmax else "softmax": cls
    for cls in (Sigmoid, Tanh, ReLU, GELU, SiLU, Identity, Softmax)
}
ACTIVATIONS: tuple[str, ...] = tuple(sorted({*ag.ACTIVATIONS, "softmax"}))
"""The names `make_activation` (and MLP's `activation=`) take."""


def make_activation(name: str | Module | None) -> Module:
    """An activation module from its name (each of `ACTIVATIONS`), None (identity), or a
    module."""
    if name is None:
        return Identity()
    if isinstance(name, (Activation, Softmax)):
        return name
    if isinstance(name, str) and name.lower() in ACTIVATIONS:
        key = name.lower()
        return NAMED[key]() if key in NAMED else Activation(key)
    raise ValueError(f"unknown activation {name!r}; choose one of {list(ACTIVATIONS)} or None.")


# ----------------------------------------------------------------------------------------
# Dropout
# ----------------------------------------------------------------------------------------


class Dropout(Module):
    """Inverted dropout (torch's nn.Dropout): in training mode each element is zeroed with
    probability p and the others are scaled by 1/(1 − p); after `model.eval()` it is the
    identity. Its masks come from its own numpy Generator, made from `seed` (a seed or a
    Generator; None: seeded by the operating system), never from numpy's global state. It
    records the op `dropout`, whose gradient is `dx = dz * mask / (1 − p)`.
    """

    def __init__(self, p: float = 0.5, seed: Seed = None) -> None:
        super().__init__()
        ag.dropout(0.0, p, training=False)  # checks p
        object.__setattr__(self, "p", float(p))
        object.__setattr__(self, "rng", np.random.default_rng(seed))

    def forward(self, x: TensorLike) -> Tensor:
        return ag.dropout(x, self.p, training=self.training, rng=self.rng)

    @property
    def _draws(self) -> bool:
        return self.training and self.p > 0

    def describe(self) -> str:
        return f"Dropout(p={self.p})"


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
    ) -> None:
        super().__init__()
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
        *hidden, last = self.layers
        for layer in hidden:  # the activations record in the MLP's box, after their layer's
            x = self.activation.forward(layer(x))
        return self.output_activation.forward(last(x))

    def config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this architecture (JSON-ready)."""
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
        hidden, output = self.activation, self.output_activation
        if output.describe() == hidden.describe():  # (the same, or one of the same kind)
            return f"MLP({shape}, {hidden.name})"
        shown = output.name if output.name != hidden.name else output.describe()
        return f"MLP({shape}, {hidden.name}, output {shown})"
